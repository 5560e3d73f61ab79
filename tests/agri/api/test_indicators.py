"""The plan's indicators (专栏3) for the seeded county against independent counts, and their Excel and CSV forms."""

import csv
import io
import unicodedata
from collections import defaultdict
from datetime import date, timedelta

import pytest
from django.utils import timezone
from openpyxl import load_workbook
from openpyxl.utils import get_column_letter

from agri.models import DemonstrationBase, Expert, ExtensionWorker, Farmer, Industry, ModelHousehold, TechCommissioner
from geo.models import AdminDivision
from tests.agri.map_support import push, visit
from tests.support import demo_client

HEADERS = [
    "指标代码",
    "指标",
    "单位",
    "分组",
    "分组代码",
    "分组名称",
    "数值",
    "目标",
    "目标上限",
    "状态",
    "分子",
    "分母",
]


def status(value, low, high=None):
    if value is None or low is None:
        return None
    if value < low:
        return "under"
    return "over" if high is not None and value > high else "met"


def ratio(a, b):
    return round(a / b, 4) if b else None


def row(value, target=None, target_max=None, numerator=None, denominator=None):
    return {
        "value": value,
        "target": target,
        "target_max": target_max,
        "status": status(value, target, target_max),
        "numerator": numerator,
        "denominator": denominator,
    }


def ratio_row(a, b, target=None, target_max=None):
    return row(ratio(a, b), target, target_max, a, b)


def figures(r: dict) -> dict:
    return {k: r[k] for k in ("value", "target", "target_max", "status", "numerator", "denominator")}


