from django.utils.translation import gettext_lazy as _
from rest_framework.permissions import SAFE_METHODS, BasePermission

from agri.models import Role

ADMIN = (Role.BUREAU_ADMIN,)
ANY_ROLE = tuple(Role.values)
# The roles whose accounts record visits (and their photos).
ACTOR_ROLES = (Role.EXPERT, Role.WORKER, Role.COMMISSIONER)


class RolePermission(BasePermission):
    """Any authenticated account may read (its querysets are scoped); writes need a role the view allows.

    Views declare ``write_roles``: a dict from action name (``create``, ``update``, ...) or ``"*"``
    to the roles allowed. Absent means read-only for everyone but superusers.
    """

    def has_permission(self, request, view):
        user = request.user
        if not user or not user.is_authenticated:
            return False
        if request.method in SAFE_METHODS:
            return True
        if user.is_superuser:
            return True
        roles = getattr(view, "write_roles", {})
        action = getattr(view, "action", None)
        if action == "partial_update":
            action = "update"
        allowed = roles.get(action, roles.get("*", ()))
        return user.role in allowed


class IsBureauStaff(BasePermission):
    """Bureau admins, bureau viewers and superusers."""

    message = _("Bulk exports are for bureau staff.")

    def has_permission(self, request, view):
        user = request.user
        return bool(user and user.is_authenticated and (user.is_superuser or user.is_bureau))


class SharedReferenceWrites(BasePermission):
    """Writes to what every county shares (industries) need an installation-wide account
    (``User.owns_shared_reference``)."""

    message = _(
        "Industries are shared by every county of this installation: only an installation-wide admin may change them."
    )

    def has_permission(self, request, view):
        return request.method in SAFE_METHODS or request.user.owns_shared_reference


class OwnDivisionWrites(BasePermission):
    """A division belongs to the narrowest jurisdiction that contains it: its ancestors, which an account reads, are
    written only by an account whose jurisdiction contains them."""

    message = _("This division belongs to a wider jurisdiction than yours: only its owner may change it.")

    def has_object_permission(self, request, view, obj):
        user = request.user
        return request.method in SAFE_METHODS or user.is_superuser or obj.code.startswith(user.jurisdiction)
