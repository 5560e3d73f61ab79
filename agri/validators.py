"""Validators for Chinese identifiers."""

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"


def validate_id_number(value: str) -> None:
    """Resident identity card number (GB 11643-1999): 17 digits and an ISO 7064 MOD 11-2 check character."""
    if not value:
        return
    if len(value) != 18 or not value[:17].isdigit():
        raise ValidationError(
            _("An ID number has 18 characters: 17 digits and a check digit."), code="invalid_id_number"
        )
    expected = _CHECK[sum(int(d) * w for d, w in zip(value[:17], _WEIGHTS, strict=True)) % 11]
    if value[17].upper() != expected:
        raise ValidationError(_("The ID number's check digit is wrong."), code="invalid_id_number")


def with_check_digit(first17: str) -> str:
    """Complete 17 digits with their GB 11643 check character (used by the demo data and tests)."""
    return first17 + _CHECK[sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True)) % 11]


def mask(value: str, head: int = 3, tail: int = 4) -> str:
    """Mask personal numbers for display: 13812341234 -> 138****1234."""
    if not value:
        return value
    if len(value) <= head + tail:
        return "*" * len(value)
    return value[:head] + "*" * (len(value) - head - tail) + value[-tail:]
