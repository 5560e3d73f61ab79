"""The gaps (GET /coverage/gaps/) as tables for the bureau: CSV and Excel, saying what the JSON says."""

import csv
import io

from openpyxl import load_workbook

from tests.agri.map_support import days_ago, push, visit

HEADERS = ["类型", "编号", "名称", "所在村", "乡镇代码", "农技推广人员", "登记示范户", "最近服务"]


def test_gap_csv_and_workbook_list_the_households_then_the_villages(mapped_world, clients):
    w = mapped_world
    push(clients["worker"], [visit(w, started_at=days_ago(1), ended_at=None)])  # H1, in 杏家湾社区
    for name in ("admin", "viewer"):
        data = clients[name].get("/api/v1/coverage/gaps/", {"days": 30}).json()
        households = {h["id"]: h for h in data["households"]}
        assert set(households) == {str(w["H2"].pk), str(w["H3"].pk)}
        assert {v["code"] for v in data["villages"]} == {"500235001003", "500235002001"}

        response = clients[name].get("/api/v1/coverage/gaps/", {"days": 30, "format": "csv"})
        assert response.status_code == 200
        assert response["Content-Type"] == "text/csv; charset=utf-8"
        until = data["until"].replace("-", "")
        assert response["Content-Disposition"] == f'attachment; filename="gaps-30d-{until}.csv"'
        raw = b"".join(response.streaming_content)
        assert raw.startswith(b"\xef\xbb\xbf")
        rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
        assert rows[0] == HEADERS
        assert [r[0] for r in rows[1:]] == ["示范户", "示范户", "村", "村"]
        for row in rows[1:3]:
            h = households[row[1]]
            # Names as the JSON gives them to this account (a viewer's are masked).
            assert row[2:6] == [h["head_name"], h["village_name"], h["township_code"], h["worker_name"]]
            assert row[7] == (h["last_visit"] or "")
        villages = {r[1]: r for r in rows[3:]}
        assert villages["500235002001"][2:] == ["青龙社区", "", "500235002000", "", "1", ""]
        assert villages["500235001003"][6] == "1"  # H3

    response = clients["viewer"].get("/api/v1/coverage/gaps/", {"days": 30, "format": "xlsx"})
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(b"".join(response.streaming_content)), read_only=True)
    assert book.sheetnames == ["示范户", "村"]
    sheets = {title: list(book[title].iter_rows(values_only=True)) for title in book.sheetnames}
    assert "近 30 天" in sheets["示范户"][0][0] and list(sheets["村"][1]) == HEADERS
    assert sorted(r[1] for r in sheets["示范户"][2:]) == sorted(households)
    assert sorted(r[1] for r in sheets["村"][2:]) == ["500235001003", "500235002001"]
    refused = clients["station"].get("/api/v1/coverage/gaps/", {"format": "csv"})
    assert refused.status_code == 403 and refused["Content-Type"] == "application/json"
