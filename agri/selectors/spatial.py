"""Distance queries on the ``lat``/``lon`` columns (WGS-84 degrees), the same on SQLite and PostgreSQL."""

import numpy as np
from django.db.models import F, QuerySet
from django.db.models.functions import ACos, Cos, Least, Radians, Sin

# The mean Earth radius (IUGG), in km: great-circle distances here are on this sphere, as h3's are.
EARTH_RADIUS_KM = 6371.0088


def within_radius(queryset: QuerySet, *, lat: float, lon: float, radius_km: float) -> QuerySet:
    """Rows whose point lies within ``radius_km`` of (``lat``, ``lon``), with the cosine of their central angle
    aliased as ``cos_angle`` (see :func:`distance_km`). A bounding box first, which the (lat, lon) index serves,
    then the exact great-circle test in SQL."""
    dlat = float(np.degrees(radius_km / EARTH_RADIUS_KM))
    dlon = dlat / max(float(np.cos(np.radians(lat))), 1e-6)
    rad_lat, rad_lon = np.radians(lat), np.radians(lon)
    cos_angle = Sin(Radians(F("lat"))) * float(np.sin(rad_lat)) + Cos(Radians(F("lat"))) * float(np.cos(rad_lat)) * Cos(
        Radians(F("lon")) - float(rad_lon)
    )
    return (
        queryset.filter(lat__gte=lat - dlat, lat__lte=lat + dlat, lon__gte=lon - dlon, lon__lte=lon + dlon)
        .alias(cos_angle=cos_angle)
        .filter(cos_angle__gte=float(np.cos(radius_km / EARTH_RADIUS_KM)))
    )


def distance_km():
    """The great-circle distance in km of a row from :func:`within_radius` (an expression to annotate)."""
    return EARTH_RADIUS_KM * ACos(Least(F("cos_angle"), 1.0))
