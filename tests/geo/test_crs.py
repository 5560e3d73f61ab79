"""Tests for geo.crs: WGS-84 <-> GCJ-02 <-> BD-09, checked against the independent ``prcoords`` package.

prcoords (https://github.com/Artoria2e5/PRCoords) is a pure-Python, scalar implementation of the same public
formulas. Its ``Coords`` namedtuple is (lat, lon); geo.crs takes and returns (lon, lat). Distances are geodesic
metres on the WGS-84 ellipsoid from pyproj.
"""

import numpy as np
import prcoords
import pytest
import shapely
from pyproj import Geod

from geo import crs

GEOD = Geod(ellps="WGS84")

# Reference values computed once with prcoords 1.0.2 (wgs_gcj, then gcj_bd), rounded to 7 decimals (~1 cm).
TIANANMEN_WGS = (116.3912757, 39.906217)
TIANANMEN_GCJ = (116.3975167, 39.9076182)
TIANANMEN_BD = (116.4038906, 39.9139619)
YUNYANG_WGS = (108.85, 31.0)
YUNYANG_GCJ = (108.8543698, 30.9975358)
YUNYANG_BD = (108.8608197, 31.0037793)

# 7-decimal rounding leaves up to 5e-8 degrees; allow a little more for the float formulas.
DEG_7DP = 1e-7

OUTSIDE_CHINA = {
    "london": (-0.1276, 51.5072),
    "new_york": (-74.006, 40.7128),
    "sydney": (151.2093, -33.8688),
    "null_island": (0.0, 0.0),
}

ALL_CONVERSIONS = [
    crs.wgs84_to_gcj02,
    crs.gcj02_to_wgs84,
    crs.gcj02_to_bd09,
    crs.bd09_to_gcj02,
    crs.wgs84_to_bd09,
    crs.bd09_to_wgs84,
]

N_RANDOM = 5000


def distance_m(lon1, lat1, lon2, lat2):
    """Geodesic distance in metres, vectorised."""
    lon1, lat1, lon2, lat2 = (np.asarray(v, dtype=float) for v in (lon1, lat1, lon2, lat2))
    return GEOD.inv(lon1, lat1, lon2, lat2)[2]


def oracle(func, lon, lat):
    """Apply a scalar prcoords function (lat, lon) -> Coords(lat, lon) to (lon, lat) arrays."""
    out = np.array([func(prcoords.Coords(la, lo)) for lo, la in zip(lon, lat, strict=True)])
    return out[:, 1], out[:, 0]


@pytest.fixture(scope="module")
def china_points():
    rng = np.random.default_rng(20240601)
    return rng.uniform(73.0, 135.0, N_RANDOM), rng.uniform(18.0, 53.0, N_RANDOM)


@pytest.fixture(scope="module")
def gcj_points(china_points):
    return oracle(prcoords.wgs_gcj, *china_points)


@pytest.fixture(scope="module")
def bd_points(gcj_points):
    return oracle(prcoords.gcj_bd, *gcj_points)


# --- fixed known values -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wgs", "gcj"),
    [(TIANANMEN_WGS, TIANANMEN_GCJ), (YUNYANG_WGS, YUNYANG_GCJ)],
    ids=["tiananmen", "yunyang"],
)
def test_wgs84_to_gcj02_reproduces_reference_values(wgs, gcj):
    assert crs.wgs84_to_gcj02(*wgs) == pytest.approx(gcj, abs=DEG_7DP)


@pytest.mark.parametrize(
    ("gcj", "bd"),
    [(TIANANMEN_GCJ, TIANANMEN_BD), (YUNYANG_GCJ, YUNYANG_BD)],
    ids=["tiananmen", "yunyang"],
)
def test_gcj02_to_bd09_reproduces_reference_values(gcj, bd):
    assert crs.gcj02_to_bd09(*gcj) == pytest.approx(bd, abs=DEG_7DP)


@pytest.mark.parametrize(
    ("wgs", "bd"),
    [(TIANANMEN_WGS, TIANANMEN_BD), (YUNYANG_WGS, YUNYANG_BD)],
    ids=["tiananmen", "yunyang"],
)
def test_wgs84_to_bd09_reproduces_reference_values(wgs, bd):
    assert crs.wgs84_to_bd09(*wgs) == pytest.approx(bd, abs=DEG_7DP)


@pytest.mark.parametrize(
    ("wgs", "gcj", "bd"),
    [(TIANANMEN_WGS, TIANANMEN_GCJ, TIANANMEN_BD), (YUNYANG_WGS, YUNYANG_GCJ, YUNYANG_BD)],
    ids=["tiananmen", "yunyang"],
)
def test_inverses_recover_reference_wgs84_from_rounded_inputs(wgs, gcj, bd):
    # The inputs were rounded to 7 decimals, so the recovered point can be off by about that much.
    assert crs.gcj02_to_wgs84(*gcj) == pytest.approx(wgs, abs=2 * DEG_7DP)
    assert crs.bd09_to_gcj02(*bd) == pytest.approx(gcj, abs=2 * DEG_7DP)
    assert crs.bd09_to_wgs84(*bd) == pytest.approx(wgs, abs=3 * DEG_7DP)


