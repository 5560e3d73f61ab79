"""The year's service figures month by month (GET /indicators/monthly/), the dashboard's trend: months by local
date, active people counted over the year, and the CSV and Excel forms."""

import csv
import io

import pytest
from django.utils import timezone
from openpyxl import load_workbook

from tests.agri.map_support import push, visit

HEADERS = [
    "月份",
    "服务次数",
    "技术培训场次",
    "培训人次",
    "开展服务的农技推广人员",
    "开展服务的科技特派员",
    "登记农技推广人员",
    "在岗科技特派员",
]


def at(year: int, month: int, day: int, hour: int = 10, minute: int = 0) -> str:
    return f"{year}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:00+08:00"


@pytest.fixture
def last_year(mapped_world, clients) -> int:
    """Last year's visits: March (two by W1, one by W2), a July training by the commissioner, the last evening of
    December (local time) by W1, and one on New Year's night just after, which is this year's."""
    w = mapped_world
    year = timezone.localdate().year - 1
    push(
        clients["worker"],
        [
            visit(w, started_at=at(year, 3, 2), ended_at=at(year, 3, 2, 11)),
            visit(w, kind="diagnosis", started_at=at(year, 3, 30), ended_at=at(year, 3, 30, 11)),
            visit(w, started_at=at(year, 12, 31, 23, 30), ended_at=at(year, 12, 31, 23, 50)),
            visit(w, started_at=at(year + 1, 1, 1, 0, 30), ended_at=at(year + 1, 1, 1, 1)),
        ],
    )
    push(
        clients["worker2"],
        [visit(w, household=str(w["H2"].pk), lat=30.93, started_at=at(year, 3, 5), ended_at=at(year, 3, 5, 11))],
    )
    push(
        clients["commissioner"],
        [
            visit(
                w,
                kind="training",
                participants=25,
                household=None,
                base=w["B1"].pk,
                started_at=at(year, 7, 8),
                ended_at=at(year, 7, 8, 12),
            )
        ],
    )
    return year


def test_months_by_local_date_and_the_year_counts_people_once(last_year, clients):
    year = last_year
    response = clients["admin"].get("/api/v1/indicators/monthly/", {"year": year})
    assert response.status_code == 200
    body = response.json()
    assert body["year"] == year
    months = {m["month"]: m for m in body["months"]}
    assert list(months) == [f"{year}-{m:02d}" for m in range(1, 13)]
    assert months[f"{year}-03"] == {
        "month": f"{year}-03",
        "visits": 3,
        "trainings": 0,
        "training_attendance": 0,
        "workers_active": 2,
        "commissioners_active": 0,
    }
    assert months[f"{year}-07"]["trainings"] == 1 and months[f"{year}-07"]["training_attendance"] == 25
    assert months[f"{year}-07"]["commissioners_active"] == 1 and months[f"{year}-07"]["workers_active"] == 0
    assert months[f"{year}-12"]["visits"] == 1  # 23:30 on 31 December, Asia/Shanghai
    assert sum(m["visits"] for m in body["months"]) == 5  # New Year's night is next year's
    assert months[f"{year}-01"]["visits"] == 0
    # Over the year W1 is active in two months but counts once.
    assert body["total"] == {
        "visits": 6 - 1,
        "trainings": 1,
        "training_attendance": 25,
        "workers_active": 2,
        "commissioners_active": 1,
    }
    assert body["workers_registered"] == 3  # W1, W2, W3 (W9 is another county's)
    assert body["commissioners_in_service"] == 2
    this_year = clients["admin"].get("/api/v1/indicators/monthly/").json()
    assert this_year["year"] == year + 1 and this_year["months"][0]["visits"] == 1


def test_a_workers_slice_and_the_refusals(last_year, clients):
    mine = clients["worker"].get("/api/v1/indicators/monthly/", {"year": last_year}).json()
    assert mine["total"]["visits"] == 3 and mine["total"]["workers_active"] == 1
    assert mine["total"]["commissioners_active"] == 0
    refused = clients["station"].get("/api/v1/indicators/monthly/")
    assert refused.status_code == 403 and refused.json()["code"] == "no_coverage_slice"
    bad = clients["admin"].get("/api/v1/indicators/monthly/", {"year": "1999"})
    assert bad.status_code == 400 and "year" in bad.json()["fields"]
    assert clients["admin"].get("/api/v1/indicators/monthly/", {"format": "pdf"}).status_code == 400


def test_csv_and_workbook_say_what_the_json_says(last_year, clients):
    year = last_year
    data = clients["admin"].get("/api/v1/indicators/monthly/", {"year": year}).json()
    response = clients["admin"].get("/api/v1/indicators/monthly/", {"year": year, "format": "csv"})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="activity-{year}.csv"'
    raw = b"".join(response.streaming_content)
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0] == HEADERS and len(rows) == 1 + 12 + 1
    assert rows[3] == [f"{year}-03", "3", "0", "0", "2", "0", "", ""]
    assert rows[-1] == [f"{year}年全年", "5", "1", "25", "2", "1", "3", "2"]

    response = clients["admin"].get("/api/v1/indicators/monthly/", {"year": year, "format": "xlsx"})
    assert response["Content-Disposition"] == f'attachment; filename="activity-{year}.xlsx"'
    book = load_workbook(io.BytesIO(b"".join(response.streaming_content)), read_only=True)
    sheet = list(book["按月"].iter_rows(values_only=True))
    assert str(year) in sheet[0][0] and list(sheet[1]) == HEADERS
    assert [r[1] for r in sheet[2:14]] == [m["visits"] for m in data["months"]]
    assert list(sheet[14]) == [f"{year}年全年", 5, 1, 25, 2, 1, 3, 2]


@pytest.mark.parametrize("n_visits", [10, 400])
def test_query_count_does_not_depend_on_the_number_of_visits(
    mapped_world, clients, n_visits, django_assert_num_queries
):
    year = timezone.localdate().year - 1
    push(
        clients["worker"],
        [visit(mapped_world, started_at=at(year, 1 + i % 12, 1 + i % 28), ended_at=None) for i in range(n_visits)],
    )
    with django_assert_num_queries(5):  # the token, then the selector's four queries
        response = clients["admin"].get("/api/v1/indicators/monthly/", {"year": year})
    assert response.status_code == 200
    assert response.json()["total"]["visits"] == n_visits
