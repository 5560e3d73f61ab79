"""GIS exports through the API: every format read back with pyogrio, compared with the lists; scoping and roles."""

import uuid
import zipfile
from datetime import timedelta
from decimal import Decimal

import pandas as pd
import pyogrio
import pytest
import shapely
from django.test import override_settings
from django.utils import timezone

from agri.models import Visit
from tests import factories as f
from tests.agri.map_support import NOTES, map_world, push, push_visits, visit_body
from tests.support import assert_gdal_opens_cleanly, login

FORMATS = ["geojson", "gpkg", "shp", "kml"]
SUFFIX = {"geojson": "geojson", "gpkg": "gpkg", "shp": "zip", "kml": "kml"}


@pytest.fixture
def mapped(world):
    return map_world(world)


@pytest.fixture
def visits(mapped, clients):
    return push_visits(mapped, clients)


def download(client, path, tmp_path, fmt, **params):
    response = client.get(path, {"format": fmt, **params})
    assert response.status_code == 200, response.content if not response.streaming else response
    assert response.streaming
    filename = response["Content-Disposition"].split("filename=")[1].strip('"')
    assert filename.endswith("." + SUFFIX[fmt])
    target = tmp_path / f"{fmt}-{uuid.uuid4().hex}.{SUFFIX[fmt]}"
    target.write_bytes(b"".join(response.streaming_content))
    return response, target


def listed(client, path, **params) -> list[dict]:
    response = client.get(path, {"page_size": 1000, **params})
    assert response.status_code == 200
    return response.json()["results"]


# --- visits -------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_visit_export_matches_the_list_in_every_format(visits, clients, tmp_path, fmt):
    admin = clients["admin"]
    expected = {v["id"]: v for v in listed(admin, "/api/v1/visits/")}
    assert len(expected) == 7
    response, path = download(admin, "/api/v1/exports/visits/", tmp_path, fmt)
    assert response["Content-Type"].startswith(
        {
            "geojson": "application/geo+json",
            "gpkg": "application/geopackage+sqlite3",
            "shp": "application/zip",
            "kml": "application/vnd.google-earth.kml+xml",
        }[fmt]
    )
    frame = pyogrio.read_dataframe(path)
    assert sorted(frame["id"]) == sorted(expected)
    village = "vill_name" if fmt == "shp" else "village_name"
    village_code = "vill_code" if fmt == "shp" else "village_code"
    for _, got in frame.iterrows():
        want = expected[got["id"]]
        assert got["kind"] == want["kind"]
        assert got["notes"] == want["notes"]
        assert got[village_code] == want["division_code"]
        assert got["geometry"].x == pytest.approx(want["lon"], abs=1e-7)
        assert got["geometry"].y == pytest.approx(want["lat"], abs=1e-7)
        assert pd.Timestamp(got["started_at"]) == pd.Timestamp(want["started_at"])
        assert got["actor_type"] == "worker"
    assert set(frame[village]) == {"杏家湾社区", "青龙社区"}
    assert NOTES in set(frame["notes"])
    if fmt == "shp":
        with zipfile.ZipFile(path) as archive:
            assert archive.read("visits.cpg").decode().strip() == "UTF-8"
            assert "杏家湾社区".encode() in archive.read("visits.dbf")


def test_visit_export_attributes(visits, clients, tmp_path):
    _, path = download(clients["admin"], "/api/v1/exports/visits/", tmp_path, "gpkg")
    frame = pyogrio.read_dataframe(path).set_index("id")
    stored = Visit.objects.get(source_crs="gcj02")
    row = frame.loc[str(stored.pk)]
    assert row["source_crs"] == "gcj02" and pd.isna(row["accuracy_m"])
    # Stored (and exported) in WGS-84, not as sent.
    assert row["geometry"].x == pytest.approx(108.705, abs=1e-6) and row["geometry"].y == pytest.approx(
        30.955, abs=1e-6
    )
    assert row["actor_name"] == visits["W1"].name and row["actor_id"] == visits["W1"].pk
    assert row["household"] == str(visits["H1"].pk) and row["township_code"] == "500235001000"
    assert row["visit_date"] == stored.visit_date.isoformat()
    assert row["participants"] == 2 and row["photos_expected"] == 1 and row["photos_present"] == 0


@pytest.mark.parametrize(
    "params",
    [{"kind": "diagnosis"}, {"division": "500235002"}, {"date_from": "__5_days_ago__"}, {"search": "黄化"}],
)
def test_visit_export_takes_the_list_filters(visits, clients, tmp_path, params):
    if params.get("date_from"):
        params = {"date_from": (timezone.localdate() - timedelta(days=5)).isoformat()}
    admin = clients["admin"]
    expected = sorted(v["id"] for v in listed(admin, "/api/v1/visits/", **params))
    assert 0 < len(expected) < 7
    _, path = download(admin, "/api/v1/exports/visits/", tmp_path, "geojson", **params)
    assert sorted(pyogrio.read_dataframe(path)["id"]) == expected


