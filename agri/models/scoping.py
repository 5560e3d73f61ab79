"""Row-level scoping: which rows an account may see. Every API queryset goes through ``visible_to``."""

from django.db import models

from geo.codes import full_code

# role -> (attribute of the linked person on User, QuerySet method that scopes to that person)
_ROLE_SCOPES = {
    "expert": ("expert", "for_expert"),
    "worker": ("extension_worker", "for_worker"),
    "commissioner": ("tech_commissioner", "for_commissioner"),
}


class ScopedQuerySet(models.QuerySet):
    # The 12-digit division code that bureau jurisdictions are matched against.
    scope_field = "village__code"

    def visible_to(self, user):
        """Rows the user may see. Bureau roles and superusers: their jurisdiction; others: their own slice."""
        if not user or not user.is_authenticated:
            return self.none()
        if user.is_superuser or user.is_bureau:
            return self.within_jurisdiction(user.jurisdiction)
        if user.role == "station_manager":
            return self.for_station_manager(user)
        attr, method = _ROLE_SCOPES.get(user.role, (None, None))
        person = user.linked(attr) if attr else None
        if person is None:
            return self.none()
        return getattr(self, method)(person)

    def within_jurisdiction(self, jurisdiction: str):
        if not jurisdiction:
            return self
        return self.filter(**{f"{self.scope_field}__prefix": jurisdiction})

    # Default for each role: nothing. Each model's QuerySet opens what that role needs.
    def for_expert(self, expert):
        return self.none()

    def for_worker(self, worker):
        return self.none()

    def for_commissioner(self, commissioner):
        return self.none()

    def for_station_manager(self, user):
        return self.none()


class CountyScopedQuerySet(ScopedQuerySet):
    """For county-wide people (experts, commissioners): a township account sees its county's people."""

    scope_field = "county__code"

    def within_jurisdiction(self, jurisdiction: str):
        if not jurisdiction:
            return self
        if len(jurisdiction) <= 6:
            return self.filter(county__code__prefix=jurisdiction)
        return self.filter(county_id=full_code(jurisdiction[:6]))
