"""Writes that do more than save one row."""

from django.db import transaction
from django.utils.translation import gettext as _

from agri.models import DemonstrationBase, FieldSchool
from agri.services.records import record_create


@transaction.atomic
def base_create(*, data: dict) -> DemonstrationBase:
    """Create a demonstration base from validated data together with its one farmers' field school (农民田间学校)."""
    base = record_create(model=DemonstrationBase, data=data)
    FieldSchool.objects.create(base=base, name=_("%(base)s farmers' field school") % {"base": base.name})
    return base
