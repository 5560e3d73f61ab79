"""Account writes: device tokens (issued, retired), password changes and audited disclosures of personal data."""

from contextvars import ContextVar
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from agri import errors
from agri.models import DeviceToken, Farmer, PersonalDataAccess, RetiredToken, TokenEnd, User

REVEALED_FIELDS = ("phone", "id_number")


# The one token a password change made through the API keeps: the one it was made with.
_kept_token_digest: ContextVar[str | None] = ContextVar("kept_token_digest", default=None)


@transaction.atomic
def user_password_change(*, user: User, new_password: str, keep_token_digest: str | None = None) -> User:
    """Set a new password (checked by AUTH_PASSWORD_VALIDATORS, raising Django's ValidationError) and revoke every
    device token of the account except ``keep_token_digest``, the one the change was made with."""
    validate_password(new_password, user)
    user.set_password(new_password)
    kept = _kept_token_digest.set(keep_token_digest)
    try:
        user.save(update_fields=["password"])  # device_tokens_retire_on_password_change revokes
    finally:
        _kept_token_digest.reset(kept)
    return user


def device_tokens_retire_on_password_change(
    sender, instance: User, created=False, raw=False, update_fields=None, using=None, **kwargs
) -> None:
    """``post_save`` receiver for ``User``: a save that stores another password revokes every device token of the
    account (``password_change``), whatever the path: the API, the admin's password form, ``set_password`` in the
    shell, ``changepassword``, a password reset. Only the API's own change keeps the token it was made with.
    ``QuerySet.update(password=...)`` and raw SQL bypass it."""
    if created or raw or (update_fields is not None and "password" not in update_fields):
        return
    if not instance.password_changes_on_save():
        return
    tokens = DeviceToken.objects.using(using).filter(user=instance)
    keep = _kept_token_digest.get()
    if keep is not None:
        tokens = tokens.exclude(digest=keep)
    device_tokens_retire(tokens=tokens, reason=TokenEnd.PASSWORD_CHANGE)


def retired_token_retention() -> timedelta:
    """How long a retired token is remembered: the token lifetime (``REST_KNOX["TOKEN_TTL"]``). A token left unused
    expires within that time, so after it a retired token would have expired anyway."""
    return getattr(settings, "REST_KNOX", {}).get("TOKEN_TTL") or timedelta(days=30)


def device_tokens_retire(*, tokens: QuerySet[DeviceToken], reason: str) -> int:
    """Delete ``tokens``, remembering each one's digest, user, device and ``reason`` (a ``TokenEnd``) in
    ``RetiredToken``, so that a phone sending one later is told it expired or was revoked. Records older than
    ``retired_token_retention()`` are pruned on the way. Returns how many tokens were retired; with none, this is
    one query."""
    rows = list(tokens.values_list("digest", "user_id", "device"))
    if not rows:
        return 0
    now = timezone.now()
    db = tokens.db
    with transaction.atomic(using=db):
        RetiredToken.objects.using(db).bulk_create(
            [
                RetiredToken(digest=digest, user_id=user_id, device=device, reason=reason, retired_at=now)
                for digest, user_id, device in rows
            ],
            ignore_conflicts=True,  # two requests retiring the same token at once
        )
        DeviceToken.objects.using(db).filter(digest__in=[digest for digest, _user, _device in rows]).delete()
        RetiredToken.objects.using(db).filter(retired_at__lt=now - retired_token_retention()).delete()
    return len(rows)


@transaction.atomic
def device_token_issue(*, user: User, device: str, ttl: timedelta | None, limit: int | None) -> tuple[DeviceToken, str]:
    """A new token for ``user``'s ``device``: returns the stored token and the token itself (shown once).

    - A login with a device name the account already has a token for replaces that token (retired as
      ``replaced``): one token per named device. An empty name never replaces anything.
    - The account's expired tokens are retired (as ``expired``) first: they hold no slot.
    - Past ``limit`` live tokens, nothing is revoked: ``TokenLimitReached`` names the limit and the oldest device.

    Logins of one account are serialised on its row, so two at once cannot both take the last slot.
    """
    list(User.objects.select_for_update().filter(pk=user.pk).values_list("pk", flat=True))
    mine = DeviceToken.objects.filter(user=user)
    device_tokens_retire(tokens=mine.filter(expiry__lt=timezone.now()), reason=TokenEnd.EXPIRED)
    if device:
        device_tokens_retire(tokens=mine.filter(device=device), reason=TokenEnd.REPLACED)
    if limit:
        live = list(mine.order_by("created", "token_key").values_list("token_key", "device", "created")[:limit])
        if len(live) >= limit:
            token_key, oldest_device, created = live[0]
            raise errors.TokenLimitReached(
                limit=limit, oldest_token_key=token_key, oldest_device=oldest_device, oldest_created=created
            )
    return DeviceToken.objects.create(user=user, expiry=ttl, device=device)


def farmer_personal_data_reveal(*, user: User, farmer: Farmer, reason: str = "") -> PersonalDataAccess:
    """Record that ``user`` is shown ``farmer``'s phone and ID number unmasked. Call it before showing them."""
    return PersonalDataAccess.objects.create(user=user, farmer=farmer, fields=list(REVEALED_FIELDS), reason=reason)
