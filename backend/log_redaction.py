"""Log formatting that masks personal numbers (PIPL).

No code logs request bodies or personal data on purpose (tests/security checks that with canary values). This is
the second line: a database error or a third-party library may still quote a value, e.g. PostgreSQL's
``Key (phone)=(13812345678) already exists``. Mainland mobile numbers and resident ID numbers are masked in the
formatted line, tracebacks included. The log record itself is left as it is.
"""

import logging
import re

from agri.validators import mask

# 11-digit mainland mobile numbers, and 18-character resident ID numbers (17 digits and a check character),
# standing alone: not part of a longer number, a UUID or a division code.
PERSONAL_NUMBER = re.compile(r"(?<![0-9A-Za-z])(?:1[3-9]\d{9}|\d{17}[\dXx])(?![0-9A-Za-z])")


def redact(text: str) -> str:
    return PERSONAL_NUMBER.sub(lambda m: mask(m.group()), text)


class RedactingFormatter(logging.Formatter):
    def format(self, record):
        return redact(super().format(record))
