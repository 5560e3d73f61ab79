"""Excel workbooks for every xlsx export, written one way: a title row saying the period and the filters, a bold
header row that stays in view (frozen panes) with an autofilter over the table, number formats by column (counts
with thousands separators, shares as percentages), and columns as wide as their content, a CJK character counting
twice.

Workbooks are written in openpyxl's write-only mode, so rows stream from an iterator into the file and memory
does not grow with the rows. Column widths must be known before the first row is written: they are fitted to the
first ``FIT_SAMPLE_ROWS`` rows of each sheet, which are held back until then (all the rows of a small export).
"""

import io
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import chain, islice
from typing import Any, NamedTuple

from django.utils import timezone

from agri.validators import printable

# Excel number formats by kind of value. A count is an integer with thousands separators; a decimal keeps up to
# two places; a percent is a 0-1 share shown as 85.0%.
FORMATS = {
    "text": "General",
    "count": "#,##0",
    "decimal": "#,##0.0#",
    "percent": "0.0%",
    "date": "yyyy-mm-dd",
    "datetime": "yyyy-mm-dd hh:mm",
}
FIT_SAMPLE_ROWS = 1000
MIN_WIDTH = 6
MAX_WIDTH = 60  # wider text wraps in Excel's cell editor anyway; a 500-character note would hide the table
PADDING = 2  # the autofilter's drop-down button sits in the header cell


class Cell(NamedTuple):
    """A value whose format differs from its column's (an indicator's value may be a count or a share)."""

    value: Any
    kind: str


@dataclass(frozen=True)
class Column:
    header: str
    kind: str = "text"

    def __post_init__(self):
        if self.kind not in FORMATS:
            raise ValueError(f"unknown column kind {self.kind!r}")


@dataclass
class Sheet:
    """One sheet: a title (Excel allows 31 characters), its columns, and its rows as any iterable of sequences."""

    title: str
    columns: Sequence[Column]
    rows: Iterable[Sequence] = field(default_factory=list)


def display_width(text: str) -> int:
    """Columns the text takes in a monospaced cell: East Asian wide and fullwidth characters count two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def shown(value, kind: str) -> str:
    """The text Excel shows for ``value`` under the format of ``kind`` (what the column's width must hold)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        if kind == "percent":
            return f"{value:.1%}"
        if kind == "count":
            return f"{value:,.0f}"
        if kind == "decimal" or isinstance(value, float):
            return f"{value:,.2f}"
        return str(value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return max(str(value).splitlines() or [""], key=display_width)


def title_text(title: str, *, period: str, filters: Sequence[tuple[str, str]]) -> str:
    """``title`` with the period and the filters applied, as the first row of every sheet says it."""
    applied = "；".join(f"{name}：{value}" for name, value in filters) or "无"
    return f"{title}　统计期：{period}　筛选：{applied}"


def _split(item, kind: str) -> tuple[Any, str]:
    if isinstance(item, Cell):
        return item.value, item.kind
    return item, kind


def _excel_value(value):
    if isinstance(value, str):
        return printable(value)  # rows stored before names refused control characters may hold some
    if isinstance(value, datetime) and timezone.is_aware(value):
        return timezone.localtime(value).replace(tzinfo=None)  # Excel has no time zones: the server's local time
    return value


def workbook_write(*, title: str, sheets: Iterable[Sheet], out=None):
    """Write ``sheets`` into an xlsx workbook, into ``out`` (a binary file) or a new ``BytesIO``, which is
    returned at position 0. ``title`` (see :func:`title_text`) heads every sheet."""
    from openpyxl import Workbook  # imported on use: loading it costs every process start about 0.4 s
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    book = Workbook(write_only=True)
    bold = Font(bold=True)
    for spec in sheets:
        sheet = book.create_sheet(spec.title[:31])
        kinds = [c.kind for c in spec.columns]
        rows: Iterator = iter(spec.rows)
        sample = list(islice(rows, FIT_SAMPLE_ROWS))
        widths = [display_width(c.header) for c in spec.columns]
        for row in sample:
            for i, item in enumerate(row):
                widths[i] = max(widths[i], display_width(shown(*_split(item, kinds[i]))))
        for i, width in enumerate(widths, start=1):
            sheet.column_dimensions[get_column_letter(i)].width = min(MAX_WIDTH, max(MIN_WIDTH, width + PADDING))
        sheet.freeze_panes = "A3"  # the title and the header stay in view
        title_cell = WriteOnlyCell(sheet, title)
        title_cell.font = bold
        sheet.append([title_cell])
        header = []
        for column in spec.columns:
            cell = WriteOnlyCell(sheet, column.header)
            cell.font = bold
            header.append(cell)
        sheet.append(header)
        count = 0
        for row in chain(sample, rows):
            cells = []
            for i, item in enumerate(row):
                value, kind = _split(item, kinds[i])
                if kind == "text" or value is None:
                    cells.append(_excel_value(value))
                    continue
                cell = WriteOnlyCell(sheet, _excel_value(value))
                cell.number_format = FORMATS[kind]
                cells.append(cell)
            sheet.append(cells)
            count += 1
        last = get_column_letter(len(spec.columns))
        sheet.auto_filter.ref = f"A2:{last}{2 + count}"  # written when the sheet closes, after its rows
    out = io.BytesIO() if out is None else out
    book.save(out)
    out.seek(0)
    return out
