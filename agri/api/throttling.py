from rest_framework.permissions import SAFE_METHODS
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle, UserRateThrottle

from agri.lockout import COUNTED_ATTR, login_attempt_throttle


class WriteRateThrottle(UserRateThrottle):
    """Unsafe methods, counted per account (anonymous callers per IP): phones behind one NAT never share a budget.
    Reads are not throttled here."""

    scope = "write"

    def allow_request(self, request, view):
        if request.method in SAFE_METHODS:
            return True
        return super().allow_request(request, view)

    def get_rate(self):
        # DRF binds THROTTLE_RATES when the module is imported; read the settings now, so that they can change.
        return api_settings.DEFAULT_THROTTLE_RATES[self.scope]


class LoginRateThrottle(BaseThrottle):
    """The ``login`` rate per client IP, counted by ``agri.lockout`` in the counter that every other login path
    (the admin, ``/accounts/login/``, the browsable API) counts in too: one budget per IP for all of them."""

    def allow_request(self, request, view):
        if request.method != "POST":
            return True
        setattr(request, COUNTED_ATTR, True)  # LockoutModelBackend does not count this attempt a second time
        self._wait = login_attempt_throttle(request)
        return not self._wait

    def wait(self):
        return self._wait
