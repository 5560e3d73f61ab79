"""Tests for geo.h3cells: vectorised H3 cells as int64, hex round trips and cell outlines.

Expected values come from h3's own string API (``h3.latlng_to_cell``), independent of the integer path.
"""

import h3
import numpy as np
import shapely
from shapely.geometry import shape

from geo.demo import county_outline_wgs84
from geo.geometry import random_points_in
from geo.h3cells import H3_RESOLUTIONS, NO_CELL, cell_boundary_geojson, cell_ring, cells, from_hex, to_hex

YUNYANG_TOWN = (30.9306, 108.6973)  # (lat, lon) of the county seat, Shuangjiang


def test_resolutions_are_coarse_to_fine():
    assert H3_RESOLUTIONS == (5, 7, 9)


def test_known_cell_at_resolution_9_matches_the_string_api():
    lat, lon = YUNYANG_TOWN
    expected = h3.latlng_to_cell(lat, lon, 9)

    cell = cells(np.array([lat]), np.array([lon]), 9)

    assert cell.dtype == np.int64
    assert int(cell[0]) == from_hex(expected)
    assert to_hex(cell[0]) == expected
    assert h3.get_resolution(to_hex(cell[0])) == 9


def test_hex_round_trip():
    cell = from_hex("8940c9a1a2bffff")

    assert to_hex(cell) == "8940c9a1a2bffff"
    assert from_hex(to_hex(cell)) == cell


def test_cell_at_resolution_7_is_the_parent_of_the_cell_at_9():
    lat, lon = np.array([YUNYANG_TOWN[0]]), np.array([YUNYANG_TOWN[1]])
    fine, coarse = cells(lat, lon, 9)[0], cells(lat, lon, 7)[0]

    assert fine != coarse
    assert h3.cell_to_parent(to_hex(fine), 7) == to_hex(coarse)


def test_vectorised_cells_equal_the_scalar_api_for_random_county_points():
    xy = random_points_in(county_outline_wgs84(), 1000, np.random.default_rng(9))
    lon, lat = xy[:, 0], xy[:, 1]

    for res in H3_RESOLUTIONS:
        expected = [from_hex(h3.latlng_to_cell(la, lo, res)) for la, lo in zip(lat.tolist(), lon.tolist(), strict=True)]
        assert cells(lat, lon, res).tolist() == expected
    assert len(set(cells(lat, lon, 9).tolist())) > 900  # res 9 cells (~0.1 km²) rarely repeat among 1,000 points


def test_non_finite_coordinates_give_no_cell_and_leave_the_rest_alone():
    lat = np.array([np.nan, YUNYANG_TOWN[0], YUNYANG_TOWN[0], np.inf])
    lon = np.array([YUNYANG_TOWN[1], np.nan, YUNYANG_TOWN[1], YUNYANG_TOWN[1]])

    result = cells(lat, lon, 9)

    assert result.tolist() == [NO_CELL, NO_CELL, from_hex(h3.latlng_to_cell(*YUNYANG_TOWN, 9)), NO_CELL]
    assert NO_CELL == 0


def test_empty_input_gives_an_empty_int64_array():
    result = cells(np.array([]), np.array([]), 9)

    assert result.dtype == np.int64
    assert result.shape == (0,)


def test_boundary_geojson_is_a_closed_lon_lat_ring_containing_the_cell_centre():
    cell = cells(np.array([YUNYANG_TOWN[0]]), np.array([YUNYANG_TOWN[1]]), 9)[0]
    centre_lat, centre_lon = h3.cell_to_latlng(to_hex(cell))

    geojson = cell_boundary_geojson(cell)
    ring = geojson["coordinates"][0]
    polygon = shape(geojson)

    assert geojson["type"] == "Polygon"
    assert len(ring) == 7  # a hexagon, closed
    assert ring[0] == ring[-1]
    assert all(108 < lon < 110 and 30 < lat < 32 for lon, lat in ring)  # (lon, lat), not (lat, lon)
    assert polygon.is_valid
    assert shapely.is_ccw(polygon.exterior)  # RFC 7946 exterior ring orientation
    assert polygon.contains(shapely.Point(centre_lon, centre_lat))
    assert polygon.contains(shapely.Point(YUNYANG_TOWN[1], YUNYANG_TOWN[0]))


def test_a_cells_ring_is_computed_once_and_cannot_be_changed_by_a_caller():
    cell = int(cells(np.array([YUNYANG_TOWN[0]]), np.array([YUNYANG_TOWN[1]]), 7)[0])
    cell_ring.cache_clear()

    first, second = cell_boundary_geojson(cell), cell_boundary_geojson(cell)

    assert first is not second  # each caller gets its own dict...
    assert first["coordinates"][0] is second["coordinates"][0]  # ...around the one cached ring
    assert cell_ring.cache_info().misses == 1
    assert isinstance(first["coordinates"][0], tuple) and all(isinstance(p, tuple) for p in first["coordinates"][0])
    boundary = h3.cell_to_boundary(to_hex(cell))
    assert first["coordinates"][0] == (*((lng, lat) for lat, lng in boundary), (boundary[0][1], boundary[0][0]))
