"""Personal data (PIPL): who sees farmers', households' and staff phone and ID numbers unmasked.

The one rule, applied by the API's serializers and by every export: bureau admins (and superusers) and the
account the record belongs to (the worker who owns a household and its farmers, a person their own record) see
them; everyone else sees ``138****1234``.
"""

from agri.models import Role
from agri.validators import mask

MASKED_FIELDS = ("phone", "id_number")


def can_see_personal_data(user, owner_user_id) -> bool:
    """Bureau admins and the worker who owns the record see phone and ID numbers; everyone else sees them masked."""
    if user is None or not user.is_authenticated:
        return False
    return (
        user.is_superuser or user.role == Role.BUREAU_ADMIN or (owner_user_id is not None and owner_user_id == user.pk)
    )


def mask_personal(data: dict, user, owner_user_id, fields=MASKED_FIELDS) -> dict:
    """``data`` with its personal fields masked unless ``user`` may see them (changed in place, and returned)."""
    if not can_see_personal_data(user, owner_user_id):
        for name in fields:
            if data.get(name):
                data[name] = mask(data[name])
    return data
