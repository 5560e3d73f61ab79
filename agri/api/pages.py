"""What the bureau's HTML pages share (the web map ``/map/`` and the plan dashboard ``/dashboard/``): Django's session
login and a bureau role to see them."""

from django.contrib.auth.mixins import LoginRequiredMixin, UserPassesTestMixin


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
