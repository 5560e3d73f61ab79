"""Coverage maps, gaps, a station's service area and the plan's indicators, for the bureau (and each field
person's own slice: see ``agri.selectors.coverage``).

``?format=`` chooses the representation where there is a choice (json, geojson, xlsx, csv); an unknown format is
a 400 in the API's error shape, and so is every error, whatever format was asked for.
"""

import csv
import io

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.response import Response

from agri.api import coverage_serializers as cs
from agri.api.base import QueryAPIView
from agri.api.renderers import XLSX_MEDIA_TYPE, CSVRenderer, GeoJSONRenderer, JSONRenderer, XLSXRenderer
from agri.selectors.coverage import (
    coverage_by_division,
    coverage_classification,
    coverage_gaps,
    coverage_hexagons,
    hexagon_classification,
)
from agri.selectors.indicators import plan_indicators
from agri.validators import printable

STATUS_ZH = {"under": "未达标", "met": "达标", "over": "超出", None: ""}


def format_parameter(*formats: str) -> OpenApiParameter:
    return OpenApiParameter("format", OpenApiTypes.STR, enum=list(formats), description=f"Default {formats[0]}.")


def feature_collection(features) -> dict:
    return {"type": "FeatureCollection", "features": list(features)}


def feature(fid, geometry, properties: dict) -> dict:
    return {"type": "Feature", "id": fid, "geometry": geometry, "properties": properties}


def legend(classification, value: str) -> dict:
    return {"value": value, **classification.as_dict()}


# --- coverage ---------------------------------------------------------------------------------------


class DivisionCoverageView(QueryAPIView):
    """Coverage per township or village as a GeoJSON FeatureCollection (a choropleth's data)."""

    renderer_classes = [GeoJSONRenderer, JSONRenderer]
    query_serializer_class = cs.DivisionCoverageQuerySerializer

    @extend_schema(
        summary="Coverage per township or village (GeoJSON)",
        description=(
            "One feature per division of the level inside the caller's jurisdiction, with its simplified boundary. "
            "`visits`, `workers_active`, `commissioners_active` and `last_visit` count visits by where they "
            "happened; `households` are the model households registered in the division and `households_visited` "
            "those with at least one visit in the period, so `coverage` is a 0-1 share (null without households). "
            "With `industry`, households are those of that industry's network. Bureau accounts see their "
            "jurisdiction; experts, workers and commissioners their own visits and households; station managers "
            "get 403. Read from the visit rollup: the cost does not grow with the number of visits. With "
            "`scheme`, `value` is classed as on the PNG map (`classification`, and each feature's `map_class`)."
        ),
        parameters=[cs.DivisionCoverageQuerySerializer],
        responses={200: cs.DivisionCoverageSerializer, 400: OpenApiResponse(description="invalid parameter")},
    )
    def get(self, request):
        params = self.query()
        rows = coverage_by_division(
            user=request.user, level=params["level"], only=cs.coverage_filter(params), crs=params["crs"]
        )
        classification = None
        if params.get("scheme"):
            classification = coverage_classification(
                rows, value=params["value"], scheme=params["scheme"], classes=params["classes"]
            )
            keys = iter(classification.members)  # one per division with a boundary, in order
            for row in rows:
                row["map_class"] = next(keys) if row["geometry"] else None
        collection = feature_collection(feature(row["code"], row.pop("geometry"), row) for row in rows)
        if classification:
            collection["classification"] = legend(classification, params["value"])
        return Response(collection)


class HexagonCoverageView(QueryAPIView):
    """Visits per H3 hexagon as a GeoJSON FeatureCollection (a heatmap that needs no boundaries)."""

    renderer_classes = [GeoJSONRenderer, JSONRenderer]
    query_serializer_class = cs.HexagonQuerySerializer

    @extend_schema(
        summary="Visits per H3 hexagon (GeoJSON)",
        description=(
            "Counts per H3 cell at resolution 5, 7 or 9, from the cells stored on each visit when it was written; "
            "works where no township boundaries exist. `bbox` keeps the visits inside minLon,minLat,maxLon,maxLat "
            "(WGS-84). Visits are those the caller may see. Bureau viewers get cells no finer than "
            "`COVERAGE_VIEWER_H3_RESOLUTION` (7 by default): a finer request is answered at that resolution. With "
            "`scheme`, the cells' visits are classed (`classification`, and each feature's `map_class`)."
        ),
        parameters=[cs.HexagonQuerySerializer],
        responses={200: cs.HexagonCoverageSerializer, 400: OpenApiResponse(description="invalid parameter")},
    )
    def get(self, request):
        params = self.query()
        rows = coverage_hexagons(
            user=request.user,
            resolution=params["resolution"],
            bbox=params.get("bbox"),
            only=cs.coverage_filter(params),
            crs=params["crs"],
        )
        classification = None
        if params.get("scheme"):
            classification = hexagon_classification(rows, scheme=params["scheme"], classes=params["classes"])
            for row, key in zip(rows, classification.members, strict=True):
                row["map_class"] = key
        collection = feature_collection(feature(row["h3"], row.pop("geometry"), row) for row in rows)
        if classification:
            collection["classification"] = legend(classification, "visits")
        return Response(collection)


