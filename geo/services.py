"""Writes to administrative divisions."""

from dataclasses import dataclass

import shapely
from django.utils import timezone

from geo.assign import invalidate_division_index
from geo.codes import Level
from geo.geometry import area_km2, display_copy, to_geojson
from geo.models import AdminDivision


@dataclass
class DivisionRow:
    code: str
    name: str
    level: str
    parent_code: str | None = None
    geometry: object | None = None  # shapely geometry in WGS-84
    synthetic: bool = False  # the boundary is generated
    fictional: bool = False  # the division itself is invented (the demo's other counties)
    features: tuple[int, ...] = ()  # where it came from: 0-based feature numbers in an imported file


def division_upsert_many(rows: list[DivisionRow]) -> int:
    """Insert or update divisions by code in one statement per batch; running it twice is harmless.

    Geometry is made valid, measured on the ellipsoid and simplified once for display here, at
    write time, so no read path has to.
    """
    # bulk_create(update_conflicts=True) updates only update_fields, so updated_at must be listed for
    # an upsert to bump it: the division index's fingerprint (geo.assign) relies on it.
    base_fields = ["name", "level", "parent", "fictional", "updated_at"]
    geo_fields = ["boundary", "boundary_display", "boundary_synthetic", "area_km2", "rep_lat", "rep_lon"]
    # Parents first, so that foreign keys hold at every step; rows without geometry keep what is stored.
    for level in Level.values:
        for with_geometry in (False, True):
            batch = [r for r in rows if r.level == level and (r.geometry is not None) == with_geometry]
            if batch:
                AdminDivision.objects.bulk_create(
                    [_division(r) for r in sorted(batch, key=lambda r: r.code)],
                    batch_size=500,
                    update_conflicts=True,
                    unique_fields=["code"],
                    update_fields=base_fields + (geo_fields if with_geometry else []),
                )
    invalidate_division_index()
    return len(rows)


def _division(row: DivisionRow) -> AdminDivision:
    fields = {
        "code": row.code,
        "name": row.name,
        "level": row.level,
        "parent_id": row.parent_code,
        "fictional": row.fictional,
        "updated_at": timezone.now(),
    }
    if row.geometry is not None:
        geom = shapely.make_valid(row.geometry)
        point = geom.representative_point()
        fields.update(
            boundary=to_geojson(geom),
            boundary_display=to_geojson(display_copy(geom)),
            boundary_synthetic=row.synthetic,
            area_km2=round(area_km2(geom), 3),
            rep_lon=round(point.x, 6),
            rep_lat=round(point.y, 6),
        )
    return AdminDivision(**fields)
