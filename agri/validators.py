"""Validators for Chinese identifiers, and for text a person typed (no control characters)."""

import re

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


# C0 controls, DEL and C1 controls: invisible, and refused by XML 1.0 (so by xlsx and KML) or by PostgreSQL (NUL).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# Free text keeps its tab and line breaks.
_CONTROL_IN_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def validate_single_line(value: str) -> None:
    """Names, codes and other one-line values: no control character at all (not even a tab or a line break)."""
    if value and _CONTROL.search(value):
        raise ValidationError(
            _("Control characters (such as line breaks or tabs) are not allowed here."), code="control_character"
        )


def validate_text(value: str) -> None:
    """Free text (notes, addresses): tabs and line breaks are fine, other control characters are not."""
    if value and _CONTROL_IN_TEXT.search(value):
        raise ValidationError(
            _("Control characters other than tab and line break are not allowed."), code="control_character"
        )


def printable(value):
    """``value`` with what an xlsx cell cannot hold (control characters but tab and line breaks) removed, for rows
    stored before names refused them; anything that is not a string is returned as it is."""
    return _CONTROL_IN_TEXT.sub("", value) if isinstance(value, str) else value
