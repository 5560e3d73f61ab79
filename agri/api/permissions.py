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
