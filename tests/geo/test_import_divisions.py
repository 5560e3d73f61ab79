"""``manage.py import_divisions``: GeoJSON, zipped GBK Shapefiles and CGCS2000 GeoPackages, upserted by code."""

import io
import json
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import prcoords
import pyogrio
import pytest
import shapely
from django.core.management import CommandError, call_command

from geo.codes import Level
from geo.demo import DATA_DIR, county_outline_wgs84, township_records
from geo.geometry import area_km2, random_points_in, voronoi_partition
from geo.models import AdminDivision
from geo.signals import divisions_imported
from tests import factories as f

COUNTY_FILE = DATA_DIR / "yunyang_county_500235_gcj02.geojson"
COUNTY = "500235000000"
COUNTY_OPTIONS = ["--crs", "gcj02", "--level", "county", "--code-field", "adcode", "--name-field", "name"]


def run(*args) -> str:
    out = io.StringIO()
    call_command("import_divisions", *[str(a) for a in args], stdout=out, stderr=io.StringIO())
    return out.getvalue()


def error_of(*args) -> str:
    with pytest.raises(CommandError) as info:
        run(*args)
    return str(info.value)


@pytest.fixture
def county(db):
    province = f.DivisionFactory(code="500000000000", name="重庆市", level=Level.PROVINCE)
    city = f.DivisionFactory(code="500200000000", name="县", level=Level.CITY, parent=province)
    return f.DivisionFactory(code=COUNTY, name="云阳县", level=Level.COUNTY, parent=city)


@pytest.fixture(scope="module")
def townships() -> gpd.GeoDataFrame:
    """The 42 real township names and 9-digit codes on a Voronoi partition of the real outline (CGCS2000)."""
    outline = county_outline_wgs84()
    records = township_records()
    seeds = random_points_in(outline, len(records), np.random.default_rng(7))
    cells, _ = voronoi_partition(outline, seeds, relax=2)
    return gpd.GeoDataFrame(
        {"XZQDM": [r["code"][:9] for r in records], "XZQMC": [r["name"] for r in records]},
        geometry=cells,
        crs="EPSG:4490",
    )


def snapshot() -> dict:
    return {
        d.code: (d.name, d.level, d.parent_id, d.area_km2, d.boundary_synthetic)
        for d in AdminDivision.objects.filter(level=Level.TOWNSHIP)
    }


def zip_shapefile(shp: Path, skip: tuple[str, ...] = ()) -> Path:
    archive = shp.with_suffix(".zip")
    with zipfile.ZipFile(archive, "w") as zf:
        for part in sorted(shp.parent.glob(shp.stem + ".*")):
            if part.suffix not in (".zip", *skip):
                zf.write(part, part.name)
    return archive


# --- the real county outline -----------------------------------------------------------------------


def test_real_county_outline_from_gcj02_has_its_real_area_in_wgs84(county):
    out = run(COUNTY_FILE, *COUNTY_OPTIONS)
    assert "1 county divisions imported (0 new, 1 updated)" in out
    division = AdminDivision.objects.get(code=COUNTY)
    assert division.name == "云阳县"
    assert division.parent_id == "500200000000"
    assert division.boundary_synthetic is False
    assert division.area_km2 == pytest.approx(3639, rel=0.01)
    assert area_km2(shapely.geometry.shape(division.boundary)) == pytest.approx(3639, rel=0.01)
    # The display copy is simplified, but still the same county.
    display = shapely.geometry.shape(division.boundary_display)
    assert shapely.get_num_coordinates(display) <= shapely.get_num_coordinates(
        shapely.geometry.shape(division.boundary)
    )
    assert area_km2(display) == pytest.approx(division.area_km2, rel=0.005)


def test_gcj02_outline_is_shifted_to_wgs84_like_an_independent_implementation(county):
    run(COUNTY_FILE, *COUNTY_OPTIONS)
    stored = shapely.geometry.shape(AdminDivision.objects.get(code=COUNTY).boundary)
    raw = shapely.geometry.shape(json.loads(COUNTY_FILE.read_text(encoding="utf-8"))["features"][0]["geometry"])
    # Each raw GCJ-02 vertex, converted by prcoords, is a stored vertex (to the 1e-6° storage precision).
    stored_xy = shapely.get_coordinates(stored)
    for lon, lat in shapely.get_coordinates(raw)[::50]:
        expected = prcoords.gcj_wgs_bored(prcoords.Coords(lat, lon))
        nearest = np.min(np.hypot(stored_xy[:, 0] - expected.lon, stored_xy[:, 1] - expected.lat))
        assert nearest < 2e-6
    # ...and that is hundreds of metres away from the unconverted vertex.
    assert shapely.hausdorff_distance(raw, stored) > 0.003