def expected_indicators(year: int, county: str = "500235") -> dict:
    """Every indicator recounted in Python over one county's objects: {code: (total, {industry: row},
    {township: row})}."""
    industries = list(Industry.objects.order_by("sort_order", "code"))
    townships = list(AdminDivision.objects.townships().within("500235").order_by("code"))
    experts = [e for e in Expert.objects.all() if e.active and e.county_id.startswith(county)]
    workers = [
        w
        for w in ExtensionWorker.objects.select_related("expert")
        if w.active and w.home_township_id.startswith(county)
    ]
    households = [
        h
        for h in ModelHousehold.objects.select_related("worker__expert", "village")
        if h.deleted_at is None and h.worker.active and h.village_id.startswith(county)
    ]
    farmers = [
        f
        for f in Farmer.objects.select_related("household__worker", "household__village")
        if f.deleted_at is None
        and f.household.deleted_at is None
        and f.household.worker.active
        and f.village_id.startswith(county)
    ]
    bases = [
        b
        for b in DemonstrationBase.objects.select_related("village")
        if b.status != "revoked" and b.village_id.startswith(county)
    ]
    schools = {b.pk for b in bases if hasattr(b, "field_school")}
    in_service = {
        c.pk
        for c in TechCommissioner.objects.all()
        if c.active
        and c.county_id.startswith(county)
        and c.service_start_year <= year
        and (c.service_end_year is None or c.service_end_year >= year)
    }
    from agri.models import Visit

    visits = [
        v
        for v in Visit.objects.select_related("industry")
        if v.deleted_at is None
        and date(year, 1, 1) <= v.visit_date <= date(year, 12, 31)
        and v.scope_code.startswith(county)
    ]

    def by_ind(items, key):
        out = defaultdict(list)
        for item in items:
            out[key(item)].append(item)
        return out

    w_ind = by_ind(workers, lambda w: w.expert.industry_id)
    w_town = by_ind(workers, lambda w: w.home_township_id)
    e_ind = by_ind(experts, lambda e: e.industry_id)
    h_ind = by_ind(households, lambda h: h.worker.expert.industry_id)
    h_worker_town = by_ind(households, lambda h: h.worker.home_township_id)
    h_town = by_ind(households, lambda h: h.village.parent_id)
    f_ind = by_ind(farmers, lambda f: f.household.worker.expert.industry_id)
    f_town = by_ind(farmers, lambda f: f.household.village.parent_id)
    b_ind = by_ind(bases, lambda b: b.industry_id)
    b_town = by_ind(bases, lambda b: b.village.parent_id)
    v_ind = by_ind(visits, lambda v: v.industry_id)
    v_town = by_ind(visits, lambda v: v.township_code)

    def services(vs):
        trainings = [v for v in vs if v.kind == "training"]
        names = {
            kind: len({name.strip() for v in vs if v.kind == kind for name in v.introduced})
            for kind in ("new_variety", "new_technique")
        }
        return {
            "village_visits": len(vs),
            "trainings": len(trainings),
            "training_attendance": sum(v.participants for v in trainings),
            "new_varieties": names["new_variety"],
            "new_techniques": names["new_technique"],
            "commissioners": len({v.commissioner_id for v in vs if v.commissioner_id in in_service}),
        }

    total_services = services(visits)
    targets = {"village_visits": 360, "trainings": 60, "training_attendance": None, "new_varieties": 40}
    targets["new_techniques"] = 30
    out = {}
    out["commissioners_in_service"] = (
        row(len(in_service), 40),
        {i.code: row(services(v_ind[i.pk])["commissioners"]) for i in industries},
        {t.code: row(services(v_town[t.code])["commissioners"]) for t in townships},
    )
    out["experts_per_industry"] = (
        ratio_row(len(experts), len(industries), 1, 1),
        {i.code: row(len(e_ind[i.pk]), 1, 1) for i in industries},
        {t.code: row(len({w.expert_id for w in w_town[t.code] if w.expert.active})) for t in townships},
    )
    out["workers_per_expert"] = (
        ratio_row(len(workers), len(experts), 10, 10),
        {i.code: ratio_row(len(w_ind[i.pk]), len(e_ind[i.pk]), 10, 10) for i in industries},
        {
            t.code: ratio_row(len(w_town[t.code]), len({w.expert_id for w in w_town[t.code] if w.expert.active}))
            for t in townships
        },
    )
    out["township_worker_share"] = (
        ratio_row(sum(w.is_township_based for w in workers), len(workers), 0.7),
        {i.code: ratio_row(sum(w.is_township_based for w in w_ind[i.pk]), len(w_ind[i.pk]), 0.7) for i in industries},
        {
            t.code: ratio_row(sum(w.is_township_based for w in w_town[t.code]), len(w_town[t.code]), 0.7)
            for t in townships
        },
    )
    out["households_per_worker"] = (
        ratio_row(len(households), len(workers), 10, 10),
        {i.code: ratio_row(len(h_ind[i.pk]), len(w_ind[i.pk]), 10, 10) for i in industries},
        {t.code: ratio_row(len(h_worker_town[t.code]), len(w_town[t.code]), 10, 10) for t in townships},
    )
    out["farmers_per_household"] = (
        ratio_row(len(farmers), len(households), 10, 10),
        {i.code: ratio_row(len(f_ind[i.pk]), len(h_ind[i.pk]), 10, 10) for i in industries},
        {t.code: ratio_row(len(f_town[t.code]), len(h_town[t.code]), 10, 10) for t in townships},
    )
    out["bases"] = (
        row(len(bases), 3, 6),
        {i.code: row(len(b_ind[i.pk])) for i in industries},
        {t.code: row(len(b_town[t.code])) for t in townships},
    )

    def school_row(bs):
        n = len(bs)
        return row(sum(b.pk in schools for b in bs), n or None, n or None)

    out["field_schools"] = (
        row(len(schools), len(bases), len(bases)),
        {i.code: school_row(b_ind[i.pk]) for i in industries},
        {t.code: school_row(b_town[t.code]) for t in townships},
    )
    for code, target in targets.items():
        out[code] = (
            row(total_services[code], target),
            {i.code: row(services(v_ind[i.pk])[code]) for i in industries},
            {t.code: row(services(v_town[t.code])[code]) for t in townships},
        )
    return out


def check_against_independent_counts(body: dict, year: int) -> None:
    expected = expected_indicators(year)
    assert body["year"] == year
    assert [i["code"] for i in body["indicators"]] == list(expected)
    for indicator in body["indicators"]:
        total, industries, townships = expected[indicator["code"]]
        assert figures(indicator) == total, indicator["code"]
        assert {r["code"]: figures(r) for r in indicator["by_industry"]} == industries, indicator["code"]
        assert {r["code"]: figures(r) for r in indicator["by_township"]} == townships, indicator["code"]


