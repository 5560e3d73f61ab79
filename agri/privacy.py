"""Personal data (PIPL): who sees farmers', households' and staff phone and ID numbers unmasked.

The one rule, applied by the API's serializers, by every export and by the Django admin: bureau admins (and
superusers) and the account the record belongs to (the worker who owns a household and its farmers, a person their
own record) see them; everyone else sees ``138****1234``.
"""

from agri.models import Farmer, ModelHousehold, Role
from agri.validators import mask

MASKED_FIELDS = ("phone", "id_number")


def can_see_personal_data(user, owner_user_id) -> bool:
    """Bureau admins and the worker who owns the record see phone and ID numbers; everyone else sees them masked."""
    if user is None or not user.is_authenticated:
        return False
    return (
        user.is_superuser or user.role == Role.BUREAU_ADMIN or (owner_user_id is not None and owner_user_id == user.pk)
    )


def personal_data_owner(record) -> int | None:
    """The account a record's personal data belongs to: the worker who owns a household (and its farmers), or the
    person's own account (experts, workers, commissioners)."""
    if isinstance(record, Farmer):
        record = record.household
    if isinstance(record, ModelHousehold):
        return record.worker.user_id
    return getattr(record, "user_id", None)


def reads_masked(user, record) -> bool:
    """Whether ``user`` reads ``record``'s personal numbers (and those of a household's farmers) masked."""
    return not can_see_personal_data(user, personal_data_owner(record))


def mask_personal(data: dict, user, owner_user_id, fields=MASKED_FIELDS) -> dict:
    """``data`` with its personal fields masked unless ``user`` may see them (changed in place, and returned)."""
    if not can_see_personal_data(user, owner_user_id):
        for name in fields:
            if data.get(name):
                data[name] = masked_value(data[name])
    return data


def masked_value(value: str) -> str:
    """A personal number as those who may not see it read it: ``138****1234``."""
    return mask(value)
