"""GET /api/v1/coverage/map.png and /api/v1/exports/coverage/: the coverage query drawn and exported."""

import io
from datetime import timedelta
from unittest import mock

import pyogrio
import pytest
import shapely
from django.utils import timezone
from matplotlib.colors import to_hex
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


def test_map_scheme_and_value_choices_are_the_ones_geo_draws_and_the_web_map_offers():
    from agri.api.coverage_serializers import DivisionCoverageQuerySerializer, HexagonQuerySerializer
    from agri.api.map_views import MAP_VALUES, CoverageMapQuerySerializer

    for serializer in (CoverageMapQuerySerializer, DivisionCoverageQuerySerializer, HexagonQuerySerializer):
        assert set(serializer().fields["scheme"].choices) == set(maps.SCHEMES)
    for serializer in (CoverageMapQuerySerializer, DivisionCoverageQuerySerializer):
        assert set(serializer().fields["value"].choices) == set(MAP_VALUES)


# --- the classes the web map and the PNG share ---------------------------------------------------------------


def test_divisions_with_a_scheme_carry_the_legend_and_each_division_its_class(visits, clients):
    admin = clients["admin"]
    plain = admin.get("/api/v1/coverage/divisions/", {"level": "village"}).json()
    assert "classification" not in plain and all("map_class" not in f["properties"] for f in plain["features"])

    body = admin.get(
        "/api/v1/coverage/divisions/",
        {"level": "village", "scheme": "fisher_jenks", "value": "visits"},
        HTTP_ACCEPT_LANGUAGE="en",
    ).json()
    legend = body["classification"]
    assert (legend["value"], legend["scheme"], legend["percent"]) == ("visits", "fisher_jenks", False)
    classes = {c["key"]: c for c in legend["classes"]}
    members = {f["id"]: f["properties"]["map_class"] for f in body["features"]}
    visits = {f["id"]: f["properties"]["visits"] for f in body["features"]}
    # Village 500235001001 has the five visits of township 1, 500235002001 the two of township 2; 500235001003 none.
    assert visits == {"500235001001": 5, "500235001003": 0, "500235002001": 2}
    assert members["500235001003"] == "unvisited" and classes["unvisited"]["label"] == "Not visited"
    assert members["500235001001"] != members["500235002001"]
    for code in ("500235001001", "500235002001"):
        cls = classes[members[code]]
        assert cls["lower"] <= visits[code] <= cls["upper"]
    assert sum(c["count"] for c in legend["classes"]) == 3
    labels = [c["label"] for c in legend["classes"] if c["lower"] is not None]
    assert labels == ["1–2", "3–5"]

    chinese = admin.get("/api/v1/coverage/divisions/", {"level": "village", "scheme": "quantiles"}).json()
    names = {c["key"]: c["label"] for c in chinese["classification"]["classes"]}
    assert names["unvisited"] == "未走访"
    assert chinese["classification"]["percent"] is True


def test_a_division_without_boundary_has_no_class(visits, clients):
    from geo.models import AdminDivision

    AdminDivision.objects.filter(code="500235002001").update(boundary_display=None)
    body = clients["admin"].get("/api/v1/coverage/divisions/", {"level": "village", "scheme": "quantiles"}).json()
    members = {f["id"]: f["properties"]["map_class"] for f in body["features"]}
    assert members["500235002001"] is None
    assert sum(c["count"] for c in body["classification"]["classes"]) == 2


def test_hexagons_with_a_scheme_carry_the_legend(visits, clients):
    body = (
        clients["admin"]
        .get("/api/v1/coverage/hexagons/", {"resolution": 9, "scheme": "fisher_jenks", "classes": 3})
        .json()
    )
    legend = body["classification"]
    assert legend["value"] == "visits" and 1 <= len(legend["classes"]) <= 3
    keys = {c["key"] for c in legend["classes"]}
    assert all(f["properties"]["map_class"] in keys for f in body["features"])
    assert sum(c["count"] for c in legend["classes"]) == len(body["features"]) > 0
    assert "classification" not in clients["admin"].get("/api/v1/coverage/hexagons/").json()


def test_classification_parameters_are_validated(visits, clients):
    for params in (
        {"scheme": "natural"},
        {"scheme": "quantiles", "classes": 1},
        {"value": "rain", "scheme": "quantiles"},
    ):
        response = clients["admin"].get("/api/v1/coverage/divisions/", params, HTTP_ACCEPT_LANGUAGE="en")
        assert response.status_code == 400 and set(response.json()["fields"]) & {"scheme", "classes", "value"}


def png_legend(client, params):
    """The legend drawn on map.png (texts, fill colours) and the number of polygons filled with each colour."""
    figures = []

    def keep(*args, **kwargs):
        figure = maps.choropleth_figure.__wrapped__(*args, **kwargs)
        figures.append(figure)
        return figure

    with mock.patch("geo.maps.choropleth_figure", side_effect=keep, __wrapped__=maps.choropleth_figure):
        response = client.get(PNG, params)
    assert response.status_code == 200, response.content
    (figure,) = figures
    ax = figure.axes[0]
    legend = ax.get_legend()
    drawn = {to_hex(c.get_facecolor()[0]): len(c.get_paths()) for c in ax.collections}
    entries = zip(legend.get_texts(), legend.get_patches(), strict=True)
    return [(t.get_text(), to_hex(p.get_facecolor())) for t, p in entries], drawn


def test_the_png_and_the_web_maps_api_give_the_demo_county_the_same_classes(demo_county):
    from tests.support import demo_client

    client = demo_client("demo-viewer")
    for params in (
        {"level": "township"},
        {"level": "village"},
        {"level": "village", "value": "visits", "scheme": "quantiles", "classes": 4},
        {"level": "township", "value": "households_visited", "scheme": "equal_interval"},
    ):
        api = client.get("/api/v1/coverage/divisions/", {"scheme": "fisher_jenks", **params}).json()
        legend, drawn = png_legend(client, params)
        classes = api["classification"]["classes"]
        assert legend == [(c["label"], c["colour"]) for c in classes], params
        assert drawn == {c["colour"]: c["count"] for c in classes if c["count"]}, params
        members = [f["properties"]["map_class"] for f in api["features"]]
        assert {c["key"]: c["count"] for c in classes} == {c["key"]: members.count(c["key"]) for c in classes}
        # The demo has villages nobody visited: their own class; and no class is a single value.
        if params["level"] == "village":
            assert "未走访" in dict(legend)
        numeric = [c for c in classes if c["lower"] is not None]
        assert len(numeric) >= 2 and all(c["lower"] < c["upper"] for c in numeric), params
        assert all(a["upper"] < b["lower"] for a, b in zip(numeric, numeric[1:], strict=False)), params
