"""Account writes: password changes and audited disclosures of personal data."""

from django.contrib.auth.password_validation import validate_password
from django.db import transaction

from agri.models import DeviceToken, Farmer, PersonalDataAccess, User

REVEALED_FIELDS = ("phone", "id_number")


@transaction.atomic
def user_password_change(*, user: User, new_password: str, keep_token_digest: str | None = None) -> User:
    """Set a new password (checked by AUTH_PASSWORD_VALIDATORS, raising Django's ValidationError) and revoke every
    device token of the account except ``keep_token_digest``, the one the change was made with."""
    validate_password(new_password, user)
    user.set_password(new_password)
    user.save(update_fields=["password"])
    DeviceToken.objects.filter(user=user).exclude(digest=keep_token_digest).delete()
    return user


def farmer_personal_data_reveal(*, user: User, farmer: Farmer, reason: str = "") -> PersonalDataAccess:
    """Record that ``user`` is shown ``farmer``'s phone and ID number unmasked. Call it before showing them."""
    return PersonalDataAccess.objects.create(user=user, farmer=farmer, fields=list(REVEALED_FIELDS), reason=reason)