def test_gcj02_offset_near_yunyang_is_between_100_m_and_1000_m():
    # The GCJ-02 offset is 18-700 m across China and about 500 m around Yunyang.
    lon = np.array([108.85, 108.70, 108.95, 108.60])
    lat = np.array([31.0, 30.93, 31.20, 30.80])
    g_lon, g_lat = crs.wgs84_to_gcj02(lon, lat)
    offsets = distance_m(lon, lat, g_lon, g_lat)
    assert np.all(offsets > 100.0), offsets
    assert np.all(offsets < 1000.0), offsets


# --- oracle comparisons over random points in China ---------------------------------------------------------------


def test_forward_gcj02_matches_oracle_within_1cm(china_points, gcj_points):
    lon, lat = china_points
    got = crs.wgs84_to_gcj02(lon, lat)
    err = distance_m(*got, *gcj_points)
    assert err.max() < 0.01, f"max error {err.max():.3e} m"


def test_forward_bd09_from_gcj02_matches_oracle_within_1cm(gcj_points, bd_points):
    got = crs.gcj02_to_bd09(*gcj_points)
    err = distance_m(*got, *bd_points)
    assert err.max() < 0.01, f"max error {err.max():.3e} m"


def test_forward_bd09_from_wgs84_matches_oracle_within_1cm(china_points, bd_points):
    got = crs.wgs84_to_bd09(*china_points)
    err = distance_m(*got, *bd_points)
    assert err.max() < 0.01, f"max error {err.max():.3e} m"


def test_inverse_gcj02_matches_oracle_precise_inverse_within_1cm(gcj_points):
    expected = oracle(prcoords.gcj_wgs_bored, *gcj_points)
    got = crs.gcj02_to_wgs84(*gcj_points)
    err = distance_m(*got, *expected)
    assert err.max() < 0.01, f"max error {err.max():.3e} m"


def test_inverse_bd09_to_gcj02_matches_oracle_precise_inverse_within_1cm(bd_points):
    expected = oracle(prcoords.bd_gcj_bored, *bd_points)
    got = crs.bd09_to_gcj02(*bd_points)
    err = distance_m(*got, *expected)
    assert err.max() < 0.01, f"max error {err.max():.3e} m"


def test_inverse_bd09_to_wgs84_is_closer_to_truth_than_oracle_precise_inverse(china_points, bd_points):
    # prcoords.bd_wgs_bored stops iterating at 1e-5 degrees and lands ~2 cm from the true point,
    # so it cannot serve as a 1 cm oracle here; compare both against the known WGS-84 points instead.
    lon, lat = china_points
    oracle_err = distance_m(*oracle(prcoords.bd_wgs_bored, *bd_points), lon, lat)
    our_err = distance_m(*crs.bd09_to_wgs84(*bd_points), lon, lat)
    assert oracle_err.max() < 0.05, f"oracle max error {oracle_err.max():.3e} m"
    assert our_err.max() < 0.001, f"max error {our_err.max():.3e} m"
    assert np.all(our_err <= oracle_err + 1e-4)


def test_round_trip_wgs84_gcj02_wgs84_returns_within_1mm(china_points):
    lon, lat = china_points
    back = crs.gcj02_to_wgs84(*crs.wgs84_to_gcj02(lon, lat))
    err = distance_m(*back, lon, lat)
    assert err.max() < 0.001, f"max error {err.max():.3e} m"


def test_round_trip_wgs84_bd09_wgs84_returns_within_1mm(china_points):
    lon, lat = china_points
    back = crs.bd09_to_wgs84(*crs.wgs84_to_bd09(lon, lat))
    err = distance_m(*back, lon, lat)
    assert err.max() < 0.001, f"max error {err.max():.3e} m"


def test_round_trip_gcj02_bd09_gcj02_returns_within_1mm(gcj_points):
    back = crs.bd09_to_gcj02(*crs.gcj02_to_bd09(*gcj_points))
    err = distance_m(*back, *gcj_points)
    assert err.max() < 0.001, f"max error {err.max():.3e} m"


def test_gcj02_inverse_needs_its_iterations_one_step_is_metres_off(china_points, gcj_points):
    # Guards the documented reason for iterating: a single fixed-point step is not good enough.
    lon, lat = china_points
    one_step = crs.gcj02_to_wgs84(*gcj_points, iterations=1)
    assert distance_m(*one_step, lon, lat).max() > 0.5


