"""Tests for geo.assign: village assignment of points with the per-process STRtree index.

They run on the demo county stored in the test database: the real Yunyang outline (converted from
GCJ-02) split into 478 synthetic village polygons that carry the real village codes.
"""

import ast
from pathlib import Path

import numpy as np
import pytest
import shapely
from django.utils import timezone

from geo import assign
from geo.assign import DivisionIndex, assign_points, division_index, invalidate_division_index
from geo.codes import Level
from geo.crs import to_wgs84, wgs84_to_gcj02
from geo.demo import county_outline_wgs84, yunyang_divisions
from geo.geometry import from_geojson, to_geojson
from geo.models import AdminDivision
from geo.services import DivisionRow, division_upsert_many

CHONGQING_CENTRE = (106.55, 29.56)  # Yuzhong district, ~250 km south-west of Yunyang
# Local metres per degree around Yunyang (31° N); good to well under 1 % over the county.
M_PER_DEG_LON = 111_320 * np.cos(np.radians(31.0))
M_PER_DEG_LAT = 110_574


@pytest.fixture(scope="module")
def demo_rows() -> list[DivisionRow]:
    return yunyang_divisions()


@pytest.fixture(autouse=True)
def fresh_index(settings):
    """Each test starts without a cached index (the test database is rolled back under it) and checks every call."""
    settings.DIVISION_INDEX_CHECK_SECONDS = 0
    invalidate_division_index()
    yield
    invalidate_division_index()


@pytest.fixture
def county(db, demo_rows) -> list[DivisionRow]:
    division_upsert_many(demo_rows)
    return demo_rows


def villages(rows: list[DivisionRow]) -> list[DivisionRow]:
    return sorted((r for r in rows if r.level == Level.VILLAGE), key=lambda r: r.code)


def replaced(row: DivisionRow, geometry) -> DivisionRow:
    return DivisionRow(row.code, row.name, row.level, row.parent_code, geometry, row.synthetic)


def test_every_village_representative_point_assigns_to_that_village(county):
    stored = list(
        AdminDivision.objects.villages().order_by("code").values_list("code", "parent_id", "rep_lon", "rep_lat")
    )
    codes, parents, lon, lat = (np.array(column) for column in zip(*stored, strict=True))
    assert len(codes) == 478

    village_codes, township_codes = assign_points(lon.astype(float), lat.astype(float))

    assert village_codes.tolist() == codes.tolist()
    assert township_codes.tolist() == parents.tolist()


def test_point_outside_the_county_assigns_to_none(county):
    village_codes, township_codes = assign_points(np.array([CHONGQING_CENTRE[0]]), np.array([CHONGQING_CENTRE[1]]))

    assert village_codes.tolist() == [None]
    assert township_codes.tolist() == [None]


def test_nan_and_infinite_coordinates_assign_to_none_without_spoiling_the_batch(county):
    inside = AdminDivision.objects.villages().order_by("code").first()
    lon = np.array([np.nan, inside.rep_lon, inside.rep_lon, np.inf])
    lat = np.array([inside.rep_lat, np.nan, inside.rep_lat, inside.rep_lat])

    village_codes, township_codes = assign_points(lon, lat)

    assert village_codes.tolist() == [None, None, inside.code, None]
    assert township_codes.tolist() == [None, None, inside.parent_id, None]


def test_result_keeps_the_shape_of_the_input(county):
    inside = AdminDivision.objects.villages().order_by("code").first()
    lon = np.full((2, 3), inside.rep_lon)
    lat = np.full((2, 3), inside.rep_lat)
    lat[1, 2] = np.nan

    village_codes, _ = assign_points(lon, lat)

    assert village_codes.shape == (2, 3)
    assert village_codes[0, 0] == inside.code
    assert village_codes[1, 2] is None


