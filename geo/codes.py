"""China's 12-digit statistical division codes (统计用区划代码).

A code is province 2 + city 2 + county 2 + township 3 + village 3 digits. A division of a
given level has zeros after its own part, so its *prefix* (the significant digits) is what
jurisdictions and rollups match on: Yunyang County 500235000000 has the prefix 500235.
"""

import re

from django.db import models
from django.utils.translation import gettext_lazy as _

CODE_RE = re.compile(r"[0-9]{12}", re.ASCII)


class Level(models.TextChoices):
    PROVINCE = "province", _("province")
    CITY = "city", _("city")
    COUNTY = "county", _("county")
    TOWNSHIP = "township", _("township")
    VILLAGE = "village", _("village")


PREFIX_LENGTH = {
    Level.PROVINCE: 2,
    Level.CITY: 4,
    Level.COUNTY: 6,
    Level.TOWNSHIP: 9,
    Level.VILLAGE: 12,
}
PARENT_LEVEL = {
    Level.CITY: Level.PROVINCE,
    Level.COUNTY: Level.CITY,
    Level.TOWNSHIP: Level.COUNTY,
    Level.VILLAGE: Level.TOWNSHIP,
}
# A jurisdiction is a prefix of one of these lengths; "" means everywhere.
JURISDICTION_LENGTHS = (0, 2, 4, 6, 9, 12)


def full_code(code: str) -> str:
    """Pad a 2/4/6/9-digit code with zeros to the 12-digit form (500235 -> 500235000000)."""
    return code.ljust(12, "0")


def prefix(code: str, level: str) -> str:
    """The significant digits of a 12-digit code at its level."""
    return code[: PREFIX_LENGTH[level]]


def code_errors(code: str, level: str, parent_code: str | None, parent_level: str | None) -> list[str]:
    """Return the problems with a division code as translated messages (empty when valid)."""
    errors = []
    if not CODE_RE.fullmatch(code or ""):
        return [_("A division code has exactly 12 digits.")]
    if level in PREFIX_LENGTH and set(code[PREFIX_LENGTH[level] :]) - {"0"}:
        errors.append(
            _("A %(level)s code ends in zeros after its first %(n)d digits.")
            % {"level": Level(level).label, "n": PREFIX_LENGTH[level]}
        )
    if parent_code is not None and parent_level is not None:
        if PARENT_LEVEL.get(level) and parent_level != PARENT_LEVEL[level]:
            errors.append(
                _("The parent of a %(level)s must be a %(parent)s.")
                % {"level": Level(level).label, "parent": Level(PARENT_LEVEL[level]).label}
            )
        elif not code.startswith(prefix(parent_code, parent_level)):
            errors.append(
                _("The code must start with its parent's prefix %(prefix)s.")
                % {"prefix": prefix(parent_code, parent_level)}
            )
    return errors


def is_jurisdiction(value: str) -> bool:
    return value == "" or (re.fullmatch(r"[0-9]+", value, re.ASCII) is not None and len(value) in JURISDICTION_LENGTHS)


def significant_prefix(code: str) -> str:
    """The shortest level prefix that a code carries: 500235000000 -> 500235, 500235101 -> 500235101."""
    if len(code) != 12:
        return code
    for length in (2, 4, 6, 9):
        if set(code[length:]) <= {"0"}:
            return code[:length]
    return code
