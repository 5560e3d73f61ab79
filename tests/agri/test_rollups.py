"""The visit rollup is kept current in each write's transaction, and a rebuild from scratch gives the same rows."""

import threading
import uuid
from collections import Counter

import pytest
import shapely
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from agri.models import DivisionMonth, HexMonth, PresenceCount, PresenceMonth, Visit, VisitFlag, VisitRollup
from agri.models.rollups import HEX_MONTH_KEY, MONTH_KEY, NO_HOUSEHOLD, PRESENCE_COUNT_KEY, PRESENCE_KEY
from agri.services.rollups import visits_reassign
from geo.services import DivisionRow, division_upsert_many
from tests.agri.map_support import days_ago, map_villages, visit
from tests.support import build_world, login


def independent_rollup() -> dict:
    """What the rollup should hold, counted in Python over the live visits."""
    counts: Counter = Counter()
    participants: Counter = Counter()
    for v in Visit.objects.filter(deleted_at__isnull=True):
        key = (
            v.visit_date,
            v.division_id or "",
            v.township_code,
            v.scope_code,
            v.industry_id or 0,
            v.kind,
            v.expert_id or 0,
            v.worker_id or 0,
            v.commissioner_id or 0,
            v.household_id or NO_HOUSEHOLD,
        )
        counts[key] += 1
        participants[key] += v.participants
    return {key: (counts[key], participants[key]) for key in counts}


def stored_rollup() -> dict:
    rows = VisitRollup.objects.values_list(
        "day",
        "division_code",
        "township_code",
        "scope_code",
        "industry_key",
        "kind",
        "expert_key",
        "worker_key",
        "commissioner_key",
        "household_key",
        "visits",
        "participants",
    )
    out = {row[:-2]: row[-2:] for row in rows}
    assert len(out) == len(rows)
    return out


def independent_monthly() -> dict:
    """What the monthly tables should hold, counted in Python over the live visits: for each visit a detail and a
    total row per place at the village, township and county grains, per cell at the village scope (r5 and r7: and
    at the county and province scope too), a household row (a month row), and detail and total rows per worker or
    commissioner at the three grains; place, cell and person rows each in a month row and in a year row; and per
    township and county, month and year, the distinct workers (commissioners) active there."""
    months: dict = {}
    cells: dict = {}
    presence: Counter = Counter()
    people: dict = {}

    def add(table, key, visits, participants, day):
        row = table.setdefault(key, [0, 0, day])
        row[0] += visits
        row[1] += participants
        row[2] = max(row[2], day)

    for v in Visit.objects.filter(deleted_at__isnull=True):
        month = v.visit_date.replace(day=1)
        year = month.replace(month=1)
        place = (v.division_id or "", v.township_code, v.scope_code)
        grains = [("v", place)]
        if v.township_code:
            grains.append(("t", ("", v.township_code, v.scope_code[:9])))
        if v.division_id:
            grains.append(("c", (v.division_id[:6], "", v.scope_code[:6])))
        for industry, kind in ((v.industry_id or 0, v.kind), (-1, "")):
            for start, span in ((month, "m"), (year, "y")):
                for grain, where in grains:
                    add(months, (start, span, grain, *where, industry, kind), 1, v.participants, v.visit_date)
                for resolution, cell in ((5, v.h3_r5), (7, v.h3_r7), (9, v.h3_r9)):
                    cell_grains = [("v", v.scope_code)]
                    if resolution in (5, 7):
                        cell_grains += [("c", v.scope_code[:6]), ("p", v.scope_code[:2])]
                    for grain, scope in cell_grains if cell is not None else ():
                        add(cells, (resolution, cell, start, span, grain, scope, industry, kind), 1, 0, v.visit_date)
            for role, person in (("w", v.worker_id), ("c", v.commissioner_id)):
                for grain, where in grains if person else ():
                    presence[(month, "m", role, grain, person, NO_HOUSEHOLD, *where, industry, kind)] += 1
                    presence[(year, "y", role, grain, person, NO_HOUSEHOLD, *where, industry, kind)] += 1
                    if grain != "v" and industry == -1:
                        for start, span in ((month, "m"), (year, "y")):
                            people.setdefault((start, span, grain, role, *where), set()).add(person)
        if v.household_id:
            presence[(month, "m", "h", "", 0, v.household_id, "", "", "", v.industry_id or 0, v.kind)] += 1
    return {
        "months": {k: tuple(v) for k, v in months.items()},
        "cells": {k: (v[0], v[2]) for k, v in cells.items()},
        "presence": dict(presence),
        "counts": {key: len(persons) for key, persons in people.items()},
    }


