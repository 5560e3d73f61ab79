"""The shared two-county world with every role, and logging in as a phone does: plain helpers for any test module
(the fixtures ``world`` and ``clients`` in tests/conftest.py are built from them)."""

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from agri.models import Role
from geo.codes import Level
from tests import factories as f

YUNYANG = "500235000000"
FENGJIE = "500236000000"  # the neighbouring county: everything there is out of scope for Yunyang accounts
WANZHOU = "500101000000"  # a district of the other "city" of Chongqing (5001): out of scope for a 5002 account


@dataclass
class World:
    """Named objects: own (T1), sibling (T2 / another worker) and out-of-county (Fengjie) slices."""

    divisions: dict = field(default_factory=dict)
    industries: dict = field(default_factory=dict)
    objects: dict = field(default_factory=dict)
    users: dict = field(default_factory=dict)

    def __getitem__(self, name):
        return self.objects[name]


def build_divisions() -> dict:
    d = {}
    d["province"] = f.DivisionFactory(code="500000000000", name="重庆市", level=Level.PROVINCE)
    d["city"] = f.DivisionFactory(code="500200000000", name="县", level=Level.CITY, parent=d["province"])
    d["yunyang"] = f.DivisionFactory(code=YUNYANG, name="云阳县", level=Level.COUNTY, parent=d["city"])
    d["fengjie"] = f.DivisionFactory(code=FENGJIE, name="奉节县", level=Level.COUNTY, parent=d["city"])
    d["t1"] = f.DivisionFactory(code="500235001000", name="双江街道", level=Level.TOWNSHIP, parent=d["yunyang"])
    d["t2"] = f.DivisionFactory(code="500235002000", name="青龙街道", level=Level.TOWNSHIP, parent=d["yunyang"])
    d["t9"] = f.DivisionFactory(code="500236001000", name="永安街道", level=Level.TOWNSHIP, parent=d["fengjie"])
    d["v1"] = f.DivisionFactory(code="500235001001", name="杏家湾社区", level=Level.VILLAGE, parent=d["t1"])
    d["v1b"] = f.DivisionFactory(code="500235001003", name="黄金包社区", level=Level.VILLAGE, parent=d["t1"])
    d["v2"] = f.DivisionFactory(code="500235002001", name="青龙社区", level=Level.VILLAGE, parent=d["t2"])
    d["v9"] = f.DivisionFactory(code="500236001001", name="永安社区", level=Level.VILLAGE, parent=d["t9"])
    return d


