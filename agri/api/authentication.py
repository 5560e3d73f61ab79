"""Token authentication in one query per request (:class:`TokenAuthentication`)."""

import binascii
from datetime import timedelta
from hmac import compare_digest

from django.utils import timezone
from knox import auth as knox_auth
from knox.crypto import hash_token
from knox.models import get_token_model
from knox.settings import CONSTANTS, knox_settings

# The user's reverse one-to-ones to the person who records visits (see User.linked and visit_actor).
LINKED_PEOPLE = ("expert", "extension_worker", "tech_commissioner")


class TokenAuthentication(knox_auth.TokenAuthentication):
    """knox's token authentication, in one query for a valid token instead of two or more.

    - The token is read with its user and the user's linked person (expert, extension worker or tech
      commissioner): row scoping and ``visit_actor`` then need no query of their own.
    - knox deletes the user's other expired tokens on every request, which is one more query each time. Here that
      clean-up runs when the token's expiry is renewed, at most once per ``MIN_REFRESH_INTERVAL`` (60 s) of use,
      and on every request when tokens are not renewed. An expired token is refused as before: its own expiry is
      checked on every request.

    A token that does not match, or has expired, goes through knox's own code, which refuses it (and deletes
    and reports an expired one) exactly as knox does.
    """

    def authenticate_credentials(self, token: bytes):
        raw = token.decode("utf-8")
        candidates = (
            get_token_model()
            .objects.filter(token_key=raw[: CONSTANTS.TOKEN_KEY_LENGTH])
            .select_related("user", *(f"user__{name}" for name in LINKED_PEOPLE))
        )
        for auth_token in candidates:
            if auth_token.expiry is not None and auth_token.expiry < timezone.now():
                break
            try:
                digest = hash_token(raw)
            except (TypeError, binascii.Error):
                break
            if compare_digest(digest, auth_token.digest):
                if knox_settings.AUTO_REFRESH and auth_token.expiry:
                    self.renew_token(auth_token)
                else:
                    self._cleanup_token(auth_token)
                return self.validate_user(auth_token)
        return super().authenticate_credentials(token)

    def renew_token(self, auth_token) -> None:
        """knox's renewal; when it writes the new expiry, the user's other expired tokens are deleted too."""
        before = auth_token.expiry
        super().renew_token(auth_token)
        if auth_token.expiry - before > timedelta(seconds=knox_settings.MIN_REFRESH_INTERVAL):
            self._cleanup_token(auth_token)