def stored_monthly() -> dict:
    months = DivisionMonth.objects.values_list(*MONTH_KEY, "visits", "participants", "last_day")
    cells = HexMonth.objects.values_list(*HEX_MONTH_KEY, "visits", "last_day")
    presence = PresenceMonth.objects.values_list(*PRESENCE_KEY, "visits")
    counts = PresenceCount.objects.values_list(*PRESENCE_COUNT_KEY, "people")
    return {
        "months": {row[:-3]: row[-3:] for row in months},
        "cells": {row[:-2]: row[-2:] for row in cells},
        "presence": {row[:-1]: row[-1] for row in presence},
        "counts": {row[:-1]: row[-1] for row in counts},
    }


def assert_monthly_exact():
    stored, expected = stored_monthly(), independent_monthly()
    for table in expected:
        assert stored[table] == expected[table], table


def push(client, items):
    response = client.post("/api/v1/sync/visits/", {"visits": items}, format="json")
    assert response.status_code == 200, response.content
    return [r["status"] for r in response.json()["results"]]


def patch(client, visit_id, changes):
    etag = client.get(f"/api/v1/visits/{visit_id}/")["ETag"]
    response = client.patch(f"/api/v1/visits/{visit_id}/", changes, format="json", HTTP_IF_MATCH=etag)
    assert response.status_code == 200, response.content
    return response.json()


@pytest.fixture
def history(mapped_world, clients):
    """Visits by a worker, an expert and a commissioner, on several days, kinds, targets and villages."""
    w = mapped_world
    worker = [
        visit(w, started_at=days_ago(3), participants=2),
        visit(w, started_at=days_ago(3, 11), participants=3),  # same day and key: one rollup row
        visit(w, started_at=days_ago(40), kind="diagnosis", participants=1),
        visit(w, started_at=days_ago(40), kind="training", household=None, village="500235001003", participants=25),
        visit(w, started_at=days_ago(5), household=None, base=w["B1"].pk, kind="new_variety", introduced=["沃柑"]),
        visit(w, started_at=days_ago(1), household=None, station=w["S1"].pk, industry=None),
    ]
    expert = [
        visit(w, household=str(w["H2"].pk), started_at=days_ago(2), lat=30.93, lon=108.70),
        visit(w, household=str(w["H1"].pk), started_at=days_ago(60), kind="new_technique", introduced=["水肥一体化"]),
    ]
    commissioner = [
        visit(w, household=None, station=w["S1"].pk, started_at=days_ago(7), kind="guidance"),
        visit(w, household=None, base=w["B1"].pk, started_at=days_ago(7), kind="training", participants=40),
    ]
    assert push(clients["worker"], worker) == ["created"] * len(worker)
    assert push(clients["expert"], expert) == ["created"] * len(expert)
    assert push(clients["commissioner"], commissioner) == ["created"] * len(commissioner)
    return {"worker": worker, "expert": expert, "commissioner": commissioner}


def test_creates_are_counted_once_in_the_same_transaction(history, clients):
    expected = independent_rollup()
    assert stored_rollup() == expected
    assert_monthly_exact()
    assert DivisionMonth.objects.filter(industry_key=-1, kind="").count() < DivisionMonth.objects.count()
    # The worker and the commissioner are counted in their townships and counties, by month and by year.
    counts = stored_monthly()["counts"]
    assert {(grain, role, span) for _m, span, grain, role, *_place in counts} == {
        (grain, role, span) for grain in "tc" for role in "wc" for span in "my"
    }
    assert set(counts.values()) == {1}
    # The two visits on the same day by the same worker to the same household share one row.
    assert sorted(n for n, _p in expected.values())[-1] == 2
    # Replaying the batch stores nothing new and counts nothing twice.
    assert push(clients["worker"], history["worker"]) == ["unchanged"] * len(history["worker"])
    assert stored_rollup() == expected


def test_edit_moves_the_count_to_the_new_key(history, clients):
    moved = history["worker"][2]
    # Another village (黄金包社区), another kind and industry, another day.
    patch(clients["worker"], moved["id"], {"lon": 108.72, "kind": "guidance", "industry": "goats"})
    patch(clients["worker"], history["worker"][0]["id"], {"started_at": days_ago(9), "participants": 7})
    stored = Visit.objects.get(pk=moved["id"])
    assert (stored.division_id, stored.kind, stored.industry.code) == ("500235001003", "guidance", "goats")
    assert stored_rollup() == independent_rollup()
    assert_monthly_exact()


def test_an_edit_within_the_month_moves_the_last_day_both_ways(history, clients):
    """A month's last day follows a visit moved later, and goes back when the latest visit moves earlier or goes."""
    moved = history["worker"][2]  # 40 days ago, alone on its day
    patch(clients["worker"], moved["id"], {"started_at": days_ago(38)})
    assert_monthly_exact()
    patch(clients["worker"], moved["id"], {"started_at": days_ago(41)})
    assert_monthly_exact()
    assert clients["worker"].delete(f"/api/v1/visits/{moved['id']}/").status_code == 204
    assert_monthly_exact()