def test_visit_export_is_scoped_to_the_callers_jurisdiction(visits, clients, tmp_path):
    _, path = download(clients["township_viewer"], "/api/v1/exports/visits/", tmp_path, "gpkg")
    frame = pyogrio.read_dataframe(path)
    assert len(frame) == 5 and set(frame["township_code"]) == {"500235001000"}
    outsider = f.UserFactory(role="bureau_viewer", jurisdiction="500236")
    _, path = download(login(outsider), "/api/v1/exports/visits/", tmp_path, "gpkg")
    assert len(pyogrio.read_dataframe(path)) == 0


@pytest.mark.parametrize("role", ["worker", "expert", "commissioner", "station"])
def test_only_bureau_staff_may_export(visits, clients, role):
    response = clients[role].get("/api/v1/exports/visits/", {"format": "gpkg"})
    assert response.status_code == 403
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"] == "permission_denied"


def test_anonymous_export_is_refused(visits, client):
    response = client.get("/api/v1/exports/visits/?format=shp")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_unknown_format_and_bad_filters_are_json_400s(visits, clients):
    response = clients["admin"].get("/api/v1/exports/visits/", {"format": "xlsx"})
    assert response.status_code == 400 and response["Content-Type"] == "application/json"
    assert "format" in response.json()["fields"]
    response = clients["admin"].get("/api/v1/exports/visits/", {"format": "gpkg", "bbox": "1,2,3"})
    assert response.status_code == 400 and response["Content-Type"] == "application/json"
    assert "bbox" in response.json()["fields"]
    response = clients["admin"].get("/api/v1/exports/visits/", {"format": "kml", "date_from": "yesterday"})
    assert response.status_code == 400 and "date_from" in response.json()["fields"]


def test_default_format_is_geojson(visits, clients):
    response = clients["admin"].get("/api/v1/exports/visits/")
    assert response.status_code == 200 and response["Content-Type"] == "application/geo+json"
    assert b'"type":"FeatureCollection"' in b"".join(response.streaming_content)


@pytest.mark.parametrize("fmt", FORMATS)
def test_rows_written_in_small_chunks_are_all_there(visits, clients, tmp_path, fmt):
    with override_settings(EXPORT_CHUNK_ROWS=2):
        _, path = download(clients["admin"], "/api/v1/exports/visits/", tmp_path, fmt)
    frame = pyogrio.read_dataframe(path)
    assert len(frame) == 7 and frame["id"].is_unique


@pytest.mark.parametrize("fmt", ["geojson", "gpkg"])
def test_visit_export_query_count_does_not_grow_with_rows(mapped, clients, tmp_path, fmt, django_assert_num_queries):
    # One query authenticates (the token with its user, agri.api.authentication); one reads the visits (chunked cursor).
    admin = clients["admin"]
    for n in (1, 12):
        Visit.objects.all().delete()
        push(clients["worker"], [visit_body(mapped, "H1", 108.70 + i / 1000, 30.95) for i in range(n)])
        with django_assert_num_queries(2):
            _, path = download(admin, "/api/v1/exports/visits/", tmp_path, fmt)
        assert len(pyogrio.read_dataframe(path)) == n


def test_deleted_visits_are_not_exported(visits, clients, tmp_path):
    victim = Visit.objects.filter(user=visits.users["worker"]).first()
    assert clients["worker"].delete(f"/api/v1/visits/{victim.pk}/").status_code == 204
    _, path = download(clients["admin"], "/api/v1/exports/visits/", tmp_path, "geojson")
    ids = set(pyogrio.read_dataframe(path)["id"])
    assert len(ids) == 6 and str(victim.pk) not in ids


