"""The one workbook writer of the xlsx exports (agri.workbooks), read back with openpyxl."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook

from agri import workbooks
from agri.workbooks import Cell, Column, Sheet, display_width, title_text, workbook_write

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_display_width_counts_cjk_twice():
    assert display_width("abc") == 3
    assert display_width("柑橘") == 4
    assert display_width("Ａ1，") == 5  # fullwidth letter and comma


def test_a_sheet_has_its_title_frozen_header_filter_formats_and_fitted_widths():
    rows = [
        ["双江街道杏家湾社区", 12345, 0.8567, datetime(2025, 3, 14, 1, 30, tzinfo=UTC)],
        ["x", 7, Cell(2.5, "decimal"), None],
    ]
    columns = [Column("名称"), Column("次数", "count"), Column("覆盖率", "percent"), Column("时间", "datetime")]
    title = title_text("走访", period="2025-01-01 至 2025-12-31", filters=[("产业", "柑橘"), ("乡镇", "双江街道")])
    book = load_workbook(workbook_write(title=title, sheets=[Sheet("走访记录", columns, iter(rows))]))
    sheet = book["走访记录"]
    assert sheet["A1"].value == "走访　统计期：2025-01-01 至 2025-12-31　筛选：产业：柑橘；乡镇：双江街道"
    assert sheet["A1"].font.b and sheet["A2"].font.b
    assert [c.value for c in sheet[2]] == ["名称", "次数", "覆盖率", "时间"]
    assert sheet.freeze_panes == "A3" and sheet.auto_filter.ref == "A2:D4"
    assert (sheet["B3"].number_format, sheet["C3"].number_format, sheet["D3"].number_format) == (
        "#,##0",
        "0.0%",
        "yyyy-mm-dd hh:mm",
    )
    assert sheet["C4"].number_format == "#,##0.0#" and sheet["C4"].value == 2.5  # the cell's own kind
    assert sheet["D3"].value == datetime(2025, 3, 14, 9, 30, tzinfo=SHANGHAI).replace(tzinfo=None)  # no offset in Excel
    assert sheet.column_dimensions["A"].width >= display_width("双江街道杏家湾社区") == 18
    assert sheet.column_dimensions["B"].width >= len("12,345")
    assert sheet.column_dimensions["D"].width >= len("2025-03-14 09:30")


def test_no_filters_and_no_rows_still_make_a_table():
    book = load_workbook(
        workbook_write(title=title_text("空", period="2025年", filters=[]), sheets=[Sheet("空表", [Column("名称")])])
    )
    sheet = book["空表"]
    assert sheet["A1"].value.endswith("筛选：无")
    assert sheet.auto_filter.ref == "A2:A2" and sheet.max_row == 2


def test_rows_past_the_fitted_sample_are_all_written_and_stream_from_an_iterator(monkeypatch):
    monkeypatch.setattr(workbooks, "FIT_SAMPLE_ROWS", 10)
    taken = []

    def rows():
        for i in range(2500):
            taken.append(i)
            yield [f"第{i}行\x0b", i]

    book = load_workbook(
        workbook_write(title="t", sheets=[Sheet("长表", [Column("行"), Column("序号", "count")], rows())]),
        read_only=True,
    )
    values = list(book["长表"].iter_rows(min_row=3, values_only=True))
    assert len(values) == len(taken) == 2500
    assert values[0] == ("第0行", 0) and values[-1] == ("第2499行", 2499)  # no control character in a cell


def test_an_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="unknown column kind"):
        Column("x", "money")