# --- points outside China -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("func", ALL_CONVERSIONS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("point", list(OUTSIDE_CHINA.values()), ids=list(OUTSIDE_CHINA))
def test_points_outside_china_are_returned_unchanged_as_scalars(func, point):
    lon, lat = func(*point)
    # Exact equality: not one bit may change.
    assert (lon, lat) == point
    assert np.float64(lon).tobytes() == np.float64(point[0]).tobytes()
    assert np.float64(lat).tobytes() == np.float64(point[1]).tobytes()


@pytest.mark.parametrize("func", ALL_CONVERSIONS, ids=lambda f: f.__name__)
def test_points_outside_china_are_returned_unchanged_in_arrays(func):
    lon = np.array([p[0] for p in OUTSIDE_CHINA.values()])
    lat = np.array([p[1] for p in OUTSIDE_CHINA.values()])
    out_lon, out_lat = func(lon, lat)
    assert out_lon.tobytes() == lon.tobytes()
    assert out_lat.tobytes() == lat.tobytes()


@pytest.mark.parametrize("func", ALL_CONVERSIONS, ids=lambda f: f.__name__)
def test_mixed_array_changes_only_the_points_inside_china(func):
    lon = np.array([YUNYANG_WGS[0], OUTSIDE_CHINA["london"][0], TIANANMEN_WGS[0], OUTSIDE_CHINA["sydney"][0]])
    lat = np.array([YUNYANG_WGS[1], OUTSIDE_CHINA["london"][1], TIANANMEN_WGS[1], OUTSIDE_CHINA["sydney"][1]])
    out_lon, out_lat = func(lon, lat)
    moved = distance_m(lon, lat, out_lon, out_lat)
    assert np.all(moved[[0, 2]] > 100.0), moved
    assert out_lon[[1, 3]].tobytes() == lon[[1, 3]].tobytes()
    assert out_lat[[1, 3]].tobytes() == lat[[1, 3]].tobytes()


@pytest.mark.parametrize("crs_name", crs.CRS_CHOICES)
@pytest.mark.parametrize("point", list(OUTSIDE_CHINA.values()), ids=list(OUTSIDE_CHINA))
def test_to_and_from_wgs84_leave_points_outside_china_unchanged(crs_name, point):
    assert crs.to_wgs84(*point, crs_name) == point
    assert crs.from_wgs84(*point, crs_name) == point


def test_in_china_is_true_for_china_and_false_elsewhere():
    lon = np.array([TIANANMEN_WGS[0], YUNYANG_WGS[0]] + [p[0] for p in OUTSIDE_CHINA.values()])
    lat = np.array([TIANANMEN_WGS[1], YUNYANG_WGS[1]] + [p[1] for p in OUTSIDE_CHINA.values()])
    assert crs.in_china(lon, lat).tolist() == [True, True, False, False, False, False]


# --- types and shapes ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("func", ALL_CONVERSIONS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("point", [YUNYANG_WGS, (108, 31), (np.float64(108.85), np.float64(31.0))], ids=str)
def test_scalars_in_give_python_floats_out(func, point):
    result = func(*point)
    assert isinstance(result, tuple)
    assert len(result) == 2
    assert type(result[0]) is float
    assert type(result[1]) is float


