"""``field__prefix=p``: the value starts with ``p``, in the form each database's indexes serve.

Jurisdictions and division filters are code prefixes (``500235`` a county, ``500235101`` a township). Django's
``startswith`` is a ``LIKE 'p%'``, which:

- PostgreSQL serves from a B-tree with a pattern operator class (``varchar_pattern_ops``: the visit and rollup
  scope indexes, the ``_like`` twin Django adds to an indexed varchar), so there this lookup is the same ``LIKE``;
- SQLite serves from no index at all (its ``LIKE`` is case-insensitive, its indexes are not), so a township's
  visit list, count or coverage scanned the whole table. There this lookup is the range ``p <= value < p'``,
  where ``p'`` is ``p`` with its last character incremented (``500235`` -> ``500236``, ``5009`` -> ``500:``):
  exactly the strings that start with ``p`` under a byte-wise order, which SQLite's default collation is, and
  which any B-tree on the column serves.

SQLite runs one county (docs/scaling.md), so a prefix of a county or wider (at most ``INDEXED_FROM - 1``
characters) selects nearly every row: there, an index on the code is the slow plan (a list page would read the
whole range to sort it, 1.9 s at 100k visits, where walking the order's index reads one page), and the range is
written ``+value >= p AND +value < p'``, which SQLite does not serve from an index (the unary ``+`` is SQLite's
documented way to say so). A township's or village's prefix (a few percent of a county at most) is served by the
index: 2 ms for the count of a township at 100k visits, against 130-200 ms for the ``LIKE`` scan.

For the digit strings that codes are, every form selects the same rows (the range is case-sensitive where
SQLite's ``LIKE`` is not: codes have no letters). An empty prefix matches every non-NULL value, as ``startswith``
does.
"""

import sys

from django.db.models import CharField, Lookup

# On SQLite, prefixes at least this long (a township's 9 digits, a village's 12) are looked up in an index.
INDEXED_FROM = 9


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
        if len(prefix) < INDEXED_FROM:
            lhs = f"+{lhs}"
        if end is None:
            return f"{lhs} >= %s", [*lhs_params, prefix]
        return f"({lhs} >= %s AND {lhs} < %s)", [*lhs_params, prefix, *lhs_params, end]

    def as_postgresql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        pattern = connection.ops.prep_for_like_query(str(self.rhs)) + "%"
        return f"{lhs} LIKE %s", [*lhs_params, pattern]