def test_point_on_a_border_shared_by_villages_goes_to_the_smallest_code(county):
    index = division_index()
    # Vertices that belong to two or more village outlines lie exactly on a shared border.
    owners: dict[tuple, set] = {}
    for i, geometry in enumerate(index.geometries):
        for xy in map(tuple, shapely.get_coordinates(geometry)):
            owners.setdefault(xy, set()).add(i)
    shared = np.array(sorted(xy for xy, found in owners.items() if len(found) >= 2))
    assert len(shared) > 100
    # Expected by brute force, independent of the tree: every village the point touches.
    shapely.prepare(index.geometries)
    touching = shapely.intersects(index.geometries[None, :], shapely.points(shared)[:, None])
    assert (touching.sum(axis=1) >= 2).all()
    smallest = [min(index.codes[row]) for row in touching]

    village_codes, _ = index.assign(shared[:, 0], shared[:, 1])

    assert village_codes.tolist() == smallest


def test_index_is_reused_while_nothing_changes(county, django_assert_num_queries):
    first = division_index()

    with django_assert_num_queries(1):  # the fingerprint, nothing else
        second = division_index()

    assert second is first
    assert len(first) == 478


def test_index_checks_the_fingerprint_at_most_once_per_interval(county, settings, django_assert_num_queries):
    settings.DIVISION_INDEX_CHECK_SECONDS = 3600
    first = division_index()

    with django_assert_num_queries(0):
        for _ in range(3):
            assert division_index() is first


def test_index_is_rebuilt_after_another_process_changes_a_boundary(county):
    """A write this process never saw (no signal, no invalidation) is found through the fingerprint."""
    a, b = villages(county)[0], villages(county)[1]
    b_rep = AdminDivision.objects.get(code=b.code)
    before = division_index()
    assert assign_points(np.array([b_rep.rep_lon]), np.array([b_rep.rep_lat]))[0].tolist() == [b.code]

    # What another worker's write looks like from here: the rows change, this process's cache is untouched.
    grown = shapely.union(a.geometry, b.geometry)
    AdminDivision.objects.filter(code=a.code).update(boundary=to_geojson(grown), updated_at=timezone.now())

    after = division_index()
    assert after is not before
    assert assign_points(np.array([b_rep.rep_lon]), np.array([b_rep.rep_lat]))[0].tolist() == [a.code]


def test_upsert_of_a_changed_boundary_rebuilds_the_index_in_this_process_at_once(county, settings):
    settings.DIVISION_INDEX_CHECK_SECONDS = 3600  # so only the explicit invalidation can explain a rebuild
    a, b = villages(county)[0], villages(county)[1]
    b_rep = AdminDivision.objects.get(code=b.code)
    before = division_index()
    assert before.assign(np.array([b_rep.rep_lon]), np.array([b_rep.rep_lat]))[0].tolist() == [b.code]

    division_upsert_many([replaced(a, shapely.union(a.geometry, b.geometry))])

    after = division_index()
    assert after is not before
    # Inside both a and b now: the smaller code, a, wins.
    assert after.assign(np.array([b_rep.rep_lon]), np.array([b_rep.rep_lat]))[0].tolist() == [a.code]


def test_saving_or_deleting_a_division_drops_the_cached_index(county, settings):
    settings.DIVISION_INDEX_CHECK_SECONDS = 3600
    first = division_index()
    division = AdminDivision.objects.villages().order_by("code").last()

    division.name = "改名村"
    division.save()
    second = division_index()
    division.delete()
    third = division_index()

    assert second is not first
    assert third is not second
    assert len(third) == 477


def test_village_with_an_unreadable_boundary_is_left_out_and_the_rest_still_assign(county, caplog):
    broken, fine = villages(county)[0], villages(county)[1]
    AdminDivision.objects.filter(code=broken.code).update(boundary={"type": "Polygon"}, updated_at=timezone.now())
    fine_rep = AdminDivision.objects.get(code=fine.code)

    index = division_index()

    assert len(index) == 477
    assert broken.code not in index.codes
    assert broken.code in caplog.text
    assert index.assign(np.array([fine_rep.rep_lon]), np.array([fine_rep.rep_lat]))[0].tolist() == [fine.code]


def test_upsert_bumps_updated_at_of_existing_divisions(county):
    code = villages(county)[0].code
    before = AdminDivision.objects.get(code=code).updated_at

    division_upsert_many(county)

    assert AdminDivision.objects.get(code=code).updated_at > before