def build_world() -> World:
    w = World(divisions=build_divisions())
    d = w.divisions
    citrus = f.IndustryFactory(code="citrus", name="柑橘", sort_order=1)
    goats = f.IndustryFactory(code="goats", name="山羊", sort_order=2)
    w.industries = {"citrus": citrus, "goats": goats}
    o = w.objects
    o["E1"] = f.ExpertFactory(industry=citrus, county=d["yunyang"])
    o["E2"] = f.ExpertFactory(industry=goats, county=d["yunyang"])
    o["E9"] = f.ExpertFactory(industry=citrus, county=d["fengjie"])
    o["W1"] = f.ExtensionWorkerFactory(expert=o["E1"], home_township=d["t1"])
    o["W2"] = f.ExtensionWorkerFactory(expert=o["E1"], home_township=d["t2"])
    o["W3"] = f.ExtensionWorkerFactory(expert=o["E2"], home_township=d["t1"])
    o["W9"] = f.ExtensionWorkerFactory(expert=o["E9"], home_township=d["t9"])
    o["H1"] = f.ModelHouseholdFactory(worker=o["W1"], village=d["v1"])
    o["H2"] = f.ModelHouseholdFactory(worker=o["W2"], village=d["v2"])
    o["H3"] = f.ModelHouseholdFactory(worker=o["W3"], village=d["v1b"])
    o["H9"] = f.ModelHouseholdFactory(worker=o["W9"], village=d["v9"])
    for n in "1239":
        o[f"F{n}"] = f.FarmerFactory(household=o[f"H{n}"])
    o["S1"] = f.StationFactory(village=d["v1"])
    o["S1"].industries.set([citrus])
    o["S2"] = f.StationFactory(village=d["v2"])
    o["S2"].industries.set([goats])
    o["S9"] = f.StationFactory(village=d["v9"])
    o["S9"].industries.set([citrus])
    o["B1"] = f.DemonstrationBaseFactory(industry=citrus, village=d["v1"])
    o["B2"] = f.DemonstrationBaseFactory(industry=goats, village=d["v2"])
    o["B9"] = f.DemonstrationBaseFactory(industry=citrus, village=d["v9"])
    for n in "129":
        o[f"FS{n}"] = _school(o[f"B{n}"])
    o["C1"] = f.TechCommissionerFactory(county=d["yunyang"])
    o["C1"].stations.set([o["S1"]])
    o["C1"].bases.set([o["B1"]])
    o["C2"] = f.TechCommissionerFactory(county=d["yunyang"])
    o["C2"].stations.set([o["S2"]])
    o["C9"] = f.TechCommissionerFactory(county=d["fengjie"])
    o["C9"].stations.set([o["S9"]])

    u = w.users
    u["admin"] = f.UserFactory(username="admin", role=Role.BUREAU_ADMIN, jurisdiction="500235")
    u["viewer"] = f.UserFactory(username="viewer", role=Role.BUREAU_VIEWER, jurisdiction="500235")
    u["township_viewer"] = f.UserFactory(username="township-viewer", role=Role.BUREAU_VIEWER, jurisdiction="500235001")
    u["expert"] = f.UserFactory(username="expert", role=Role.EXPERT, jurisdiction="500235")
    u["worker"] = f.UserFactory(username="worker", role=Role.WORKER, jurisdiction="500235001")
    u["worker2"] = f.UserFactory(username="worker2", role=Role.WORKER, jurisdiction="500235002")
    u["commissioner"] = f.UserFactory(username="commissioner", role=Role.COMMISSIONER, jurisdiction="500235")
    u["station"] = f.UserFactory(username="station", role=Role.STATION_MANAGER, jurisdiction="500235", station=o["S1"])
    for person, user in (("E1", "expert"), ("W1", "worker"), ("W2", "worker2"), ("C1", "commissioner")):
        o[person].user = u[user]
        o[person].save(update_fields=["user"])
    return w


def add_other_city(w: World) -> World:
    """The world with a district of Chongqing's other city (Wanzhou, 5001) holding one of everything (``E8``, ``W8``,
    ``H8``, ``F8``, ``S8``, ``B8``, ``FS8``, ``C8``), and two wider bureau accounts: the province's admin (``50``) and
    the viewer of Chongqing's counties (``5002``: Yunyang and Fengjie, not Wanzhou)."""
    d = w.divisions
    citrus = w.industries["citrus"]
    d["city1"] = f.DivisionFactory(code="500100000000", name="市辖区", level=Level.CITY, parent=d["province"])
    d["wanzhou"] = f.DivisionFactory(code=WANZHOU, name="万州区", level=Level.COUNTY, parent=d["city1"])
    d["t8"] = f.DivisionFactory(code="500101001000", name="高笋塘街道", level=Level.TOWNSHIP, parent=d["wanzhou"])
    d["v8"] = f.DivisionFactory(code="500101001001", name="高笋塘社区", level=Level.VILLAGE, parent=d["t8"])
    o = w.objects
    o["E8"] = f.ExpertFactory(industry=citrus, county=d["wanzhou"])
    o["W8"] = f.ExtensionWorkerFactory(expert=o["E8"], home_township=d["t8"])
    o["H8"] = f.ModelHouseholdFactory(worker=o["W8"], village=d["v8"])
    o["F8"] = f.FarmerFactory(household=o["H8"])
    o["S8"] = f.StationFactory(village=d["v8"])
    o["S8"].industries.set([citrus])
    o["B8"] = f.DemonstrationBaseFactory(industry=citrus, village=d["v8"])
    o["FS8"] = _school(o["B8"])
    o["C8"] = f.TechCommissionerFactory(county=d["wanzhou"])
    o["C8"].stations.set([o["S8"]])
    w.users["province"] = f.UserFactory(username="province", role=Role.BUREAU_ADMIN, jurisdiction="50")
    w.users["city"] = f.UserFactory(username="city", role=Role.BUREAU_VIEWER, jurisdiction="5002")
    return w


