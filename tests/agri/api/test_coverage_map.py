"""GET /api/v1/coverage/map.png and /api/v1/exports/coverage/: the coverage query drawn and exported."""

import io
from datetime import timedelta
from unittest import mock

import pyogrio
import pytest
import shapely
from django.utils import timezone
from PIL import Image

from geo import maps
from tests.agri.map_support import TOWNSHIPS, map_world, push_visits

PNG = "/api/v1/coverage/map.png"


@pytest.fixture
def visits(world, clients):
    return push_visits(map_world(world), clients)


def coverage_json(client, **params) -> dict:
    response = client.get("/api/v1/coverage/divisions/", {"level": "township", **params})
    assert response.status_code == 200, response.content
    return {f["properties"]["code"]: f["properties"] for f in response.json()["features"]}


def drawn(client, **params):
    """GET map.png; return the decoded image and what was handed to geo.maps to draw."""
    with mock.patch("geo.maps.render_choropleth", wraps=maps.render_choropleth) as render:
        response = client.get(PNG, params)
    assert response.status_code == 200, response.content
    assert render.called, "geo.maps.render_choropleth was not called through the patch"
    assert response["Content-Type"] == "image/png"
    image = Image.open(io.BytesIO(response.content))
    image.load()
    (features, value, spec), _ = render.call_args
    return image, features, value, spec


def test_map_png_draws_the_coverage_of_the_callers_townships(visits, clients):
    image, features, value, spec = drawn(clients["admin"])
    assert image.format == "PNG" and image.size == (1200, 1200)
    assert value == "coverage"
    expected = coverage_json(clients["admin"])
    assert {f["code"]: f["coverage"] for f in features} == {c: p["coverage"] for c, p in expected.items()}
    assert set(expected) == {"500235001000", "500235002000"}  # Yunyang's townships only
    assert {f["code"]: f["visits"] for f in features} == {"500235001000": 5, "500235002000": 2}
    assert spec.title == "云阳县各乡镇示范户走访覆盖率"
    assert spec.legend_title == "覆盖率" and spec.percent is True
    assert spec.subtitle == "全部日期"
    assert "合成" not in spec.footnote and "农技" in spec.footnote


def test_map_png_filters_and_titles(visits, clients):
    since = timezone.localdate() - timedelta(days=3)
    _, features, value, spec = drawn(
        clients["admin"], value="visits", kind="diagnosis", industry="citrus", date_from=since.isoformat()
    )
    assert value == "visits"
    assert {f["code"]: f["visits"] for f in features} == {"500235001000": 1, "500235002000": 0}
    assert spec.title == "云阳县各乡镇服务次数" and spec.percent is False
    assert spec.subtitle == f"{since.isoformat()} 至 今 · 产业：柑橘 · 服务类型：病虫害诊断"


def test_map_png_footnotes_synthetic_boundaries(world, clients):
    map_world(world, synthetic=True)
    _, _, _, spec = drawn(clients["admin"], level="village", value="visits")
    assert "边界为合成示意" in spec.footnote
    assert spec.title == "云阳县各村服务次数"


def test_township_viewer_map_is_titled_and_scoped_by_jurisdiction(visits, clients):
    _, features, _, spec = drawn(clients["township_viewer"], level="village")
    assert spec.title == "双江街道各村示范户走访覆盖率"
    assert {f["code"] for f in features} == {"500235001001", "500235001003"}


def test_map_png_errors_are_json(visits, clients, client):
    response = clients["admin"].get(PNG, {"value": "rainfall"})
    assert response.status_code == 400 and response["Content-Type"] == "application/json"
    assert "value" in response.json()["fields"]
    response = clients["admin"].get(PNG, {"date_from": "2025-05-01", "date_to": "2025-04-01"})
    assert response.status_code == 400 and "date_to" in response.json()["fields"]
    response = clients["station"].get(PNG)
    assert response.status_code == 403 and response.json()["code"] == "no_coverage_slice"
    assert client.get(PNG).status_code == 401


def test_map_png_without_boundaries_is_a_404(world, clients):
    response = clients["admin"].get(PNG, {"level": "village"}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 404
    assert response.json()["message"] == "No division at this level has a boundary to draw."


def test_map_png_ignores_the_accept_header(visits, clients):
    response = clients["admin"].get(PNG, HTTP_ACCEPT="application/json")
    assert response.status_code == 200 and response["Content-Type"] == "image/png"


def test_a_worker_gets_a_map_of_their_own_visits(visits, clients):
    _, features, _, _ = drawn(clients["worker"], value="visits")
    assert {f["code"]: f["visits"] for f in features} == {"500235001000": 5}


# --- coverage export ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["geojson", "gpkg", "shp", "kml"])
def test_coverage_export_matches_the_coverage_endpoint(visits, clients, tmp_path, fmt):
    admin = clients["admin"]
    expected = coverage_json(admin)
    response = admin.get("/api/v1/exports/coverage/", {"format": fmt, "level": "township"})
    assert response.status_code == 200
    path = tmp_path / f"coverage.{ {'shp': 'zip'}.get(fmt, fmt) }"
    path.write_bytes(b"".join(response.streaming_content))
    frame = pyogrio.read_dataframe(path).set_index("code")
    assert set(frame.index) == set(expected)
    short = {"households_visited": "hh_visited", "workers_active": "workers"} if fmt == "shp" else {}
    for code, props in expected.items():
        row = frame.loc[code]
        assert row["Name" if fmt == "kml" else "name"] == props["name"]
        for key in ("visits", "households_visited", "households", "workers_active"):
            assert int(row[short.get(key, key)]) == props[key]
        assert float(row["coverage"]) == pytest.approx(props["coverage"])
        assert str(row["last_visit"])[:10] == props["last_visit"]
        assert row["geometry"].area == pytest.approx(TOWNSHIPS[code][2].area, rel=1e-3)
        assert row["geometry"].representative_point().within(shapely.buffer(TOWNSHIPS[code][2], 1e-4))


def test_coverage_export_takes_the_coverage_filters(visits, clients, tmp_path):
    response = clients["admin"].get("/api/v1/exports/coverage/", {"format": "gpkg", "kind": "diagnosis"})
    path = tmp_path / "c.gpkg"
    path.write_bytes(b"".join(response.streaming_content))
    frame = pyogrio.read_dataframe(path).set_index("code")
    assert frame.loc["500235001000", "visits"] == 2 and frame.loc["500235002000", "visits"] == 0
    response = clients["admin"].get("/api/v1/exports/coverage/", {"level": "city"})
    assert response.status_code == 400 and "level" in response.json()["fields"]
    assert clients["worker"].get("/api/v1/exports/coverage/").status_code == 403


def test_map_scheme_choices_are_the_ones_geo_draws():
    from agri.api.map_views import SCHEMES

    assert set(SCHEMES) == set(maps.SCHEMES)
