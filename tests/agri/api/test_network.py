"""The network tree and summary against the plan's targets, checked against independent counts."""

from collections import Counter
from datetime import date

import pytest
from django.core.management import call_command
from django.utils import timezone

from agri.models import DemonstrationBase, Expert, ExtensionWorker, Farmer, Industry, ModelHousehold, TechCommissioner
from agri.selectors import target_status
from tests.support import login


def _status(value, low, high=None):
    if value < low:
        return "under"
    return "over" if high is not None and value > high else "met"


def test_target_status_boundaries():
    assert target_status(9, 10, 10) == "under"
    assert target_status(10, 10, 10) == "met"
    assert target_status(11, 10, 10) == "over"
    assert target_status(0.7, 0.7) == "met"
    assert target_status(7, 3, 6) == "over"


def test_summary_of_seeded_county_matches_independent_counts(demo_county):
    from agri.models import User

    admin = User.objects.get(username="demo-admin")
    admin.set_password("pw-for-this-test")
    admin.save()
    from rest_framework.test import APIClient

    client = APIClient()
    token = client.post("/api/v1/auth/login/", {"username": "demo-admin", "password": "pw-for-this-test"}).json()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token['token']}")
    year = timezone.localdate().year
    body = client.get(f"/api/v1/network/summary/?year={year}").json()

    # Independent counts, walking the objects in Python.
    experts = Counter(e.industry.code for e in Expert.objects.select_related("industry") if e.active)
    workers = [w for w in ExtensionWorker.objects.select_related("expert__industry") if w.active]
    households = list(ModelHousehold.objects.select_related("worker__expert__industry"))
    farmers = list(Farmer.objects.select_related("household__worker__expert__industry"))
    per_worker = Counter(h.worker_id for h in households)
    per_household = Counter(f.household_id for f in farmers)
    by_industry = {row["industry"]["code"]: row for row in body["industries"]}
    assert set(by_industry) == set(Industry.objects.values_list("code", flat=True))
    for code, row in by_industry.items():
        ws = [w for w in workers if w.expert.industry.code == code]
        hs = [h for h in households if h.worker.expert.industry.code == code]
        fs = [f for f in farmers if f.household.worker.expert.industry.code == code]
        assert row["experts"] == {"value": experts[code], "target": 1, "status": _status(experts[code], 1, 1)}
        assert row["workers"]["value"] == len(ws)
        assert row["workers"]["under_target_nodes"] == sum(1 for w in ws if per_worker[w.pk] < 10)
        township = sum(1 for w in ws if w.is_township_based)
        share = round(township / len(ws), 4) if ws else 0.0
        assert row["township_share"] == {"value": share, "target": 0.7, "status": _status(share, 0.7)}
        assert row["households"]["value"] == len(hs)
        assert row["households"]["target"] == 10 * len(ws)
        assert row["households"]["under_target_nodes"] == sum(1 for h in hs if per_household[h.pk] < 10)
        assert row["farmers"] == {
            "value": len(fs),
            "target": 10 * len(hs),
            "status": _status(len(fs), 10 * len(hs), 10 * len(hs)),
        }
    in_service = [
        c
        for c in TechCommissioner.objects.all()
        if c.active and c.service_start_year <= year and (c.service_end_year is None or c.service_end_year >= year)
    ]
    assert body["commissioners_in_service"] == {
        "value": len(in_service),
        "target": 40,
        "status": _status(len(in_service), 40),
    }
    bases = [b for b in DemonstrationBase.objects.all() if b.status != "revoked"]
    assert body["bases"]["value"] == len(bases) == 5
    assert body["bases"]["status"] == "met"
    assert body["field_schools"]["value"] == sum(1 for b in bases if hasattr(b, "field_school"))
    # The demo leaves realistic gaps: some industry is short of workers, and two have no expert.
    assert {row["experts"]["status"] for row in by_industry.values()} == {"met", "under"}
    assert "under" in {row["workers"]["status"] for row in by_industry.values()}


def test_seed_demo_is_deterministic_and_safe_to_run_twice(demo_county):
    def snapshot():
        return (
            ModelHousehold.objects.count(),
            Farmer.objects.count(),
            ExtensionWorker.objects.count(),
            TechCommissioner.objects.count(),
            sorted(ModelHousehold.objects.values_list("id", "head_name", "lat", "lon")),
        )

    before = snapshot()
    call_command("seed_demo", verbosity=0)
    assert snapshot() == before
    assert before[0] > 500 and before[1] > 5000


@pytest.mark.parametrize("county", [False, True])
def test_the_demo_has_as_many_visits_whatever_the_day_it_is_seeded(demo_county, county):
    """The documents state the demo's figures (``test_demo_figures.py``), and CI seeds it on whatever day it runs: how
    many visits each person makes must not depend on the year's calendar, only where in it they fall."""
    from agri.demo import DemoVisits
    from agri.demo.counties import CountyVisits
    from geo.demo import other_districts

    if county:
        call_command("seed_demo", "--counties", "1", "--county-visits", "0.1", verbosity=0)
        (district,) = other_districts(1)

    def planned(today):
        history = CountyVisits(district, today=today, scale=0.1) if county else DemoVisits(today=today)
        return [(kind, person.pk, len(items)) for kind, person, items in history.plan()]

    days = [date(2026, 12, 7), date(2026, 12, 8), date(2027, 3, 1), date(2028, 2, 29), date(2026, 6, 30)]
    plans = {day: planned(day) for day in days}
    first = plans[days[0]]
    assert sum(n for *_x, n in first) > (5000 if not county else 50)
    for day in days[1:]:
        assert plans[day] == first, day
    # The days themselves do follow the calendar: a year back from the day it is seeded.
    latest = max(item["started_at"] for _k, _p, items in DemoVisits(today=days[2]).plan() for item in items)
    assert latest.date() < days[2]