def test_delete_takes_the_count_away_and_an_emptied_row_disappears(history, clients):
    lone = history["commissioner"][0]
    response = clients["commissioner"].delete(f"/api/v1/visits/{lone['id']}/")
    assert response.status_code == 204
    assert stored_rollup() == independent_rollup()
    assert_monthly_exact()
    commissioner = Visit.objects.get(pk=lone["id"]).commissioner_id
    assert not VisitRollup.objects.filter(commissioner_key=commissioner, kind="guidance").exists()


def test_stale_edit_leaves_the_rollup_as_it_was(history, clients):
    before = stored_rollup()
    target = history["worker"][0]["id"]
    etag = clients["worker"].get(f"/api/v1/visits/{target}/")["ETag"]
    assert (
        clients["worker"]
        .patch(f"/api/v1/visits/{target}/", {"kind": "other"}, format="json", HTTP_IF_MATCH=etag)
        .status_code
        == 200
    )
    after_first = stored_rollup()
    stale = clients["worker"].patch(
        f"/api/v1/visits/{target}/", {"kind": "diagnosis"}, format="json", HTTP_IF_MATCH=etag
    )
    assert stale.status_code == 412
    assert stored_rollup() == after_first != before
    assert_monthly_exact()


def test_reassignment_moves_counts_and_recomputes_place_flags(history, clients, mapped_world):
    # A visit whose point lies in no village yet: unassigned, scoped to the worker's home township.
    outside = visit(mapped_world, lat=30.975, lon=108.695, started_at=days_ago(4))
    assert push(clients["worker"], [outside]) == ["created"]
    stored = Visit.objects.get(pk=outside["id"])
    unassigned = VisitFlag.BITS[VisitFlag.UNASSIGNED]
    assert stored.division_id is None and stored.flag_bits & unassigned
    assert stored.scope_code == "500235001000"
    # New boundaries: 杏家湾社区 grows north over the stray point, and 黄金包社区 takes the households' spot.
    division_upsert_many(
        [
            DivisionRow(
                "500235001001", "杏家湾社区", "village", "500235001000", shapely.box(108.69, 30.94, 108.699, 30.99)
            ),
            DivisionRow(
                "500235001003", "黄金包社区", "village", "500235001000", shapely.box(108.699, 30.94, 108.73, 30.96)
            ),
        ]
    )
    before = {v.pk: v.division_id for v in Visit.objects.all()}
    version = {v.pk: v.version for v in Visit.objects.all()}
    changed = visits_reassign(Visit.objects.all(), batch_size=3)
    after = {v.pk: v for v in Visit.objects.all()}
    assert changed == sum(1 for pk, v in after.items() if v.division_id != before[pk])
    assert changed >= 2
    moved = after[uuid.UUID(outside["id"])]
    assert (moved.division_id, moved.township_code, moved.scope_code) == (
        "500235001001",
        "500235001000",
        "500235001001",
    )
    assert not moved.flag_bits & unassigned
    assert all(v.version == version[pk] for pk, v in after.items())
    assert stored_rollup() == independent_rollup()
    assert_monthly_exact()
    # Running it again changes nothing.
    assert visits_reassign() == 0


def test_rebuild_equals_incremental_after_creates_edits_deletes_and_reassignment(history, clients, capsys):
    patch(clients["worker"], history["worker"][2]["id"], {"lon": 108.72, "kind": "guidance", "industry": "goats"})
    patch(clients["expert"], history["expert"][0]["id"], {"lat": 30.95, "lon": 108.70})
    assert clients["worker"].delete(f"/api/v1/visits/{history['worker'][1]['id']}/").status_code == 204
    division_upsert_many(
        [
            DivisionRow(
                "500235001001", "杏家湾社区", "village", "500235001000", shapely.box(108.69, 30.94, 108.699, 30.96)
            ),
            DivisionRow(
                "500235001003", "黄金包社区", "village", "500235001000", shapely.box(108.699, 30.94, 108.73, 30.96)
            ),
        ]
    )
    assert visits_reassign() > 0
    incremental = stored_rollup()
    assert incremental == independent_rollup()
    monthly = stored_monthly()
    assert_monthly_exact()
    call_command("rebuild_rollups")
    assert stored_rollup() == incremental
    assert stored_monthly() == monthly
    out = capsys.readouterr().out
    live = Visit.objects.filter(deleted_at__isnull=True).count()
    assert f"done, {live:,} live visits -> {len(incremental):,} rollup rows" in out
    assert "rebuild_rollups: " in out.splitlines()[0]