def test_county_without_its_parent_in_the_database_is_imported_at_the_top(db):
    out = run(COUNTY_FILE, *COUNTY_OPTIONS)
    assert "(1 new, 0 updated)" in out
    division = AdminDivision.objects.get(code=COUNTY)
    assert division.parent_id is None and division.level == Level.COUNTY


# --- a township layer, twice ------------------------------------------------------------------------


def test_township_layer_as_geojson_then_gbk_shapefile_gives_the_same_divisions(county, townships, tmp_path):
    geojson = tmp_path / "townships.geojson"
    townships.to_file(geojson, driver="GeoJSON", engine="pyogrio")
    out = run(geojson, "--level", "township", "--code-field", "XZQDM", "--name-field", "XZQMC")
    assert "42 township divisions imported (42 new, 0 updated)" in out
    first = snapshot()
    assert len(first) == 42
    assert first["500235001000"][0] == "双江街道"
    assert {name for name, *_ in first.values()} == {r["name"] for r in township_records()}
    assert all(parent == COUNTY and not synthetic for _, _, parent, _, synthetic in first.values())
    assert sum(area for _, _, _, area, _ in first.values()) == pytest.approx(3639, rel=0.01)

    shp = tmp_path / "shp" / "townships.shp"
    shp.parent.mkdir()
    pyogrio.write_dataframe(townships, shp, encoding="GBK")
    assert (shp.with_suffix(".cpg")).read_text().strip() == "GBK"
    dbf = shp.with_suffix(".dbf").read_bytes()
    assert "双江街道".encode("gbk") in dbf and "双江街道".encode() not in dbf
    out = run(zip_shapefile(shp), "--level", "township", "--code-field", "XZQDM", "--name-field", "XZQMC")
    assert "42 township divisions imported (0 new, 42 updated)" in out
    second = snapshot()
    assert second.keys() == first.keys()
    for code, (name, level, parent, area, synthetic) in first.items():
        assert second[code][:3] == (name, level, parent)
        assert second[code][3] == pytest.approx(area, rel=1e-6)
        assert second[code][4] is synthetic
    assert AdminDivision.objects.count() == 3 + 42


def test_gbk_shapefile_without_cpg_is_refused_with_a_hint_and_read_with_encoding(county, townships, tmp_path):
    shp = tmp_path / "townships.shp"
    pyogrio.write_dataframe(townships, shp, encoding="GBK")
    archive = zip_shapefile(shp, skip=(".cpg",))
    message = error_of(archive, "--level", "township", "--code-field", "XZQDM", "--name-field", "XZQMC")
    assert "--encoding GBK" in message and "garbled" in message
    assert not AdminDivision.objects.filter(level=Level.TOWNSHIP).exists()
    run(archive, "--level", "township", "--code-field", "XZQDM", "--name-field", "XZQMC", "--encoding", "GBK")
    assert AdminDivision.objects.get(code="500235001000").name == "双江街道"


def test_cgcs2000_geopackage_imports_like_the_geojson(county, townships, tmp_path):
    geojson = tmp_path / "townships.geojson"
    townships.to_file(geojson, driver="GeoJSON", engine="pyogrio")
    run(geojson, "--level", "township", "--code-field", "XZQDM", "--name-field", "XZQMC")
    expected = snapshot()
    AdminDivision.objects.filter(level=Level.TOWNSHIP).delete()

    gpkg = tmp_path / "boundaries.gpkg"
    pyogrio.write_dataframe(townships, gpkg, layer="xzq_township")
    assert pyogrio.read_info(gpkg)["crs"] == "EPSG:4490"
    run(gpkg, "--level", "township", "--code-field", "XZQDM", "--name-field", "XZQMC")
    got = snapshot()
    assert got.keys() == expected.keys()
    assert all(got[c][0] == expected[c][0] and got[c][3] == pytest.approx(expected[c][3], rel=1e-6) for c in got)


