"""What the bureau's HTML pages share (the web map ``/map/`` and the plan dashboard ``/dashboard/``): Django's session
login, a bureau role to see them, and the name of the area in their titles (the PNG map's too)."""

from django.contrib.auth.mixins import LoginRequiredMixin, UserPassesTestMixin

from geo.codes import full_code
from geo.models import AdminDivision


def area_name(jurisdiction: str) -> str:
    """The name of the division a jurisdiction (a code prefix) stands for, for titles; "全部辖区" for none."""
    if not jurisdiction:
        return "全部辖区"
    name = AdminDivision.objects.filter(code=full_code(jurisdiction)).values_list("name", flat=True).first()
    return name or jurisdiction


class BureauPageMixin(LoginRequiredMixin, UserPassesTestMixin):
    """Anonymous visitors are sent to the login page; logged-in accounts without a bureau role get 403."""

    raise_exception = False

    def test_func(self):
        user = self.request.user
        return user.is_superuser or user.is_bureau

    def handle_no_permission(self):
        # Logged in without a bureau role: a plain 403 rather than a login loop.
        self.raise_exception = self.request.user.is_authenticated
        return super().handle_no_permission()