def test_seed_demo_stops_when_visits_could_not_be_stored_and_a_rerun_completes(demo_county, monkeypatch):
    """A chunk rolled back by a database error is reported, and the whole history with it, so that the next run
    does not take a partial history for a complete one."""
    from django.core.management.base import CommandError

    import agri.demo.visits
    from agri.models import Visit

    seeded_visits = Visit.objects.count()
    Visit.objects.all().delete()
    ingest = agri.demo.visits.visits_ingest  # DemoVisits.ingest calls it there
    calls = []

    def second_batch_fails(*, items, **kwargs):
        calls.append(len(items))
        if len(calls) < 2:
            return ingest(items=items, **kwargs)
        return ["created"] * (len(items) - 1) + ["failed"]

    monkeypatch.setattr(agri.demo.visits, "visits_ingest", second_batch_fails)
    with pytest.raises(CommandError, match="1 demo visits of .* could not be stored: run again"):
        call_command("seed_demo", verbosity=0)
    assert len(calls) == 2  # the stand-in ran: the first batch went through it, the second failed
    assert Visit.objects.count() == 0  # the first person's stored batch went too
    monkeypatch.setattr(agri.demo.visits, "visits_ingest", ingest)
    call_command("seed_demo", verbosity=0)
    assert Visit.objects.count() == seeded_visits


def test_seeded_demo_worker_sees_only_own_households_in_one_township(demo_county):
    from agri.models import User

    user = User.objects.get(username="demo-worker")
    user.set_password("pw-for-this-test")
    user.save()
    from rest_framework.test import APIClient

    client = APIClient()
    token = client.post("/api/v1/auth/login/", {"username": "demo-worker", "password": "pw-for-this-test"}).json()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token['token']}")
    rows = client.get("/api/v1/model-households/?page_size=500").json()
    worker = ExtensionWorker.objects.get(user=user)
    assert rows["count"] == ModelHousehold.objects.filter(worker=worker).count() > 0
    assert {r["worker"] for r in rows["results"]} == {worker.pk}
    assert len({r["village_code"][:9] for r in rows["results"]}) == 1


def test_expert_network_tree_has_counts_and_status_at_every_node(world, clients):
    from tests.factories import FarmerFactory, ModelHouseholdFactory

    for _ in range(9):  # W1 gets 10 households: on target
        ModelHouseholdFactory(worker=world["W1"], village=world.divisions["v1"])
    h1 = world["H1"]
    for _ in range(10):  # H1 gets 11 farmers: over target
        FarmerFactory(household=h1)
    body = clients["expert"].get(f"/api/v1/experts/{world['E1'].pk}/network/").json()
    assert body["counts"] == {
        "workers": 2,
        "township_workers": 2,
        "township_share": 1.0,
        "households": 11,
        "farmers": 12,
    }
    assert body["status"] == {"workers": "under", "township_share": "met"}
    nodes = {w["id"]: w for w in body["workers"]}
    assert nodes[world["W1"].pk]["households"] == 10
    assert nodes[world["W1"].pk]["status"] == "met"
    assert nodes[world["W2"].pk]["status"] == "under"
    h_nodes = {h["id"]: h for h in nodes[world["W1"].pk]["household_nodes"]}
    assert h_nodes[str(h1.pk)] == {
        "id": str(h1.pk),
        "head_name": h1.head_name,
        "village_code": "500235001001",
        "farmers": 11,
        "status": "over",
    }
    assert Counter(h["status"] for h in h_nodes.values()) == {"over": 1, "under": 9}


def test_summary_is_scoped_to_the_caller(world, clients):
    county = clients["admin"].get("/api/v1/network/summary/").json()
    township = clients["township_viewer"].get("/api/v1/network/summary/").json()
    citrus_county = next(r for r in county["industries"] if r["industry"]["code"] == "citrus")
    citrus_township = next(r for r in township["industries"] if r["industry"]["code"] == "citrus")
    assert citrus_county["workers"]["value"] == 2  # W1, W2; W9 is in the other county
    assert citrus_township["workers"]["value"] == 1  # only W1 lives in township T1
    assert county["bases"]["value"] == 2


def test_summary_rejects_a_bad_year(world, clients):
    response = clients["admin"].get("/api/v1/network/summary/?year=abc", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400
    assert response.json()["fields"]["year"][0]["message"] == "Give a year between 2000 and 2100."


def test_network_tree_query_count_is_constant(world, clients, django_assert_num_queries):
    from tests.factories import ModelHouseholdFactory

    client = login(world.users["admin"])
    url = f"/api/v1/experts/{world['E1'].pk}/network/"
    with django_assert_num_queries(4):
        client.get(url)
    for _ in range(30):
        ModelHouseholdFactory(worker=world["W2"], village=world.divisions["v2"])
    with django_assert_num_queries(4):
        body = client.get(url).json()
    assert body["counts"]["households"] == 32