def test_rebuild_of_an_empty_table_and_of_a_wiped_rollup(history):
    expected, monthly = stored_rollup(), stored_monthly()
    VisitRollup.objects.all().delete()
    HexMonth.objects.all().delete()
    call_command("rebuild_rollups", verbosity=0)
    assert stored_rollup() == expected
    assert stored_monthly() == monthly
    Visit.objects.all().update(deleted_at=timezone.now())
    call_command("rebuild_rollups", verbosity=0)
    assert stored_rollup() == {}
    assert stored_monthly() == {"months": {}, "cells": {}, "presence": {}, "counts": {}}


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_to_the_same_keys_lose_no_count():
    """Ten phones syncing at once, every visit on the same rollup keys, while another edits and deletes."""
    world = build_world()
    map_villages("500235001001")
    headers = [login(world.users["worker"], device=f"phone-{n}")._credentials["HTTP_AUTHORIZATION"] for n in range(10)]
    started = days_ago(2)
    batches = [
        [visit(world, started_at=started, participants=1 + i % 3) for i in range(n * 7, n * 7 + 7)] for n in range(10)
    ]
    editor = APIClient()
    editor.credentials(HTTP_AUTHORIZATION=headers[0])
    assert push(editor, [visit(world, started_at=started, participants=4)]) == ["created"]
    edited = Visit.objects.get()
    errors = []
    barrier = threading.Barrier(11)

    def sync(header, items):
        try:
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=header)
            barrier.wait(timeout=30)
            for item in items:  # one by one: many short transactions that interleave
                response = client.post("/api/v1/sync/visits/", {"visits": [item]}, format="json")
                assert response.status_code == 200 and response.json()["results"][0]["status"] == "created"
        except Exception as exc:  # recorded, so the assertion below names it
            errors.append(repr(exc))
        finally:
            connection.close()

    def edit():
        try:
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=headers[0])
            barrier.wait(timeout=30)
            for kind in ("diagnosis", "guidance", "other"):
                etag = client.get(f"/api/v1/visits/{edited.pk}/")["ETag"]
                response = client.patch(f"/api/v1/visits/{edited.pk}/", {"kind": kind}, HTTP_IF_MATCH=etag)
                assert response.status_code == 200, response.content
            assert client.delete(f"/api/v1/visits/{edited.pk}/").status_code == 204
        except Exception as exc:
            errors.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=sync, args=(h, b)) for h, b in zip(headers, batches, strict=True)]
    threads.append(threading.Thread(target=edit))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    assert errors == []
    assert Visit.objects.filter(deleted_at__isnull=True).count() == 70
    expected = independent_rollup()
    assert stored_rollup() == expected
    assert sum(n for n, _p in expected.values()) == 70 and len(expected) == 1
    assert_monthly_exact()


def test_year_rows_follow_visits_moved_across_a_year_end(history, clients, mapped_world):
    """A person's year rows count the year's visits of each place: edits that move a visit into the year before
    (or back), to another village, or delete it, and a reassignment, keep the month and year rows exact, and a
    rebuild gives the same rows."""
    w = mapped_world
    today = timezone.localdate()
    new_year = today.replace(month=1, day=1)
    last_year = [
        visit(w, started_at=days_ago((today - new_year).days + 2), participants=4),  # Dec 30
        visit(w, started_at=days_ago((today - new_year).days + 1), household=None, village="500235001003"),
        visit(w, started_at=days_ago((today - new_year).days + 200), kind="diagnosis"),
    ]
    assert push(clients["worker"], last_year) == ["created"] * 3
    assert_monthly_exact()
    worker = Visit.objects.get(pk=last_year[0]["id"]).worker_id
    years = set(PresenceMonth.objects.filter(span="y", role="w", person_key=worker).values_list("month", flat=True))
    assert new_year.replace(year=new_year.year - 1) in years
    # Into this year, back into the last, to another village, deleted.
    patch(clients["worker"], last_year[0]["id"], {"started_at": days_ago(1)})
    assert_monthly_exact()
    patch(clients["worker"], history["worker"][2]["id"], {"started_at": last_year[1]["started_at"]})
    assert_monthly_exact()
    patch(clients["worker"], last_year[2]["id"], {"lon": 108.72, "lat": 30.95})
    assert_monthly_exact()
    assert clients["worker"].delete(f"/api/v1/visits/{last_year[1]['id']}/").status_code == 204
    assert_monthly_exact()
    division_upsert_many(
        [
            DivisionRow(
                "500235001001", "杏家湾社区", "village", "500235001000", shapely.box(108.69, 30.94, 108.73, 30.99)
            )
        ]
    )
    assert visits_reassign() > 0
    assert_monthly_exact()
    monthly = stored_monthly()
    assert any(key[1] == "y" for key in monthly["presence"])
    call_command("rebuild_rollups", verbosity=0)
    assert stored_monthly() == monthly