def test_projected_cgcs2000_gauss_kruger_geopackage_is_reprojected(county, townships, tmp_path):
    # What bureaus often deliver: CGCS2000 / 3-degree Gauss-Kruger CM 108E, in metres.
    gpkg = tmp_path / "gk.gpkg"
    pyogrio.write_dataframe(townships.to_crs("EPSG:4545"), gpkg, layer="xzq")
    run(gpkg, "--level", "township", "--code-field", "XZQDM", "--name-field", "XZQMC")
    division = AdminDivision.objects.get(code="500235001000")
    expected = townships.loc[townships.XZQDM == "500235001", "geometry"].iloc[0]
    assert division.area_km2 == pytest.approx(area_km2(expected), rel=1e-4)
    rep = shapely.Point(division.rep_lon, division.rep_lat)
    assert expected.buffer(1e-5).contains(rep)


def test_geopackage_with_several_layers_needs_layer(county, townships, tmp_path):
    gpkg = tmp_path / "two.gpkg"
    pyogrio.write_dataframe(townships, gpkg, layer="xzq")
    pyogrio.write_dataframe(townships.head(2), gpkg, layer="other")
    message = error_of(gpkg, "--level", "township", "--code-field", "XZQDM", "--name-field", "XZQMC")
    assert "--layer" in message and "xzq" in message and "other" in message
    assert "no layer 'nope'" in error_of(
        gpkg, "--level", "township", "--code-field", "XZQDM", "--name-field", "XZQMC", "--layer", "nope"
    )
    out = run(gpkg, "--level", "township", "--code-field", "XZQDM", "--name-field", "XZQMC", "--layer", "other")
    assert "2 township divisions imported" in out


def test_running_twice_creates_no_duplicates(county, townships, tmp_path):
    gpkg = tmp_path / "t.gpkg"
    pyogrio.write_dataframe(townships, gpkg)
    for _ in range(2):
        run(gpkg, "--level", "township", "--code-field", "XZQDM", "--name-field", "XZQMC")
    assert AdminDivision.objects.filter(level=Level.TOWNSHIP).count() == 42
    assert AdminDivision.objects.count() == 45


def test_features_sharing_a_code_are_merged_into_one_division(county, tmp_path):
    parts = gpd.GeoDataFrame(
        {"code": ["500235001", "500235001"], "name": ["双江街道", "双江街道"]},
        geometry=[shapely.box(108.80, 30.90, 108.81, 30.91), shapely.box(108.85, 30.90, 108.86, 30.91)],
        crs="EPSG:4326",
    )
    path = tmp_path / "parts.geojson"
    parts.to_file(path, driver="GeoJSON", engine="pyogrio")
    run(path, "--level", "township")
    division = AdminDivision.objects.get(code="500235001000")
    assert shapely.geometry.shape(division.boundary).geom_type == "MultiPolygon"


def test_invalid_polygon_is_made_valid(county, tmp_path):
    bowtie = shapely.Polygon([(108.80, 30.90), (108.82, 30.92), (108.82, 30.90), (108.80, 30.92), (108.80, 30.90)])
    assert not bowtie.is_valid
    path = tmp_path / "bowtie.geojson"
    gpd.GeoDataFrame({"code": ["500235001000"], "name": ["双江街道"]}, geometry=[bowtie], crs="EPSG:4326").to_file(
        path, driver="GeoJSON", engine="pyogrio"
    )
    run(path, "--level", "township")
    stored = shapely.geometry.shape(AdminDivision.objects.get(code="500235001000").boundary)
    assert stored.is_valid and stored.area == pytest.approx(0.0002, rel=1e-3)


def test_import_sends_divisions_imported_with_codes_and_bounds(county, townships, tmp_path):
    received = []

    def receiver(sender, **kwargs):
        received.append(kwargs)
        return "receiver ran"

    divisions_imported.connect(receiver, dispatch_uid="test-receiver")
    try:
        gpkg = tmp_path / "t.gpkg"
        pyogrio.write_dataframe(townships, gpkg)
        out = run(gpkg, "--level", "township", "--code-field", "XZQDM", "--name-field", "XZQMC")
    finally:
        divisions_imported.disconnect(dispatch_uid="test-receiver")
    assert "receiver ran" in out
    (call,) = received
    assert call["level"] == "township"
    assert sorted(call["codes"]) == sorted(r["code"] for r in township_records())
    min_lon, min_lat, max_lon, max_lat = call["bounds"]
    assert 108.3 < min_lon < max_lon < 109.3 and 30.5 < min_lat < max_lat < 31.5


