"""Assign WGS-84 points to the village-level division that contains them.

An STRtree over the village polygons is built once per process and reused; writes that enrich a
batch of points ask :func:`division_index` for it. The cache is kept current two ways:

- in this process, :func:`invalidate_division_index` drops it: ``division_upsert_many`` calls it,
  and so do the ``post_save``/``post_delete`` signals on ``AdminDivision`` (see ``geo.apps``);
- across processes (gunicorn workers, other hosts), each process compares a fingerprint of the
  village rows, ``(Count, Max(updated_at))`` in one aggregate query, with the one its index was
  built from, at most once every ``DIVISION_INDEX_CHECK_SECONDS`` (setting, default 5 s), and
  rebuilds when it differs. A change made by another process is therefore seen within that delay.

The fingerprint sees every change that goes through the model or ``division_upsert_many`` (both
set ``updated_at``) and every insert or delete. It does not see ``QuerySet.update()`` calls that
leave ``updated_at`` alone, nor a write stamped with an ``updated_at`` older than the current
maximum (a host whose clock is behind); call :func:`invalidate_division_index` or restart then.
"""

import logging
import threading
import time

import numpy as np
import shapely
from django.conf import settings
from django.db import transaction
from django.db.models import Count, Max
from shapely.errors import ShapelyError

from geo.geometry import from_geojson
from geo.memory import collector_paused
from geo.models import AdminDivision

DEFAULT_CHECK_SECONDS = 5.0
logger = logging.getLogger(__name__)


class DivisionIndex:
    """Village polygons in an STRtree, with their codes and township codes.

    The rows are kept sorted by code, so a smaller tree index means a smaller code.
    """

    def __init__(self, codes, township_codes, geometries, fingerprint=None):
        order = np.argsort(np.asarray(codes, dtype=str), kind="stable")
        self.codes = np.asarray(codes, dtype=object)[order]
        self.township_codes = np.asarray(township_codes, dtype=object)[order]
        self.geometries = np.asarray(geometries, dtype=object)[order]
        self.fingerprint = fingerprint
        # GEOS builds the tree lazily, on the first query; the tree prepares the geometries it tests.
        self.tree = shapely.STRtree(self.geometries)

    @classmethod
    def build(cls, fingerprint=None) -> "DivisionIndex":
        """Load every village that has a boundary, in one query."""
        rows = (
            AdminDivision.objects.villages()
            .filter(boundary__isnull=False)
            .order_by("code")
            .values_list("code", "parent_id", "boundary")
        )
        codes, townships, geometries = [], [], []
        for code, parent, boundary in rows:
            try:
                # division_upsert_many stores valid geometry; an edit made elsewhere may not be.
                geometry = shapely.make_valid(from_geojson(boundary))
            except (ValueError, TypeError, AttributeError, KeyError, IndexError, ShapelyError):
                # One broken boundary must not stop every write that assigns points.
                logger.warning("Division %s has an unreadable boundary; left out of the index", code)
                continue
            if geometry.is_empty:
                continue
            codes.append(code)
            townships.append(parent)
            geometries.append(geometry)
        return cls(codes, townships, geometries, fingerprint)

    def __len__(self) -> int:
        return len(self.codes)

    def assign(self, lon, lat) -> tuple[np.ndarray, np.ndarray]:
        """``(village_codes, township_codes)`` for WGS-84 points, as object arrays of ``lon``'s shape.

        An entry is None where the point lies in no village or its coordinates are not finite. A
        point on a border shared by several villages goes to the smallest code, whatever the tree
        returns first. The whole batch goes through GEOS in one call.
        """
        lon, lat = np.broadcast_arrays(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
        shape = lon.shape
        lon, lat = lon.ravel(), lat.ravel()
        best = np.full(lon.size, -1, dtype=np.intp)
        finite = np.flatnonzero(np.isfinite(lon) & np.isfinite(lat))
        if finite.size and len(self):
            # Creating the point objects set off garbage collections over everything a running Django process
            # holds (250k+ objects): 1M points took 2.6-3.9 s with the collector on, 0.55 s with it paused. The
            # points hold no reference cycles, so pausing it loses nothing.
            with collector_paused():
                points = shapely.points(lon[finite], lat[finite])
            # Predicate (shapely 2.2, the 478 demo villages, 100k points, medians of 5 over three runs on a
            # busy 2-core machine): intersects 55-84 ms, within 106-137 ms, covered_by 112-174 ms. intersects
            # is the fastest and, unlike within, also matches points on a border, which the tie-break below
            # resolves. ("contains" would test point-contains-polygon, the wrong way round.)
            point_i, geom_i = self.tree.query(points, predicate="intersects")
            if point_i.size:
                # The smallest tree index (= smallest code) per point, in any hit order. An unbuffered
                # minimum.at is ~30x cheaper than sorting the hits (2-10 ms against 0.3 s for 1M points).
                smallest = np.full(finite.size, np.iinfo(np.intp).max, dtype=np.intp)
                np.minimum.at(smallest, point_i, geom_i)
                hit = smallest != np.iinfo(np.intp).max
                best[finite[hit]] = smallest[hit]
        found = best >= 0
        villages = np.full(lon.size, None, dtype=object)
        townships = np.full(lon.size, None, dtype=object)
        villages[found] = self.codes[best[found]]
        townships[found] = self.township_codes[best[found]]
        return villages.reshape(shape), townships.reshape(shape)


class _Cache:
    def __init__(self):
        self.lock = threading.Lock()
        self.index: DivisionIndex | None = None
        self.checked_at = float("-inf")  # time.monotonic() of the last fingerprint check
        self.generation = 0  # bumped by every invalidation


_cache = _Cache()


def divisions_fingerprint() -> tuple:
    """``(count, latest updated_at)`` over village divisions: one aggregate query."""
    result = AdminDivision.objects.villages().aggregate(count=Count("code"), latest=Max("updated_at"))
    return result["count"], result["latest"]


def division_index() -> DivisionIndex:
    """The process's cached index, rebuilt when the village divisions have changed."""
    interval = float(getattr(settings, "DIVISION_INDEX_CHECK_SECONDS", DEFAULT_CHECK_SECONDS))
    index = _cache.index
    if index is not None and time.monotonic() - _cache.checked_at < interval:
        return index
    with _cache.lock:
        generation = _cache.generation
        index = _cache.index
        # Fingerprint first, rows second: a change committed in between makes the next check rebuild
        # again, instead of being missed.
        fingerprint = divisions_fingerprint()
        if index is None or index.fingerprint != fingerprint:
            index = DivisionIndex.build(fingerprint)
        if _cache.generation == generation:  # not invalidated while we were building
            _cache.index = index
            _cache.checked_at = time.monotonic()
    return index


def _drop_index() -> None:
    _cache.generation += 1
    _cache.index = None
    _cache.checked_at = float("-inf")


def invalidate_division_index(using: str | None = None) -> None:
    """Drop this process's index, so that the next :func:`division_index` call rebuilds it.

    It is dropped now (this transaction already sees its own writes) and again when the current
    transaction on ``using`` commits, so that another thread cannot keep an index built in between
    from the rows as they were before the commit.
    """
    _drop_index()
    if transaction.get_connection(using).in_atomic_block:
        transaction.on_commit(_drop_index, using=using)


def division_changed(sender, using=None, **kwargs) -> None:
    """``post_save``/``post_delete`` receiver for ``AdminDivision`` (connected in ``geo.apps``)."""
    invalidate_division_index(using=using)


def assign_points(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """``(village_codes, township_codes)`` for WGS-84 ``(lon, lat)`` arrays, with the cached index."""
    return division_index().assign(lon, lat)
