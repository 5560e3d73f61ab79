"""``?crs=`` on every response with coordinates: stored WGS-84, drawn on Amap/Tencent (GCJ-02) or Baidu (BD-09)."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework.exceptions import ValidationError
from shapely.geometry import mapping, shape

from geo.crs import from_wgs84, transform_geometry

OUTPUT_CRS = ("wgs84", "gcj02", "bd09")
CRS_PARAMETER = OpenApiParameter(
    "crs",
    OpenApiTypes.STR,
    enum=list(OUTPUT_CRS),
    description="Return coordinates in this system (gcj02 for Amap/Tencent maps, bd09 for Baidu). Default wgs84.",
)


def output_crs(request) -> str:
    crs = (request.query_params.get("crs") if request is not None else None) or "wgs84"  # empty: the default
    if crs not in OUTPUT_CRS:
        raise ValidationError({"crs": [_("Use wgs84, gcj02 or bd09.")]}, code="invalid")
    return crs


def convert_point(lon, lat, crs: str):
    if crs == "wgs84" or lon is None or lat is None:
        return lon, lat
    x, y = from_wgs84(lon, lat, crs)
    return round(x, 7), round(y, 7)


def convert_geojson(geometry: dict | None, crs: str) -> dict | None:
    if crs == "wgs84" or not geometry:
        return geometry
    return mapping(transform_geometry(shape(geometry), lambda x, y: from_wgs84(x, y, crs)))