# --- model households ------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_household_export_masks_phones_for_viewers_only(world, clients, tmp_path, fmt):
    h1 = world["H1"]
    h1.phone = "13812341234"
    h1.head_name = "陈大富"
    h1.save()
    h1.industries.set([world.industries["goats"], world.industries["citrus"]])
    f.FarmerFactory(household=h1)
    _, path = download(clients["admin"], "/api/v1/exports/model-households/", tmp_path, fmt)
    frame = pyogrio.read_dataframe(path).set_index("id")
    assert sorted(frame.index) == sorted(str(world[h].pk) for h in ("H1", "H2", "H3"))  # not Fengjie's H9
    row = frame.loc[str(h1.pk)]
    assert row["Name" if fmt == "kml" else "head_name"] == "陈大富"
    assert row["phone"] == "13812341234"
    assert row["industries"] == "citrus,goats"
    assert int(row["farmers"]) == 2
    assert row["worker_nm" if fmt == "shp" else "worker_name"] == world["W1"].name
    assert row["geometry"].x == pytest.approx(h1.lon) and row["geometry"].y == pytest.approx(h1.lat)
    _, path = download(clients["viewer"], "/api/v1/exports/model-households/", tmp_path, fmt)
    assert pyogrio.read_dataframe(path).set_index("id").loc[str(h1.pk), "phone"] == "138****1234"


def test_household_export_takes_the_list_filters(world, clients, tmp_path):
    expected = sorted(h["id"] for h in listed(clients["admin"], "/api/v1/model-households/", division="500235002"))
    _, path = download(clients["admin"], "/api/v1/exports/model-households/", tmp_path, "gpkg", division="500235002")
    assert sorted(pyogrio.read_dataframe(path)["id"]) == expected == [str(world["H2"].pk)]


def test_household_export_query_count_does_not_grow_with_rows(world, clients, tmp_path, django_assert_num_queries):
    # auth (1) + households (1) + their industries (1 per chunk)
    for n in (0, 20):
        for _ in range(n):
            household = f.ModelHouseholdFactory(worker=world["W1"], village=world.divisions["v1"])
            household.industries.set([world.industries["citrus"]])
        with django_assert_num_queries(3):
            _, path = download(clients["admin"], "/api/v1/exports/model-households/", tmp_path, "gpkg")
        assert len(pyogrio.read_dataframe(path)) == 3 + n


# --- demonstration bases --------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_base_export_as_points_or_parcels(world, clients, tmp_path, fmt):
    b1 = world["B1"]
    parcel = shapely.box(108.700, 30.950, 108.704, 30.953)
    b1.parcel = shapely.geometry.mapping(parcel)
    b1.area_mu = Decimal("320.50")
    b1.name = "双土脐橙试验示范基地"
    b1.save()
    _, path = download(clients["admin"], "/api/v1/exports/demonstration-bases/", tmp_path, fmt)
    frame = pyogrio.read_dataframe(path)
    frame["id"] = frame["id"].astype(int)
    frame = frame.set_index("id")
    assert sorted(frame.index) == sorted([world["B1"].pk, world["B2"].pk])
    row = frame.loc[b1.pk]
    assert row["Name" if fmt == "kml" else "name"] == "双土脐橙试验示范基地"
    assert float(row["area_mu"]) == 320.5
    assert row["school" if fmt == "shp" else "field_school"] == world["FS1"].name
    assert row["geometry"].geom_type == "Point" and row["geometry"].x == pytest.approx(b1.lon)

    _, path = download(clients["admin"], "/api/v1/exports/demonstration-bases/", tmp_path, fmt, geometry="parcel")
    frame = pyogrio.read_dataframe(path)
    frame["id"] = frame["id"].astype(int)
    frame = frame.set_index("id")
    assert frame.loc[b1.pk, "geometry"].area == pytest.approx(parcel.area)
    no_parcel = frame.loc[world["B2"].pk, "geometry"]
    assert no_parcel is None or no_parcel.is_empty


def test_base_export_rejects_unknown_geometry(world, clients):
    response = clients["admin"].get("/api/v1/exports/demonstration-bases/", {"geometry": "hexagon"})
    assert response.status_code == 400 and "geometry" in response.json()["fields"]


# --- every export, as GDAL reads it ------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/exports/visits/",
        "/api/v1/exports/model-households/",
        "/api/v1/exports/demonstration-bases/",
        "/api/v1/exports/coverage/",
    ],
)
def test_gdal_opens_every_export_without_a_warning(visits, clients, tmp_path, path, fmt):
    _, target = download(clients["admin"], path, tmp_path, fmt)
    summary = assert_gdal_opens_cleanly(target)
    assert "Feature Count: 0" not in summary


@pytest.mark.parametrize(
    "path", ["visits", "model-households", "demonstration-bases", "coverage", "photos"], ids=lambda p: p
)
def test_options_on_an_export_describes_it(world, clients, path):
    """An export answers GET (the file) and POST (the same export as a job): OPTIONS names both and has no form to
    describe, since the export's query is its parameters (it was a 500 once POST came)."""
    response = clients["admin"].options(f"/api/v1/exports/{path}/")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["name"] and "actions" not in body
    assert {"GET", "POST"} <= {m.strip() for m in response["Allow"].split(",")}