def test_indicators_of_the_seeded_county_match_independent_counts(seeded):
    client = demo_client("demo-viewer")
    this_year = timezone.localdate().year
    for year in (this_year, this_year - 1):
        response = client.get("/api/v1/indicators/", {"year": year})
        assert response.status_code == 200, response.content
        check_against_independent_counts(response.json(), year)
    body = client.get("/api/v1/indicators/").json()  # this year by default
    assert body["year"] == this_year
    by_code = {i["code"]: i for i in body["indicators"]}
    # A year of demo history: the county's service figures are real numbers, some short of the plan.
    visits = {
        y: {i["code"]: i for i in client.get("/api/v1/indicators/", {"year": y}).json()["indicators"]}
        for y in (this_year, this_year - 1)
    }
    assert sum(v["village_visits"]["value"] for v in visits.values()) > 5000
    assert by_code["experts_per_industry"]["status"] == "under"  # two of the ten industries have no expert
    assert {i["name"] for i in body["indicators"]} >= {"服务下乡次数", "引进新品种", "科技特派员在岗人数"}
    check_workbook(demo_client("demo-admin"), this_year)


def check_workbook(client, year: int) -> None:
    """The XLSX download opens with openpyxl, has Chinese headers, and says what the JSON says."""
    data = client.get("/api/v1/indicators/", {"year": year}).json()
    response = client.get("/api/v1/indicators/", {"year": year, "format": "xlsx"})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert response["Content-Disposition"] == f'attachment; filename="indicators-{year}.xlsx"'
    book = load_workbook(io.BytesIO(b"".join(response.streaming_content)), read_only=True)
    assert book.sheetnames == ["合计", "按产业", "按城市", "按区县", "按乡镇"]
    sheets = {name: list(book[name].iter_rows(values_only=True)) for name in book.sheetnames}
    for rows in sheets.values():
        assert "专栏3" in rows[0][0] and str(year) in rows[0][0]
        assert list(rows[1]) == HEADERS
    totals = {r[0]: r for r in sheets["合计"][2:]}
    assert len(totals) == len(data["indicators"]) == 13
    for indicator in data["indicators"]:
        line = totals[indicator["code"]]
        assert line[1] == indicator["name"] and line[3] == "合计"
        assert line[6] == indicator["value"] and line[7] == indicator["target"]
        assert line[9] == {"under": "未达标", "met": "达标", "over": "超出", None: None}[indicator["status"]]
    n_industries = len(data["indicators"][0]["by_industry"])
    n_townships = len(data["indicators"][0]["by_township"])
    assert len(sheets["按产业"]) == 2 + 13 * n_industries
    assert len(sheets["按乡镇"]) == 2 + 13 * n_townships == 2 + 13 * 42
    # One county (Yunyang) in one city (Chongqing's counties, 5002): each row is the county's total.
    assert len(sheets["按区县"]) == len(sheets["按城市"]) == 2 + 13
    for sheet, code in (("按区县", "500235000000"), ("按城市", "500200000000")):
        for line in sheets[sheet][2:]:
            total = totals[line[0]]
            assert line[4] == code and line[6:] == total[6:], (sheet, line, total)


def test_indicators_for_a_small_world_csv_with_bom_and_a_workers_slice(mapped_world, clients):
    w = mapped_world
    year = timezone.localdate().year
    started = (timezone.localtime() - timedelta(hours=3)).isoformat()
    push(
        clients["worker"],
        [
            visit(w, kind="new_variety", introduced=["沃柑", " 沃柑 ", "春见"], started_at=started),
            visit(w, kind="new_variety", introduced=["沃柑"], started_at=started),
            visit(w, kind="new_technique", introduced=["水肥一体化"], started_at=started),
            visit(w, kind="training", participants=30, household=None, village="500235001003", started_at=started),
        ],
    )
    push(
        clients["commissioner"],
        [visit(w, kind="training", participants=12, household=None, base=w["B1"].pk, started_at=started)],
    )
    body = clients["admin"].get("/api/v1/indicators/", {"year": year}).json()
    check_against_independent_counts(body, year)
    by_code = {i["code"]: i for i in body["indicators"]}
    assert by_code["new_varieties"]["value"] == 2  # 沃柑 (trimmed) and 春见
    assert by_code["trainings"]["value"] == 2 and by_code["training_attendance"]["value"] == 42
    assert by_code["training_attendance"]["target"] is None and by_code["training_attendance"]["status"] is None
    assert by_code["commissioners_in_service"]["value"] == 2  # C1, C2 (C9 is another county's)
    # The worker's own slice: the commissioner's training is not the worker's.
    mine = {i["code"]: i for i in clients["worker"].get("/api/v1/indicators/").json()["indicators"]}
    assert mine["trainings"]["value"] == 1 and mine["training_attendance"]["value"] == 30
    assert mine["new_varieties"]["value"] == 2

    response = clients["admin"].get("/api/v1/indicators/", {"year": year, "format": "csv"})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="indicators-{year}.csv"'
    raw = b"".join(response.streaming_content)
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0] == HEADERS
    totals = {r[0]: r for r in rows[1:] if r[3] == "合计"}
    assert totals["new_varieties"][1:3] == ["引进新品种", "个"]
    assert totals["new_varieties"][6:10] == ["2", "40", "", "未达标"]
    townships = [r for r in rows if r[0] == "trainings" and r[3] == "乡镇"]
    assert {r[4]: r[6] for r in townships} == {"500235001000": "2", "500235002000": "0"}


