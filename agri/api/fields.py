from rest_framework import serializers

from geo.models import AdminDivision


class ScopedPrimaryKeyRelatedField(serializers.PrimaryKeyRelatedField):
    """A writable foreign key that only accepts rows the caller may see.

    An out-of-scope id gets the same "does not exist" error as a missing one, so nothing leaks.
    """

    def get_queryset(self):
        request = self.context.get("request")
        queryset = super().get_queryset().visible_to(request.user if request else None)
        if any(f.name == "deleted_at" for f in queryset.model._meta.concrete_fields):
            queryset = queryset.filter(deleted_at__isnull=True)  # no new links to a tombstone
        return queryset


class ScopedSlugRelatedField(serializers.SlugRelatedField):
    def get_queryset(self):
        request = self.context.get("request")
        return super().get_queryset().visible_to(request.user if request else None)


class DivisionCodeField(serializers.PrimaryKeyRelatedField):
    """A 12-digit division code of a given level, inside the caller's jurisdiction."""

    def __init__(self, level: str, **kwargs):
        self.level = level
        kwargs.setdefault("queryset", AdminDivision.objects.all())
        super().__init__(**kwargs)

    def get_queryset(self):
        request = self.context.get("request")
        jurisdiction = request.user.jurisdiction if request and request.user.is_authenticated else ""
        return AdminDivision.objects.filter(level=self.level).within(jurisdiction)

    def to_representation(self, value):
        return value.pk if hasattr(value, "pk") else value

    def use_pk_only_optimization(self):
        return True