def test_index_without_villages_assigns_everything_to_none(db):
    index = division_index()

    village_codes, township_codes = index.assign(np.array([108.9, np.nan]), np.array([30.9, 31.0]))

    assert len(index) == 0
    assert village_codes.tolist() == [None, None]
    assert township_codes.tolist() == [None, None]


def gcj02_border_case(outline) -> tuple[np.ndarray, np.ndarray]:
    """A WGS-84 point about 150 m inside the county whose GCJ-02 coordinates fall outside it.

    The GCJ-02 offset around Yunyang is ~500 m, pointing east-south-east. Walk the outline's vertices
    in order; from each, step 150 m against the local offset. The first point that is at least 120 m
    inside the border while its GCJ-02 coordinates are at least 150 m outside it is the case. Distances
    are in local metres (an equirectangular projection at 31° N).
    """

    def metric(geometry):
        return shapely.transform(geometry, lambda xy: xy * [M_PER_DEG_LON, M_PER_DEG_LAT])

    outline_m = metric(outline)
    border_m = outline_m.boundary
    vertices = shapely.get_coordinates(outline)
    g_lon, g_lat = wgs84_to_gcj02(vertices[:, 0], vertices[:, 1])
    offsets_m = np.column_stack([(g_lon - vertices[:, 0]) * M_PER_DEG_LON, (g_lat - vertices[:, 1]) * M_PER_DEG_LAT])
    for vertex, offset_m in zip(vertices, offsets_m, strict=True):
        step_m = -150 * offset_m / np.linalg.norm(offset_m)
        true = vertex + step_m / [M_PER_DEG_LON, M_PER_DEG_LAT]
        gcj = np.array(wgs84_to_gcj02(true[0], true[1]))
        true_m, gcj_m = metric(shapely.Point(true)), metric(shapely.Point(gcj))
        inside = outline_m.contains(true_m) and border_m.distance(true_m) >= 120
        outside = not outline_m.contains(gcj_m) and border_m.distance(gcj_m) >= 150
        if inside and outside:
            return true, gcj
    raise AssertionError("no vertex of the county outline gives a GCJ-02 border case")


def test_gcj02_point_near_the_border_is_assigned_only_after_normalising_to_wgs84(county):
    true, gcj = gcj02_border_case(county_outline_wgs84())
    offset_m = np.hypot((gcj[0] - true[0]) * M_PER_DEG_LON, (gcj[1] - true[1]) * M_PER_DEG_LAT)
    assert 400 < offset_m < 600
    index = division_index()
    # The village that really contains the point, found without the index.
    expected = [c for c, g in zip(index.codes, index.geometries, strict=True) if g.contains(shapely.Point(true))]
    assert len(expected) == 1

    # An Amap phone reports GCJ-02; taken as WGS-84, it lands outside the county.
    raw, _ = assign_points(np.array([gcj[0]]), np.array([gcj[1]]))
    normalised, _ = assign_points(*to_wgs84(np.array([gcj[0]]), np.array([gcj[1]]), "gcj02"))

    assert raw.tolist() == [None]
    assert normalised.tolist() == expected


def test_point_on_an_exact_shared_edge_goes_to_the_smaller_code_whatever_the_input_order():
    left, right = shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)
    index = DivisionIndex(["500235001002", "500235001001"], ["500235001000"] * 2, [right, left])

    village_codes, _ = index.assign(np.array([1.0, 0.5, 1.5]), np.array([0.5, 0.5, 0.5]))

    assert village_codes.tolist() == ["500235001001", "500235001001", "500235001002"]


def test_index_records_the_fingerprint_and_geometries_it_was_built_from(county):
    index = division_index()

    assert index.fingerprint == assign.divisions_fingerprint()
    assert index.fingerprint[0] == 478
    stored = AdminDivision.objects.get(code=index.codes[0])
    assert from_geojson(stored.boundary).equals(index.geometries[0])
    assert index.township_codes[0] == stored.parent_id


def test_geo_imports_nothing_from_agri():
    geo_dir = Path(assign.__file__).parent
    imported = set()
    for path in geo_dir.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module)

    assert "geo.assign" in imported  # the walk does see geo's own imports
    assert not {name for name in imported if name == "agri" or name.startswith("agri.")}
