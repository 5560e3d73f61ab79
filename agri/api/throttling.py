from rest_framework.permissions import SAFE_METHODS
from rest_framework.settings import api_settings
from rest_framework.throttling import UserRateThrottle


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
