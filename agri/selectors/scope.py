"""Which rows an account may read, for any model: the API's ``visible_to`` scoping, extended to the rows that only
the admin shows (history, rollups, the change log, accounts and their tokens).

``visible_rows`` is what every admin page, every admin choice list and every writable relation of the API (the
browsable API's selects included) is filtered by. A model it does not know is shown to nobody.
"""

from django.contrib.auth.models import Group, Permission
from django.db.models import QuerySet

from agri.models import (
    Change,
    DeviceToken,
    DivisionMonth,
    HexMonth,
    Industry,
    Job,
    PersonalDataAccess,
    PhotoUpload,
    PresenceCount,
    PresenceMonth,
    RetiredToken,
    Role,
    User,
    Visit,
    VisitEvent,
    VisitRollup,
)
from agri.models.people import Farmer
from agri.selectors.coverage import NoCoverageSlice, code_range, coverage_slice
from agri.selectors.sync import audience

# Shared by every account: reference data, and the permission tables of the account forms.
REFERENCE_MODELS = (Industry, Group, Permission)
# The monthly coverage tables: rows per month, place (or cell) and scope, at several grains.
MONTHLY_MODELS = (DivisionMonth, HexMonth, PresenceMonth, PresenceCount)


def manages_accounts(user) -> bool:
    """Bureau admins (and superusers) manage the accounts of their jurisdiction."""
    return bool(user and user.is_authenticated and (user.is_superuser or user.role == Role.BUREAU_ADMIN))


def accounts_managed_by(user) -> QuerySet:
    """The accounts ``user`` manages: those whose jurisdiction lies inside its own (an account with no
    jurisdiction only for a manager with none), and superusers only for a superuser."""
    if not manages_accounts(user):
        return User.objects.none()
    accounts = User.objects.all()
    if user.jurisdiction:
        accounts = accounts.filter(jurisdiction__prefix=user.jurisdiction)
    return accounts if user.is_superuser else accounts.filter(is_superuser=False)


def visible_rows(queryset: QuerySet, user) -> QuerySet:
    """The rows of ``queryset`` that ``user`` may read (none for an anonymous user or a model without a rule)."""
    model = queryset.model
    if user is None or not user.is_authenticated:
        return queryset.none()
    if hasattr(queryset, "visible_to"):
        return queryset.visible_to(user)
    if model in REFERENCE_MODELS:
        return queryset
    if model is User:
        return queryset.filter(pk__in=accounts_managed_by(user).values("pk"))
    if model in (DeviceToken, RetiredToken):
        return queryset.filter(user__in=accounts_managed_by(user).values("pk"))
    if model is VisitEvent:
        return queryset.filter(visit__in=Visit.objects.visible_to(user).values("pk"))
    if model is PhotoUpload:  # as its photo will be: with its live visit
        return queryset.filter(visit__in=Visit.objects.visible_to(user).alive().values("pk"))
    if model is PersonalDataAccess:
        return queryset.filter(farmer__in=Farmer.objects.visible_to(user).values("pk"))
    if model is VisitRollup:
        try:
            return queryset.filter(coverage_slice(user).rollup)
        except NoCoverageSlice:
            return queryset.none()
    if model in MONTHLY_MODELS:  # bureau data (coverage reads them for bureau accounts only): the rows whose scope
        # lies in the jurisdiction, so a township's account sees neither its county's rows nor the province's
        if user.is_superuser or user.is_bureau:
            return queryset.filter(code_range("scope_code", user.jurisdiction))
        return queryset.none()
    if model is Change:
        return queryset.filter(audience(user))
    if model is Job:  # as the API shows them: one's own, every job for a superuser
        return queryset if user.is_superuser else queryset.filter(owner=user)
    return queryset.none()
