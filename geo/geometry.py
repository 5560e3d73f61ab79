"""Geometry helpers over shapely/pyproj: areas on the ellipsoid, display copies, sampling, GeoJSON."""

import numpy as np
import shapely
from pyproj import Geod
from shapely.geometry import mapping, shape

_GEOD = Geod(ellps="WGS84")
MU_PER_M2 = 1 / 666.6667  # 1 mu (亩) = 10000/15 m²
# About 30 m at Yunyang's latitude: invisible at county zoom, and it keeps payloads small.
DISPLAY_TOLERANCE_DEG = 0.0003


def area_m2(geometry) -> float:
    """Geodesic area in square metres of a WGS-84 (lon, lat) polygon or multipolygon."""
    area, _ = _GEOD.geometry_area_perimeter(geometry)
    return abs(area)


def area_km2(geometry) -> float:
    return area_m2(geometry) / 1e6


def area_mu(geometry) -> float:
    return area_m2(geometry) * MU_PER_M2


def distance_m(lon1, lat1, lon2, lat2):
    """Geodesic distance in metres between WGS-84 points; scalars or arrays (NaN in, NaN out)."""
    return _GEOD.inv(lon1, lat1, lon2, lat2)[2]


def display_copy(geometry):
    """A simplified copy for maps, topology preserved."""
    return shapely.simplify(geometry, DISPLAY_TOLERANCE_DEG, preserve_topology=True)


def to_geojson(geometry, precision: int = 6) -> dict:
    """GeoJSON dict with coordinates rounded to ``precision`` decimals (6 ≈ 0.1 m)."""
    return mapping(shapely.set_precision(geometry, 10**-precision) if precision else geometry)


def from_geojson(data: dict):
    return shape(data)


def random_points_in(geometry, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` uniformly random (lon, lat) points inside a polygon, by vectorised rejection sampling."""
    minx, miny, maxx, maxy = geometry.bounds
    shapely.prepare(geometry)
    found = np.empty((0, 2))
    while len(found) < n:
        batch = max(64, 3 * (n - len(found)))
        xy = np.column_stack([rng.uniform(minx, maxx, batch), rng.uniform(miny, maxy, batch)])
        found = np.vstack([found, xy[shapely.contains_xy(geometry, xy[:, 0], xy[:, 1])]])
    return found[:n]


def voronoi_partition(outline, seeds: np.ndarray, relax: int = 0) -> tuple[list, np.ndarray]:
    """Split ``outline`` into Voronoi cells around ``seeds`` (an (n, 2) array), clipped to it.

    ``relax`` rounds of Lloyd relaxation move each seed to its cell's centroid, which evens out
    the cell sizes. Returns the cells in seed order and the final seeds.
    """
    seeds = np.asarray(seeds, dtype=float)
    cells = []
    for round_ in range(relax + 1):
        diagram = shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=outline, ordered=True)
        cells = [shapely.make_valid(shapely.intersection(cell, outline)) for cell in shapely.get_parts(diagram)]
        if round_ < relax:
            seeds = np.array([[c.x, c.y] for c in (cell.centroid for cell in cells)])
    return cells, seeds
