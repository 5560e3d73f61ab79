"""H3 cells for points, computed once on write and stored as 64-bit integers.

Cells are kept as signed ``int64``: an H3 cell index uses at most 60 bits (bit 63 is reserved
and always 0), so it fits a ``BigIntegerField`` on SQLite and PostgreSQL. ``0`` is never a valid
cell and stands for "no cell" (a point with NaN coordinates). Clients and URLs use the usual
15-digit hex string (``to_hex``/``from_hex``).

h3 4.5 has no array version of ``latlng_to_cell``; ``h3.api.numpy_int`` takes scalars. Measured
on our 2-core machine (medians of 5, random points in Yunyang), the candidate loops cost the same
within noise: a list comprehension over ``zip(lat.tolist(), lon.tolist())``, ``np.fromiter`` over
``map`` (used below) and ``np.vectorize`` all take 0.6-0.7 s per million points at resolution 9,
1.4-1.8 M points/s; resolution 5 is ~20 % faster, and all three of ``H3_RESOLUTIONS`` cost about
1.5-2 µs per point. The ``basic_int`` API is ~10 % slower; calling the private ``h3._cy`` function
is ~20 % faster but is not public API, so it is not used.
"""

from functools import lru_cache
from itertools import repeat

import h3.api.numpy_int as h3i
import numpy as np

H3_RESOLUTIONS = (5, 7, 9)
NO_CELL = 0


def cells(lat, lon, resolution: int) -> np.ndarray:
    """H3 cells (``int64``) of WGS-84 points at one resolution; ``NO_CELL`` (0) where lat/lon is not finite.

    Note the order: ``(lat, lon)`` like h3 itself, unlike ``geo.crs`` which takes ``(lon, lat)``.
    """
    lat = np.asarray(lat, dtype=float)
    lon = np.asarray(lon, dtype=float)
    lat, lon = np.broadcast_arrays(lat, lon)
    out = np.zeros(lat.shape, dtype=np.int64)
    ok = np.isfinite(lat) & np.isfinite(lon)
    n = int(ok.sum())
    if n:
        out[ok] = np.fromiter(
            map(h3i.latlng_to_cell, lat[ok].tolist(), lon[ok].tolist(), repeat(int(resolution), n)),
            dtype=np.int64,
            count=n,
        )
    return out


def cells_by_resolution(lat, lon, resolutions=H3_RESOLUTIONS) -> dict[int, np.ndarray]:
    """``{resolution: cells(lat, lon, resolution)}`` for each of ``resolutions``."""
    return {res: cells(lat, lon, res) for res in resolutions}


def to_hex(cell: int) -> str:
    """The canonical lower-case hex string of a cell (``'8940c9a1a2bffff'``)."""
    return format(int(cell), "x")


def from_hex(cell: str) -> int:
    return int(cell, 16)


def snap_to_cells(lat, lon, resolution: int) -> tuple[np.ndarray, np.ndarray]:
    """The centre ``(lat, lon)`` of the cell at ``resolution`` holding each point; NaN where a point has none.

    What a coarse reader sees instead of an exact position: every point of one cell becomes the same point.
    """
    found = cells(lat, lon, resolution)
    out_lat = np.full(found.shape, np.nan)
    out_lon = np.full(found.shape, np.nan)
    for i, cell in enumerate(found.tolist()):
        if cell != NO_CELL:
            out_lat[i], out_lon[i] = h3i.cell_to_latlng(cell)
    return out_lat, out_lon


# How many cells' rings a process keeps (~0.9 KB each): a province's visited r7 cells are a few thousand.
CELL_RING_CACHE = 8192


@lru_cache(maxsize=CELL_RING_CACHE)
def cell_ring(cell: int) -> tuple[tuple[float, float], ...]:
    """The cell's hexagon (or pentagon) as a closed ring of ``(lon, lat)`` pairs in WGS-84, in the counter-clockwise
    order of h3's boundary. Immutable and cached: a cell's shape never changes, and a map redraws the same cells on
    every request (building the ring was most of a hexagon map's own Python)."""
    ring = tuple((lng, lat) for lat, lng in h3i.cell_to_boundary(int(cell)))
    return (*ring, ring[0])


def cell_boundary_geojson(cell: int) -> dict:
    """The cell's polygon as GeoJSON (WGS-84, ``(lon, lat)``, closed ring); its coordinates are the shared, immutable
    :func:`cell_ring`."""
    return {"type": "Polygon", "coordinates": [cell_ring(cell)]}