# --- bad input -----------------------------------------------------------------------------------------


def write(tmp_path, name, frame, **kwargs) -> Path:
    path = tmp_path / name
    pyogrio.write_dataframe(frame, path, **kwargs)
    return path


def small(codes, names=None, crs="EPSG:4326", geometries=None) -> gpd.GeoDataFrame:
    n = len(codes)
    geometries = geometries or [shapely.box(108.8 + i / 100, 30.9, 108.81 + i / 100, 30.91) for i in range(n)]
    return gpd.GeoDataFrame({"code": codes, "name": names or ["某镇"] * n}, geometry=geometries, crs=crs)


def test_missing_field_names_the_fields_there_are(county, tmp_path):
    path = write(tmp_path, "a.geojson", small(["500235001"]))
    message = error_of(path, "--level", "township", "--code-field", "XZQDM")
    assert "no field 'XZQDM'" in message and "code, name" in message


def test_bad_codes_are_reported_with_their_feature_number(county, tmp_path):
    path = write(tmp_path, "a.geojson", small(["500235001", "50023500", "5002350010x", "500236001"]))
    message = error_of(path, "--level", "township")
    assert "feature 2: code='50023500' is not a 2-, 4-, 6-, 9- or 12-digit division code" in message
    assert "feature 3: code='5002350010x'" in message
    assert "feature 4 (500236001000): its parent county 500236000000 is not in the database" in message
    assert not AdminDivision.objects.filter(level=Level.TOWNSHIP).exists()


def test_code_of_the_wrong_level_is_refused(county, tmp_path):
    path = write(tmp_path, "a.geojson", small(["500235001001"]))
    message = error_of(path, "--level", "township", "--parent-code", COUNTY)
    assert "feature 1 (500235001001)" in message and "ends in zeros after its first 9 digits" in message


def test_parent_code_must_exist_and_be_of_the_parent_level(county, tmp_path):
    path = write(tmp_path, "a.geojson", small(["500235001"]))
    assert "--parent-code 500235999: no such division" in error_of(
        path, "--level", "township", "--parent-code", "500235999"
    )
    assert "The parent of a township must be a county" in error_of(
        path, "--level", "township", "--parent-code", "500200"
    )


def test_township_without_parent_in_the_database_is_refused(db, tmp_path):
    path = write(tmp_path, "a.geojson", small(["500235001"]))
    message = error_of(path, "--level", "township")
    assert "its parent county 500235000000 is not in the database" in message and "--parent-code" in message


def test_unknown_crs_is_refused(county, tmp_path):
    path = write(tmp_path, "a.geojson", small(["500235001"]))
    assert "Unknown CRS 'EPSG:999999'" in error_of(path, "--level", "township", "--crs", "EPSG:999999")
    assert "Unknown CRS 'mars'" in error_of(path, "--level", "township", "--crs", "mars")


def test_shapefile_without_crs_needs_crs(county, tmp_path):
    shp = write(tmp_path, "a.shp", small(["500235001"]), encoding="UTF-8")
    shp.with_suffix(".prj").unlink()
    message = error_of(shp, "--level", "township")
    assert "does not say which coordinate reference system" in message and "--crs EPSG:4490" in message
    run(shp, "--level", "township", "--crs", "EPSG:4490")
    assert AdminDivision.objects.filter(code="500235001000").exists()


def test_projected_coordinates_declared_as_lon_lat_are_refused(county, tmp_path):
    metres = small(["500235001"], crs="EPSG:4326").to_crs("EPSG:4545").set_crs("EPSG:4326", allow_override=True)
    path = write(tmp_path, "a.gpkg", metres)
    assert "not longitude/latitude" in error_of(path, "--level", "township")
    assert "not longitude/latitude" in error_of(path, "--level", "township", "--crs", "gcj02")


