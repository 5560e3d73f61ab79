"""``field__prefix=p``: the value starts with ``p``, in the form each database's indexes serve.

Jurisdictions and division filters are code prefixes (``500235`` a county, ``500235101`` a township). Django's
``startswith`` is a ``LIKE 'p%'``, which:

- PostgreSQL serves from a B-tree with a pattern operator class (``varchar_pattern_ops``: the visit and rollup
  scope indexes, the ``_like`` twin Django adds to an indexed varchar), so there this lookup is the same ``LIKE``;
- SQLite serves from no index at all (its ``LIKE`` is case-insensitive, its indexes are not), so a jurisdiction's
  visit list or coverage scanned the whole table. There this lookup is the range ``p <= value < p'``, where ``p'``
  is ``p`` with its last character incremented (``500235`` -> ``500236``, ``5009`` -> ``500:``): exactly the
  strings that start with ``p`` under a byte-wise order, which SQLite's default collation is, and which any
  B-tree on the column serves.

For the digit strings that codes are, both forms select the same rows (the range is case-sensitive where SQLite's
``LIKE`` is not: codes have no letters). An empty prefix matches every non-NULL value, as ``startswith`` does.
"""

import sys

from django.db.models import CharField, Lookup


def prefix_end(prefix: str) -> str | None:
    """The least string greater than every string starting with ``prefix`` (None if there is none)."""
    for cut in range(len(prefix) - 1, -1, -1):
        last = ord(prefix[cut])
        if last < sys.maxunicode:
            return prefix[:cut] + chr(last + 1)
    return None


@CharField.register_lookup
class Prefix(Lookup):
    lookup_name = "prefix"

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        prefix = str(self.rhs)
        end = prefix_end(prefix)
        if not prefix:
            return f"{lhs} IS NOT NULL", list(lhs_params)
        if end is None:
            return f"{lhs} >= %s", [*lhs_params, prefix]
        return f"({lhs} >= %s AND {lhs} < %s)", [*lhs_params, prefix, *lhs_params, end]

    def as_postgresql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        pattern = connection.ops.prep_for_like_query(str(self.rhs)) + "%"
        return f"{lhs} LIKE %s", [*lhs_params, pattern]
