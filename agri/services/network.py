"""Writes that do more than save one row."""

from django.db import transaction
from django.utils.translation import gettext as _

from agri.models import DemonstrationBase, FieldSchool


@transaction.atomic
def base_create(*, serializer) -> DemonstrationBase:
    """Create a demonstration base together with its one farmers' field school (农民田间学校)."""
    base = serializer.save()
    FieldSchool.objects.create(base=base, name=_("%(base)s farmers' field school") % {"base": base.name})
    return base


def same_as_stored(instance, validated_data: dict) -> bool:
    """Whether a replayed create carries the same data as the stored record (many-to-many compared as sets)."""
    for name, value in validated_data.items():
        if name == "id":
            continue
        field = instance._meta.get_field(name)
        if field.many_to_many:
            if {obj.pk for obj in value} != set(getattr(instance, name).values_list("pk", flat=True)):
                return False
        elif getattr(instance, field.attname if field.is_relation else name) != (
            value.pk if field.is_relation and value is not None else value
        ):
            return False
    return True