def test_point_and_empty_geometries_are_refused(county, tmp_path):
    frame = small(["500235001", "500235002"], geometries=[shapely.Point(108.8, 30.9), None])
    path = write(tmp_path, "a.gpkg", frame)
    message = error_of(path, "--level", "township")
    assert "feature 1 (500235001000): geometry is a Point" in message
    assert "feature 2 (500235002000): has no geometry" in message


def test_polygon_without_area_is_refused(county, tmp_path):
    flat = shapely.Polygon([(108.80, 30.90), (108.81, 30.90), (108.82, 30.90), (108.80, 30.90)])
    path = write(tmp_path, "a.geojson", small(["500235001"], geometries=[flat]))
    assert "feature 1 (500235001000): the polygon has no area" in error_of(path, "--level", "township")
    assert not AdminDivision.objects.filter(code="500235001000").exists()


def test_same_code_with_different_names_is_refused(county, tmp_path):
    path = write(tmp_path, "a.geojson", small(["500235001", "500235001"], names=["甲镇", "乙镇"]))
    assert "features 1, 2 share code 500235001000 but not the name" in error_of(path, "--level", "township")


def test_unreadable_or_missing_file_and_bad_encoding(county, tmp_path):
    assert "no such file" in error_of(tmp_path / "nope.gpkg", "--level", "township")
    junk = tmp_path / "junk.geojson"
    junk.write_text("this is not GeoJSON", encoding="utf-8")
    assert "Cannot read" in error_of(junk, "--level", "township")
    path = write(tmp_path, "a.geojson", small(["500235001"]))
    assert "Unknown encoding 'klingon'" in error_of(path, "--level", "township", "--encoding", "klingon")


def test_empty_name_is_refused(county, tmp_path):
    path = write(tmp_path, "a.geojson", small(["500235001"], names=[" "]))
    assert "feature 1 (500235001000): name is empty" in error_of(path, "--level", "township")


@pytest.mark.parametrize(
    ("name", "why"), [("镇" * 101, "is longer than 100 characters"), ("双江\x0b街道", "holds a control character")]
)
def test_a_name_the_divisions_table_cannot_hold_is_refused(county, tmp_path, name, why):
    path = write(tmp_path, "a.geojson", small(["500235001"], names=[name]))
    assert f"feature 1 (500235001000): name {why}" in error_of(path, "--level", "township")
    assert not AdminDivision.objects.filter(code="500235001000").exists()


# --- stored visits follow the new boundaries ----------------------------------------------------------


def test_importing_village_boundaries_reassigns_stored_visits(world, clients, tmp_path):
    from agri.models import Visit, VisitFlag
    from tests.agri.map_support import VILLAGES, push_visits

    push_visits(world, clients)  # the world's villages have no boundaries yet: nothing is assigned
    assert set(Visit.objects.values_list("division_id", flat=True)) == {None}
    unassigned = VisitFlag.BITS[VisitFlag.UNASSIGNED]
    assert all(bits & unassigned for bits in Visit.objects.values_list("flag_bits", flat=True))

    villages = gpd.GeoDataFrame(
        {"code": list(VILLAGES), "name": [v[0] for v in VILLAGES.values()]},
        geometry=[v[2] for v in VILLAGES.values()],
        crs="EPSG:4490",
    )
    path = tmp_path / "villages.gpkg"
    pyogrio.write_dataframe(villages, path)
    out = run(path, "--level", "village")
    assert "4 village divisions imported (0 new, 4 updated)" in out
    assert "7 stored visits reassigned" in out
    by_village = {}
    for code, township, bits in Visit.objects.values_list("division_id", "township_code", "flag_bits"):
        by_village[code] = by_village.get(code, 0) + 1
        assert township == code[:9] + "000" and not bits & unassigned
    assert by_village == {"500235001001": 5, "500235002001": 2}
    # The coverage read from the rollup follows.
    coverage = clients["admin"].get("/api/v1/coverage/divisions/", {"level": "village"}).json()
    visits = {f["properties"]["code"]: f["properties"]["visits"] for f in coverage["features"]}
    assert visits["500235001001"] == 5 and visits["500235002001"] == 2
    # Running it again is harmless: nothing moves.
    assert "0 stored visits reassigned" in run(path, "--level", "village")


# --- broken geometry: every bad feature named, nothing written ----------------------------------------------------