class CoverageGapsView(QueryAPIView):
    """Who and where nobody visited lately."""

    renderer_classes = [JSONRenderer, GeoJSONRenderer]
    query_serializer_class = cs.GapQuerySerializer

    @extend_schema(
        summary="Households and villages with no visit in the last N days",
        description=(
            "Model households with no visit in the last `days` days (default 90, today included), and villages "
            "where no visit took place in that period. `?format=geojson` returns one FeatureCollection: households "
            "as points, villages as their simplified boundaries (`properties.kind` tells them apart). For bureau "
            "viewers a household stands at the centre of its H3 cell (`location_grid` gives the resolution)."
        ),
        parameters=[cs.GapQuerySerializer, format_parameter("json", "geojson")],
        responses={
            (200, "application/json"): cs.CoverageGapsSerializer,
            (200, "application/geo+json"): OpenApiTypes.OBJECT,
            400: OpenApiResponse(description="invalid parameter"),
        },
    )
    def get(self, request):
        params = self.query()
        data = coverage_gaps(user=request.user, days=params["days"], crs=params["crs"])
        if request.accepted_renderer.format != "geojson":
            return Response(data)
        households = (
            feature(h["id"], {"type": "Point", "coordinates": [h["lon"], h["lat"]]}, {"kind": "household", **h})
            for h in data["households"]
        )
        villages = (feature(v["code"], v.pop("geometry"), {"kind": "village", **v}) for v in data["villages"])
        return Response(feature_collection([*households, *villages]))


# --- indicators -------------------------------------------------------------------------------------

TABLE_HEADERS = [
    "指标代码", "指标", "单位", "分组", "分组代码", "分组名称", "数值", "目标", "目标上限", "状态", "分子", "分母",
]  # fmt: skip


SHEETS = {"合计": "合计", "产业": "按产业", "乡镇": "按乡镇"}  # breakdown -> sheet title


def indicator_table(data: dict):
    """The indicators as flat rows under ``TABLE_HEADERS``: the county total, then per industry, then per township."""
    for scope, key in (("合计", None), ("产业", "by_industry"), ("乡镇", "by_township")):
        for ind in data["indicators"]:
            for row in [ind] if key is None else ind[key]:
                yield [
                    ind["code"],
                    ind["name"],
                    ind["unit"],
                    scope,
                    None if key is None else row["code"],
                    None if key is None else row["name"],
                    row["value"],
                    row["target"],
                    row["target_max"],
                    STATUS_ZH[row["status"]],
                    row["numerator"],
                    row["denominator"],
                ]


def indicators_xlsx(data: dict) -> io.BytesIO:
    """A workbook with one sheet per breakdown (合计, 按产业, 按乡镇), Chinese headers."""
    from openpyxl import Workbook  # imported on use: loading it costs every process start about 0.4 s

    book = Workbook(write_only=True)
    sheets = {scope: book.create_sheet(title) for scope, title in SHEETS.items()}
    for sheet in sheets.values():
        sheet.append([f"{data['year']}年 农业科技推广工程指标（专栏3）"])
        sheet.append(TABLE_HEADERS)
    for row in indicator_table(data):
        # Rows stored before names refused control characters may hold some, which no xlsx cell can.
        sheets[row[3]].append([printable(value) for value in row])
    out = io.BytesIO()
    book.save(out)
    out.seek(0)
    return out


def indicators_csv(data: dict) -> io.BytesIO:
    """UTF-8 with a BOM, so that Excel on a Chinese Windows opens it with the right encoding."""
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(TABLE_HEADERS)
    writer.writerows(indicator_table(data))
    return io.BytesIO(text.getvalue().encode("utf-8-sig"))


class PlanIndicatorsView(QueryAPIView):
    """The plan's targets (专栏3) for a year."""

    renderer_classes = [JSONRenderer, XLSXRenderer, CSVRenderer]
    query_serializer_class = cs.IndicatorQuerySerializer

    @extend_schema(
        summary="The plan's indicators (专栏3) for a year, per industry and township",
        description=(
            "Every target of box 专栏3 with its value, target and status (under/met/over): commissioners in "
            "service, experts per industry, workers per expert and their township share, households per worker, "
            "farmers per household, bases and their field schools, and the year's visits, trainings and "
            "attendance, new varieties and new techniques (distinct names introduced). Each is broken down by "
            "industry and by township. `?format=xlsx` downloads a workbook with Chinese headers; `?format=csv` "
            "UTF-8 CSV with a BOM."
        ),
        parameters=[cs.IndicatorQuerySerializer, format_parameter("json", "xlsx", "csv")],
        responses={
            (200, "application/json"): cs.PlanIndicatorsSerializer,
            (200, XLSX_MEDIA_TYPE): OpenApiTypes.BINARY,
            (200, "text/csv"): OpenApiTypes.BINARY,
            400: OpenApiResponse(description="invalid parameter"),
        },
    )
    def get(self, request):
        year = self.query()["year"]
        data = plan_indicators(user=request.user, year=year)
        fmt = request.accepted_renderer.format
        if fmt == "xlsx":
            content = indicators_xlsx(data)
        elif fmt == "csv":
            content = indicators_csv(data)
        else:
            return Response(data)
        content_type = XLSX_MEDIA_TYPE if fmt == "xlsx" else "text/csv; charset=utf-8"
        return FileResponse(content, as_attachment=True, filename=f"indicators-{year}.{fmt}", content_type=content_type)
