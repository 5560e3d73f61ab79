"""Geodesic helpers: distances on the WGS-84 ellipsoid, areas in mu."""

import math

import numpy as np
import pytest
from shapely.geometry import box

from geo.geometry import area_mu, distance_m


def test_distance_is_the_wgs84_geodesic():
    # One degree of latitude: 110,574 m at the equator and 111,694 m at the poles on WGS-84 (not the sphere's
    # 111,195 m everywhere).
    assert distance_m(0.0, 0.0, 0.0, 1.0) == pytest.approx(110_574.4, abs=0.5)
    assert distance_m(0.0, 89.0, 0.0, 90.0) == pytest.approx(111_693.9, abs=0.5)
    assert distance_m(108.7, 30.95, 108.7, 30.95) == 0


def test_distance_takes_arrays_and_passes_nan_through():
    lon = np.array([108.70, 108.80, np.nan])
    lat = np.array([30.95, 31.00, 30.95])
    out = distance_m(lon, lat, lon + 0.01, lat)
    assert out.shape == (3,)
    # Along a parallel, 0.01° of longitude spans an arc of the parallel's radius N·cos φ (a geodesic that short
    # is within millimetres of it).
    a, e2 = 6_378_137.0, 0.00669437999014
    parallel = [a / math.sqrt(1 - e2 * math.sin(math.radians(p)) ** 2) * math.cos(math.radians(p)) for p in lat[:2]]
    assert out[:2] == pytest.approx([r * math.radians(0.01) for r in parallel], abs=0.01)
    assert math.isnan(out[2])


def test_area_of_a_small_square_in_mu():
    square = box(108.70, 30.95, 108.701, 30.951)  # about 95.5 m × 110.9 m
    assert area_mu(square) == pytest.approx(95.5 * 110.9 / 666.6667, rel=0.01)