@pytest.mark.parametrize("func", ALL_CONVERSIONS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("shape", [(1,), (7,), (3, 4), (2, 3, 2)], ids=str)
def test_arrays_in_give_arrays_of_the_same_shape_out(func, shape):
    rng = np.random.default_rng(3)
    lon = rng.uniform(100.0, 120.0, shape)
    lat = rng.uniform(25.0, 40.0, shape)
    out_lon, out_lat = func(lon, lat)
    assert isinstance(out_lon, np.ndarray)
    assert isinstance(out_lat, np.ndarray)
    assert out_lon.shape == shape
    assert out_lat.shape == shape
    assert out_lon.dtype == np.float64
    # Elementwise: each element equals the scalar conversion of that element.
    i = (0,) * len(shape)
    assert (out_lon[i], out_lat[i]) == pytest.approx(func(float(lon[i]), float(lat[i])), abs=1e-12)


@pytest.mark.parametrize("func", ALL_CONVERSIONS, ids=lambda f: f.__name__)
def test_inputs_are_not_modified_in_place(func):
    lon = np.array([108.85, 116.39])
    lat = np.array([31.0, 39.9])
    lon_before, lat_before = lon.copy(), lat.copy()
    func(lon, lat)
    assert np.array_equal(lon, lon_before)
    assert np.array_equal(lat, lat_before)


# --- to_wgs84 / from_wgs84 ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("crs_name", ["wgs84", "cgcs2000"])
def test_wgs84_and_cgcs2000_pass_through_to_and_from_wgs84_unchanged(crs_name):
    lon = np.array([108.85, 116.3912757])
    lat = np.array([31.0, 39.906217])
    out_lon, out_lat = crs.to_wgs84(lon, lat, crs_name)
    assert out_lon is lon
    assert out_lat is lat
    assert crs.to_wgs84(*YUNYANG_WGS, crs_name) == YUNYANG_WGS
    out_lon, out_lat = crs.from_wgs84(lon, lat, crs_name)
    assert out_lon is lon
    assert out_lat is lat


def test_to_wgs84_dispatches_gcj02_and_bd09_to_the_inverse_conversions():
    assert crs.to_wgs84(*YUNYANG_GCJ, "gcj02") == crs.gcj02_to_wgs84(*YUNYANG_GCJ)
    assert crs.to_wgs84(*YUNYANG_BD, "bd09") == crs.bd09_to_wgs84(*YUNYANG_BD)
    assert crs.to_wgs84(*YUNYANG_GCJ, "gcj02") == pytest.approx(YUNYANG_WGS, abs=2 * DEG_7DP)
    assert crs.to_wgs84(*YUNYANG_BD, "bd09") == pytest.approx(YUNYANG_WGS, abs=3 * DEG_7DP)


def test_from_wgs84_dispatches_gcj02_and_bd09_to_the_forward_conversions():
    assert crs.from_wgs84(*YUNYANG_WGS, "gcj02") == crs.wgs84_to_gcj02(*YUNYANG_WGS)
    assert crs.from_wgs84(*YUNYANG_WGS, "bd09") == crs.wgs84_to_bd09(*YUNYANG_WGS)
    assert crs.from_wgs84(*YUNYANG_WGS, "gcj02") == pytest.approx(YUNYANG_GCJ, abs=DEG_7DP)
    assert crs.from_wgs84(*YUNYANG_WGS, "bd09") == pytest.approx(YUNYANG_BD, abs=DEG_7DP)


@pytest.mark.parametrize("crs_name", ["epsg:4326", "WGS84", "GCJ02", "bd-09", "", "mercator"])
def test_unknown_crs_raises_value_error(crs_name):
    with pytest.raises(ValueError, match="unknown source CRS"):
        crs.to_wgs84(108.85, 31.0, crs_name)
    with pytest.raises(ValueError, match="unknown target CRS"):
        crs.from_wgs84(108.85, 31.0, crs_name)


# --- transform_geometry -------------------------------------------------------------------------------------------


def _yunyang_polygon_with_hole():
    shell = [(108.60, 30.80), (109.10, 30.80), (109.10, 31.20), (108.60, 31.20), (108.60, 30.80)]
    hole = [(108.80, 30.95), (108.90, 30.95), (108.90, 31.05), (108.80, 31.05), (108.80, 30.95)]
    return shapely.Polygon(shell, [hole])


@pytest.mark.parametrize("func", ALL_CONVERSIONS, ids=lambda f: f.__name__)
def test_transform_geometry_converts_every_polygon_vertex(func):
    polygon = _yunyang_polygon_with_hole()
    coords = shapely.get_coordinates(polygon)
    expected = np.column_stack(func(coords[:, 0], coords[:, 1]))

    result = crs.transform_geometry(polygon, func)

    assert result.geom_type == "Polygon"
    assert len(result.interiors) == 1
    assert shapely.get_coordinates(result).shape == coords.shape
    assert np.array_equal(shapely.get_coordinates(result), expected)
    # Every vertex actually moved (the whole polygon is inside China).
    assert np.all(distance_m(coords[:, 0], coords[:, 1], expected[:, 0], expected[:, 1]) > 100.0)


def test_transform_geometry_handles_multipolygons_and_leaves_input_untouched():
    polygon = _yunyang_polygon_with_hole()
    multi = shapely.MultiPolygon([polygon, shapely.box(116.3, 39.8, 116.5, 40.0)])
    before = shapely.get_coordinates(multi).copy()
    coords = before
    expected = np.column_stack(crs.gcj02_to_wgs84(coords[:, 0], coords[:, 1]))

    result = crs.transform_geometry(multi, crs.gcj02_to_wgs84)

    assert result.geom_type == "MultiPolygon"
    assert len(result.geoms) == 2
    assert np.array_equal(shapely.get_coordinates(result), expected)
    assert np.array_equal(shapely.get_coordinates(multi), before)


def test_transform_geometry_round_trip_restores_polygon_within_1mm():
    polygon = _yunyang_polygon_with_hole()
    back = crs.transform_geometry(crs.transform_geometry(polygon, crs.wgs84_to_bd09), crs.bd09_to_wgs84)
    a = shapely.get_coordinates(polygon)
    b = shapely.get_coordinates(back)
    assert distance_m(a[:, 0], a[:, 1], b[:, 0], b[:, 1]).max() < 0.001