@pytest.mark.parametrize("n_visits", [10, 1000])
def test_indicator_query_count_does_not_depend_on_the_number_of_visits(
    mapped_world, clients, n_visits, django_assert_num_queries
):
    started = (timezone.localtime() - timedelta(hours=3)).isoformat()
    push(
        clients["worker"],
        [
            visit(
                mapped_world, kind=("new_variety", "training")[i % 2], introduced=[f"品种{i % 7}"], started_at=started
            )
            for i in range(n_visits)
        ],
    )
    with django_assert_num_queries(33):
        response = clients["admin"].get("/api/v1/indicators/")
    assert response.status_code == 200
    assert {i["code"]: i["value"] for i in response.json()["indicators"]}["new_varieties"] == min(7, n_visits // 2)


def display_width(text: str) -> int:
    """Monospaced columns: a wide or fullwidth (CJK) character takes two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def shown_as(cell) -> str:
    """The text Excel shows for a cell under its number format."""
    if isinstance(cell.value, str):
        return cell.value
    if cell.value is None:
        return ""
    return {"0.0%": "{:.1%}", "#,##0": "{:,.0f}", "#,##0.0#": "{:,.2f}"}.get(cell.number_format, "{}").format(
        cell.value
    )


@pytest.mark.parametrize(("role", "scope"), [("admin", "范围：云阳县"), ("worker", "范围：双江街道，本人的记录")])
def test_the_excel_workbook_is_laid_out_for_reading_in_excel(mapped_world, clients, role, scope):
    """Title with the period and the filters, frozen header, autofilter, formats by kind, fitted columns, Chinese
    sheet names."""
    year = timezone.localdate().year
    started = (timezone.localtime() - timedelta(hours=3)).isoformat()
    push(clients["worker"], [visit(mapped_world, kind="training", participants=1234, started_at=started)])
    data = clients[role].get("/api/v1/indicators/", {"year": year}).json()
    response = clients[role].get("/api/v1/indicators/", {"year": year, "format": "xlsx"}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200, response.content
    book = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    assert book.sheetnames == [
        "合计",
        "按产业",
        "按城市",
        "按区县",
        "按乡镇",
    ]  # headers and sheets are Chinese in either language
    for sheet in book.worksheets:
        title = sheet["A1"].value
        assert "专栏3" in title and f"{year}-01-01 至 {year}-12-31" in title and scope in title
        assert f"年份：{year}" in title
        assert [c.value for c in sheet[2]] == HEADERS
        assert sheet.freeze_panes == "A3"
        assert sheet.auto_filter.ref == f"A2:L{sheet.max_row}"
        assert sheet.max_row > 2
        for column in sheet.iter_cols(min_row=2):
            letter = get_column_letter(column[0].column)
            longest = max(display_width(shown_as(c)) for c in column)
            assert sheet.column_dimensions[letter].width >= longest, (sheet.title, letter)
    totals = {row[0].value: row for row in book["合计"].iter_rows(min_row=3)}
    assert len(totals) == len(data["indicators"])
    share = totals["township_worker_share"]
    assert share[6].number_format == "0.0%" and share[6].value == data["indicators"][3]["value"]
    assert share[7].number_format == "0.0%" and share[7].value == 0.7
    attendance = totals["training_attendance"]
    assert attendance[6].value == 1234 and attendance[6].number_format == "#,##0"
    assert shown_as(attendance[6]) == "1,234"
    assert {row[10].number_format for row in totals.values() if row[10].value is not None} == {"#,##0"}
    per_expert = totals["workers_per_expert"]
    assert isinstance(data["indicators"][2]["value"], float)  # a ratio, not a count
    assert per_expert[6].value == data["indicators"][2]["value"] and per_expert[6].number_format == "#,##0.0#"
    assert display_width("按乡镇") == 6  # the width rule the test holds the workbook to: CJK counts double