def _school(base):
    from agri.models import FieldSchool

    return FieldSchool.objects.create(base=base, name=f"{base.name}农民田间学校")


def login(user, device: str = "pytest") -> APIClient:
    """An APIClient authenticated the way a phone is: POST /auth/login/, then the token header."""
    client = APIClient()
    response = client.post("/api/v1/auth/login/", {"username": user.username, "password": f.PASSWORD, "device": device})
    assert response.status_code == 200, response.content
    client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    return client


def attempt_login(username: str, password: str, **extra):
    """One POST /auth/login/ from a fresh client without a device name (``extra``: headers such as REMOTE_ADDR); the
    response, whatever it says."""
    return APIClient().post("/api/v1/auth/login/", {"username": username, "password": password}, **extra)


def demo_client(username: str) -> APIClient:
    """Log in as a seeded demo account (``seed_demo``) with its password, as a phone or browser would."""
    client = APIClient()
    response = client.post("/api/v1/auth/login/", {"username": username, "password": settings.DEMO_PASSWORD})
    assert response.status_code == 200, response.content
    client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    return client


def assert_gdal_opens_cleanly(path) -> str:
    """GDAL's own ``ogrinfo`` (Debian's gdal-bin, 3.6 on these machines: the GDAL of QGIS LTR and most desktops, not
    the newer one inside the pyogrio wheel that wrote the file) reads every layer of ``path`` with no warning or
    error. Returns its summary. Without gdal-bin the test skips, or fails when ``REQUIRE_GDAL`` is set (CI)."""
    binary = shutil.which("ogrinfo")
    if binary is None:
        message = "ogrinfo not found: install Debian's gdal-bin (.ci/run does)"
        if os.environ.get("REQUIRE_GDAL"):
            pytest.fail(message)
        pytest.skip(message)
    path = Path(path)
    source = f"/vsizip/{path}" if path.suffix == ".zip" else str(path)
    result = subprocess.run([binary, "-al", "-so", source], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr and "ERROR" not in result.stderr, result.stderr
    assert "Feature Count: " in result.stdout, result.stdout
    return result.stdout


def query_plan(queryset) -> str:
    """The plan of ``queryset`` as one string: SQLite's EXPLAIN QUERY PLAN, or PostgreSQL's EXPLAIN with sequential
    scans, bitmap scans and sorts priced out, so that a small test table still shows which index can serve it (with
    a few thousand rows PostgreSQL would rather sort a person's 40 visits; at a province's size it walks the index,
    docs/performance.md)."""
    from django.db import connection, transaction

    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
            return " / ".join(str(row[-1]) for row in cursor.fetchall())
        with transaction.atomic():
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("SET LOCAL enable_bitmapscan = off")
            cursor.execute("SET LOCAL enable_sort = off")
            cursor.execute(f"EXPLAIN {sql}", params)
            return " / ".join(row[0].strip() for row in cursor.fetchall())


def stored_visit(world, scope_code: str = "500235001001", **actor):
    """A visit to H1 stored through the ORM, as the write path would have stored it, on 2025-05-06 in
    ``scope_code``; ``actor``: who wrote it (the worker W1 by default)."""
    from datetime import UTC, date, datetime

    from agri.models import Visit

    return Visit.objects.create(
        user=world.users["worker"],
        **(actor or {"worker": world["W1"]}),
        household=world["H1"],
        kind="guidance",
        started_at=datetime(2025, 5, 6, 2, 0, tzinfo=UTC),
        visit_date=date(2025, 5, 6),
        lat=30.9,
        lon=108.7,
        client_lat=30.9,
        client_lon=108.7,
        scope_code=scope_code,
        payload_sha256="0" * 64,
    )