def geojson_file(tmp_path, features: list[tuple[str, list]], name="raw.geojson") -> Path:
    """A GeoJSON file written by hand (``(code, polygon rings)`` per feature), for what no library writes: rings left
    open, NaN coordinates."""
    collection = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"code": code, "name": "某镇"},
                "geometry": {"type": "Polygon", "coordinates": rings},
            }
            for code, rings in features
        ],
    }
    path = tmp_path / name
    path.write_text(json.dumps(collection, allow_nan=True), encoding="utf-8")  # NaN as the bare token GDAL reads
    return path


def square(x, y, size=0.01) -> list:
    return [[[x, y], [x + size, y], [x + size, y + size], [x, y + size], [x, y]]]


def test_unclosed_ring_is_reported_with_its_feature_number_and_nothing_is_written(county, tmp_path):
    unclosed = [[[108.90, 30.90], [108.91, 30.90], [108.91, 30.91], [108.90, 30.91]]]
    path = geojson_file(tmp_path, [("500235001", square(108.80, 30.90)), ("500235002", unclosed)])
    for crs in ([], ["--crs", "EPSG:4490"], ["--crs", "gcj02"]):
        message = error_of(path, "--level", "township", *crs)
        assert "feature 2 (500235002000): the geometry cannot be read" in message, message
        assert "closed" in message
        assert "feature 1" not in message
    assert not AdminDivision.objects.filter(level=Level.TOWNSHIP).exists()


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_nan_or_infinite_coordinates_are_reported_with_their_feature_number(county, tmp_path, bad):
    one_nan = [[[108.90, 30.90], [108.91, 30.90], [bad, 30.91], [108.90, 30.91], [108.90, 30.90]]]
    all_nan = [[[bad, bad], [bad, bad], [bad, bad], [bad, bad]]]
    path = geojson_file(
        tmp_path, [("500235001", square(108.80, 30.90)), ("500235002", one_nan), ("500235003", all_nan)]
    )
    for crs in ([], ["--crs", "EPSG:4490"], ["--crs", "gcj02"]):
        message = error_of(path, "--level", "township", *crs)
        assert "feature 2 (500235002000): has coordinates that are not numbers (NaN or infinite)" in message, message
        assert "feature 3 (500235003000)" in message
        assert "feature 1" not in message
    assert not AdminDivision.objects.filter(level=Level.TOWNSHIP).exists()


def test_empty_polygon_is_reported_with_its_feature_number(county, tmp_path):
    path = geojson_file(tmp_path, [("500235002", []), ("500235003", [[]])])  # no coordinates in the whole file
    for crs in ([], ["--crs", "EPSG:4490"], ["--crs", "bd09"]):
        message = error_of(path, "--level", "township", *crs)
        assert "feature 1 (500235002000): has no geometry" in message, message
        assert "feature 2 (500235003000): has no geometry" in message
        assert "is --crs right?" not in message


# --- overlaps with other divisions -------------------------------------------------------------------------------

FENGJIE = "500236000000"


@pytest.fixture
def two_counties(county):
    """Yunyang and Fengjie side by side, with boundaries (boxes), and a Yunyang township."""
    from geo.services import DivisionRow, division_upsert_many

    division_upsert_many(
        [
            DivisionRow(COUNTY, "云阳县", Level.COUNTY, "500200000000", shapely.box(108.5, 30.8, 109.0, 31.2)),
            DivisionRow(FENGJIE, "奉节县", Level.COUNTY, "500200000000", shapely.box(109.0, 30.8, 109.5, 31.2)),
            DivisionRow("500235001000", "双江街道", Level.TOWNSHIP, COUNTY, shapely.box(108.8, 30.9, 108.9, 31.0)),
        ]
    )


def test_polygon_reaching_into_another_county_is_refused_and_allowed_only_with_allow_overlap(two_counties, tmp_path):
    # A Yunyang township whose eastern half lies in Fengjie.
    frame = small(["500235002"], geometries=[shapely.box(108.95, 31.0, 109.05, 31.1)])
    path = write(tmp_path, "a.geojson", frame)
    message = error_of(path, "--level", "township")
    assert "feature 1 (500235002000): overlaps county 500236000000 奉节县" in message, message
    assert "50%" in message and "--allow-overlap" in message
    assert not AdminDivision.objects.filter(code="500235002000").exists()

    out = run(path, "--level", "township", "--allow-overlap")
    assert "overlaps county 500236000000 奉节县" in out
    assert AdminDivision.objects.filter(code="500235002000").exists()


