"""Token authentication in one query per request (:class:`TokenAuthentication`), and 401s that say why."""

import binascii
from datetime import timedelta
from hmac import compare_digest

from django.utils import timezone
from django.utils.translation import gettext_lazy
from knox import auth as knox_auth
from knox.crypto import hash_token
from knox.models import get_token_model
from knox.settings import CONSTANTS, knox_settings
from rest_framework import exceptions
from rest_framework.authentication import get_authorization_header

from agri.models import RetiredToken, TokenEnd
from agri.services import device_tokens_retire

# The user's reverse one-to-ones to the person who records visits (see User.linked and visit_actor).
LINKED_PEOPLE = ("expert", "extension_worker", "tech_commissioner")


# The 401s of a refused token (here, not in exceptions.py: DRF imports the authentication classes early, before
# rest_framework.views, which exceptions.py needs).
class TokenExpired(exceptions.AuthenticationFailed):
    """401: the token existed, and expired unused (``TOKEN_TTL_DAYS``)."""

    default_detail = gettext_lazy("This device's token has expired. Log in again.")
    default_code = "token_expired"


class TokenRevoked(exceptions.AuthenticationFailed):
    """401: the token was revoked: logged out, removed from the device list, every device logged out, the password
    changed, replaced by a newer login with the same device name, or the server restored from a backup."""

    default_detail = gettext_lazy(
        "This device's token was revoked: it was logged out (here or from another device), replaced by a newer "
        "login with the same device name, the password was changed, or the server was restored from a backup. "
        "Log in again."
    )
    default_code = "token_revoked"


class TokenInvalid(exceptions.AuthenticationFailed):
    """401: a malformed ``Authorization: Token`` header, or a token this server does not know (or no longer
    remembers)."""

    default_detail = gettext_lazy("Invalid token. Log in again.")
    default_code = "token_invalid"


class TokenAuthentication(knox_auth.TokenAuthentication):
    """knox's token authentication, in one query for a valid token instead of two or more, and with a refusal a
    phone can act on.

    - The token is read with its user and the user's linked person (expert, extension worker or tech
      commissioner): row scoping and ``visit_actor`` then need no query of their own.
    - knox deletes the user's other expired tokens on every request, which is one more query each time. Here that
      clean-up runs when the token's expiry is renewed, at most once per ``MIN_REFRESH_INTERVAL`` (60 s) of use,
      and on every request when tokens are not renewed. An expired token is refused: its own expiry is checked on
      every request.
    - Tokens are deleted through ``device_tokens_retire``, which remembers their digests for a while
      (``RetiredToken``). A refused token is then answered 401 ``token_expired`` (it expired: its row, or its
      record), ``token_revoked`` (logged out, deleted from the device list, every device logged out, password
      changed, replaced by a login with the same device name) or ``token_invalid`` (malformed, or not known).
      Only a refusal costs the extra query; ``WWW-Authenticate`` is DRF's, as before.
    """

    def authenticate(self, request):
        auth = get_authorization_header(request).split()
        if not auth or auth[0].lower() != self.authenticate_header(request).encode().lower():
            return None  # no token, or a header for another scheme
        if len(auth) != 2:  # "Token" alone, or a token with spaces
            raise TokenInvalid()
        return self.authenticate_credentials(auth[1])

    def authenticate_credentials(self, token: bytes):
        try:
            raw = token.decode("utf-8")
        except UnicodeDecodeError:
            raise TokenInvalid() from None
        candidates = (
            get_token_model()
            .objects.filter(token_key=raw[: CONSTANTS.TOKEN_KEY_LENGTH])
            .select_related("user", *(f"user__{name}" for name in LINKED_PEOPLE))
        )
        now = timezone.now()
        for auth_token in candidates:
            if auth_token.expiry is not None and auth_token.expiry < now:
                continue
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
        self.refuse(raw, candidates)

    def refuse(self, raw: str, candidates) -> None:
        """Raise the 401 that says why ``raw`` is refused. ``candidates`` is the evaluated read of its token key."""
        try:
            digest = hash_token(raw)
        except (TypeError, binascii.Error):
            raise TokenInvalid() from None
        for auth_token in candidates:  # already read: no query
            if compare_digest(digest, auth_token.digest):  # it was skipped above: it has expired
                self._cleanup_token(auth_token)  # retired, with the user's other expired tokens
                raise TokenExpired()
        reason = RetiredToken.objects.filter(digest=digest).values_list("reason", flat=True).first()
        if reason is None:
            raise TokenInvalid()
        raise TokenExpired() if reason == TokenEnd.EXPIRED else TokenRevoked()

    def renew_token(self, auth_token) -> None:
        """knox's renewal; when it writes the new expiry, the user's other expired tokens are retired too."""
        before = auth_token.expiry
        super().renew_token(auth_token)
        if auth_token.expiry - before > timedelta(seconds=knox_settings.MIN_REFRESH_INTERVAL):
            self._cleanup_token(auth_token)

    def _cleanup_token(self, auth_token) -> bool:
        """Retire the user's expired tokens (``auth_token`` too, if it has expired), remembering them as expired;
        whether ``auth_token`` was one of them. One query when none has expired."""
        now = timezone.now()
        expired = get_token_model().objects.filter(user_id=auth_token.user_id, expiry__lt=now)
        device_tokens_retire(tokens=expired, reason=TokenEnd.EXPIRED)
        return auth_token.expiry is not None and auth_token.expiry < now
