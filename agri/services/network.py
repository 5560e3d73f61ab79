"""Writes that do more than save one row."""

from django.db import transaction
from django.utils.translation import gettext as _

from agri.models import DemonstrationBase, FieldSchool
from agri.services.records import record_create


@transaction.atomic
def base_create(*, data: dict) -> DemonstrationBase:
    """Create a demonstration base from validated data together with its one farmers' field school (农民田间学校)."""
    base = record_create(model=DemonstrationBase, data=data)
    FieldSchool.objects.create(base=base, name=field_school_name(base.name))
    return base


def field_school_name(base_name: str) -> str:
    """The school's name from its base's: "<base> farmers' field school" in the active language. A base name
    may fill its whole column, and the school's column is no wider: the base's part is shortened (ending in "…")
    so that the name always fits."""
    limit = FieldSchool._meta.get_field("name").max_length
    name = _("%(base)s farmers' field school") % {"base": base_name}
    if len(name) <= limit:
        return name
    room = limit - (len(name) - len(base_name)) - 1  # what the base's part may take, with its ellipsis
    return _("%(base)s farmers' field school") % {"base": base_name[: max(room, 0)] + "…"}
