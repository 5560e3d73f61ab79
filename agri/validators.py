"""Validators for Chinese identifiers, and for text a person typed (no control characters)."""

import re

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
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
# Regex validators, so that the OpenAPI schema states them as patterns ("+": an empty value, where a field allows
# one, is never validated; the schema's alternative for it is "maxLength: 0"). One-line values: none at all.
validate_single_line = RegexValidator(
    r"\A[^\x00-\x1f\x7f-\x9f]+\Z",
    _("Control characters (such as line breaks or tabs) are not allowed here."),
    code="control_character",
)
# Free text keeps its tab and line breaks.
validate_text = RegexValidator(
    r"\A[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]+\Z",
    _("Control characters other than tab and line break are not allowed."),
    code="control_character",
)
_CONTROL_IN_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def printable(value):
    """``value`` with what an xlsx cell cannot hold (control characters but tab and line breaks) removed, for rows
    stored before names refused them; anything that is not a string is returned as it is."""
    return _CONTROL_IN_TEXT.sub("", value) if isinstance(value, str) else value