def test_polygon_overlapping_a_sibling_already_stored_is_refused(two_counties, tmp_path):
    frame = small(["500235002"], geometries=[shapely.box(108.85, 30.95, 108.95, 31.05)])
    message = error_of(write(tmp_path, "a.geojson", frame), "--level", "township")
    assert "feature 1 (500235002000): overlaps township 500235001000 双江街道" in message, message
    assert "25%" in message
    # Its own ancestors (the county it lies in) are not overlaps; re-importing a stored code replaces it.
    assert "云阳县" not in message
    moved = small(["500235001"], geometries=[shapely.box(108.85, 30.95, 108.95, 31.05)])
    run(write(tmp_path, "b.geojson", moved), "--level", "township")


def test_synthetic_boundaries_do_not_count_as_overlaps(two_counties, tmp_path):
    """The demo's generated cells are what official boundaries replace: they overlap them everywhere."""
    from geo.services import DivisionRow, division_upsert_many

    division_upsert_many(
        [DivisionRow("500235003000", "某镇", Level.TOWNSHIP, COUNTY, shapely.box(108.6, 30.9, 108.7, 31.0), True)]
    )
    frame = small(["500235002"], geometries=[shapely.box(108.65, 30.9, 108.75, 31.0)])
    out = run(write(tmp_path, "a.geojson", frame), "--level", "township")
    assert "overlaps" not in out and AdminDivision.objects.filter(code="500235002000").exists()


def test_features_of_one_file_overlapping_each_other_are_refused(two_counties, tmp_path):
    frame = small(
        ["500235002", "500235003", "500235004"],
        geometries=[
            shapely.box(108.60, 30.90, 108.70, 31.00),
            shapely.box(108.65, 30.90, 108.75, 31.00),  # half over feature 1
            shapely.box(108.75, 30.90, 108.80, 31.00),  # shares an edge with feature 2: not an overlap
        ],
    )
    message = error_of(write(tmp_path, "a.geojson", frame), "--level", "township")
    assert "feature 2 (500235003000): overlaps feature 1 (500235002000)" in message, message
    assert "500235004000" not in message
    assert not AdminDivision.objects.filter(code__in=["500235002000", "500235003000"]).exists()


def test_slivers_under_the_tolerance_are_not_overlaps(two_counties, tmp_path):
    # 0.00005° (about 5 m) over the county line along a 0.1° edge: 0.05% of the township.
    frame = small(["500235002"], geometries=[shapely.box(108.90, 31.0, 109.00005, 31.1)])
    path = write(tmp_path, "a.geojson", frame)
    assert "overlaps county 500236000000" in error_of(path, "--level", "township", "--overlap-tolerance", "0.01")
    out = run(path, "--level", "township")  # the default tolerance, 0.1%
    assert "overlaps" not in out and AdminDivision.objects.filter(code="500235002000").exists()


def test_village_drawn_over_another_townships_village_is_refused_and_no_visit_moves(world, clients, tmp_path):
    from agri.models import Visit
    from tests.agri.map_support import map_world, push_visits

    map_world(world)
    push_visits(world, clients)
    before = dict(Visit.objects.values_list("id", "division_id"))
    assert sorted(before.values()).count("500235002001") == 2
    # A village of township 1 drawn over 青龙社区 of township 2, where two visits were recorded: its smaller code
    # would win those points.
    frame = small(["500235001002"], geometries=[shapely.box(108.69, 30.92, 108.73, 30.94)], crs="EPSG:4490")
    path = write(tmp_path, "v.gpkg", frame)
    message = error_of(path, "--level", "village")
    assert "feature 1 (500235001002): overlaps village 500235002001 青龙社区" in message, message
    assert "overlaps township 500235002000 青龙街道" in message
    assert "双江街道" not in message  # its own township: an edge in common, and an ancestor anyway
    assert dict(Visit.objects.values_list("id", "division_id")) == before
    assert not AdminDivision.objects.filter(code="500235001002").exists()
    # What the refusal prevents: allowed, the overlap takes the other township's visits.
    run(path, "--level", "village", "--allow-overlap")
    after = dict(Visit.objects.values_list("id", "division_id"))
    assert sorted(after.values()).count("500235001002") == 2
