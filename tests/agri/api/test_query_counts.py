"""Every list endpoint answers in a fixed number of queries, whether it returns 5 rows or 50 (no N+1).

Each case starts from the shared world, tops the list up to 5 rows visible to the bureau admin, requests it,
tops it up to 50 and requests it again under the same hard-coded query budget. The budget includes the
authentication itself: one query for the token with its user and the user's linked person
(``agri.api.authentication``; the user's other expired tokens are cleared when the token's expiry is renewed, not on
every request).
"""

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.conf import settings
from django.test import override_settings

from agri.models import DeviceToken, FieldSchool
from agri.validators import with_check_digit
from geo.codes import Level
from geo.models import AdminDivision
from tests import factories as f
from tests.support import login

PAGE = "?page_size=100"


def _villages(world):
    d = world.divisions
    return [d["v1"], d["v1b"], d["v2"]]


def add_industries(world, n):
    for _ in range(n):
        f.IndustryFactory()


def add_divisions(world, n):
    # Villages under Yunyang's two townships; listed with ?level=village.
    start = AdminDivision.objects.filter(level=Level.VILLAGE).count()
    for i in range(start, start + n):
        township = world.divisions["t1" if i % 2 else "t2"]
        f.DivisionFactory(code=f"{township.code[:9]}{100 + i:03d}", level=Level.VILLAGE, parent=township)


def add_stations(world, n):
    citrus, goats = world.industries["citrus"], world.industries["goats"]
    villages = _villages(world)
    for i in range(n):
        station = f.StationFactory(village=villages[i % 3])
        station.industries.set([citrus, goats] if i % 2 else [citrus])


def add_bases(world, n):
    """Bases come with their one field school, as the API creates them."""
    industries = [world.industries["citrus"], world.industries["goats"]]
    villages = _villages(world)
    for i in range(n):
        base = f.DemonstrationBaseFactory(industry=industries[i % 2], village=villages[i % 3])
        FieldSchool.objects.create(base=base, name=f"{base.name}农民田间学校", capacity=40)
        world["C1"].bases.add(base)


def add_experts(world, n):
    """One active expert per industry and county: each extra expert leads a new industry, with two workers."""
    d = world.divisions
    for _ in range(n):
        expert = f.ExpertFactory(industry=f.IndustryFactory(), county=d["yunyang"])
        f.ExtensionWorkerFactory(expert=expert, home_township=d["t1"])
        f.ExtensionWorkerFactory(expert=expert, home_township=d["t2"], active=False)


def add_workers(world, n):
    d = world.divisions
    for i in range(n):
        township, village = (d["t1"], d["v1"]) if i % 2 else (d["t2"], d["v2"])
        worker = f.ExtensionWorkerFactory(expert=world["E1" if i % 2 else "E2"], home_township=township)
        for _ in range(2):
            f.ModelHouseholdFactory(worker=worker, village=village)


def add_commissioners(world, n):
    d = world.divisions
    for i in range(n):
        commissioner = f.TechCommissionerFactory(county=d["yunyang"], service_start_year=2020 + i % 5)
        station = f.StationFactory(village=d["v1"])
        commissioner.stations.set([world["S1"], station])
        commissioner.bases.set([world["B1"]] if i % 2 else [world["B1"], world["B2"]])


def add_households(world, n):
    citrus, goats = world.industries["citrus"], world.industries["goats"]
    workers = [(world["W1"], world.divisions["v1"]), (world["W2"], world.divisions["v2"])]
    for i in range(n):
        worker, village = workers[i % 2]
        household = f.ModelHouseholdFactory(worker=worker, village=village)
        household.industries.set([citrus, goats] if i % 2 else [goats])
        for _ in range(1 + i % 3):
            f.FarmerFactory(household=household)


def add_farmers(world, n):
    households = [world["H1"], world["H2"], world["H3"]]
    start = 100 + len(households) + sum(h.farmers.count() for h in households)
    for i in range(start, start + n):
        f.FarmerFactory(household=households[i % 3], id_number=with_check_digit(f"50023519880315{i:03d}"))


def add_devices(world, n):
    """The admin logs in from ``n`` more phones (the per-user token limit raised so 50 fit)."""
    knox = {**settings.REST_KNOX, "TOKEN_LIMIT_PER_USER": 100}
    with override_settings(REST_KNOX=knox):
        for _ in range(n):
            login(world.users["admin"], device=f"phone-{DeviceToken.objects.count()}")


@dataclass(frozen=True)
class Case:
    url: str
    add: Callable  # add(world, n): n more rows in the list the admin gets
    in_world: int  # rows the world already shows Yunyang's bureau admin (devices: the test's own login)
    queries: int  # the whole request, authentication included


CASES = {
    "industries": Case(f"/api/v1/industries/{PAGE}", add_industries, 2, 3),
    "divisions": Case(f"/api/v1/divisions/{PAGE}&level=village", add_divisions, 3, 3),
    "stations": Case(f"/api/v1/stations/{PAGE}", add_stations, 2, 4),
    "demonstration-bases": Case(f"/api/v1/demonstration-bases/{PAGE}", add_bases, 2, 3),
    "field-schools": Case(f"/api/v1/field-schools/{PAGE}", add_bases, 2, 3),
    "experts": Case(f"/api/v1/experts/{PAGE}", add_experts, 2, 3),
    "extension-workers": Case(f"/api/v1/extension-workers/{PAGE}", add_workers, 3, 3),
    "tech-commissioners": Case(f"/api/v1/tech-commissioners/{PAGE}", add_commissioners, 2, 5),
    "model-households": Case(f"/api/v1/model-households/{PAGE}", add_households, 3, 4),
    "farmers": Case(f"/api/v1/farmers/{PAGE}", add_farmers, 3, 3),
    "auth/devices": Case(f"/api/v1/auth/devices/{PAGE}", add_devices, 1, 3),
}


@pytest.mark.parametrize("name", list(CASES))
def test_list_query_count_does_not_grow_with_rows(world, django_assert_num_queries, name):
    case = CASES[name]
    client = login(world.users["admin"])

    case.add(world, 5 - case.in_world)
    with django_assert_num_queries(case.queries):
        response = client.get(case.url)
    assert response.status_code == 200, response.content
    assert response.json()["count"] == 5
    assert len(response.json()["results"]) == 5

    case.add(world, 45)
    with django_assert_num_queries(case.queries):
        response = client.get(case.url)
    assert response.status_code == 200, response.content
    assert response.json()["count"] == 50
    assert len(response.json()["results"]) == 50
    assert len({row.get("id", row.get("code", row.get("token_key"))) for row in response.json()["results"]}) == 50
