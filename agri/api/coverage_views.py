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
    coverage_scope_label,
    hexagon_classification,
)
from agri.selectors.indicators import MONTHLY_FIGURES, SHARE_UNIT, monthly_activity, plan_indicators
from agri.workbooks import Cell, Column, Sheet, title_text, workbook_write

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
    """Coverage per county, township or village as a GeoJSON FeatureCollection (a choropleth's data)."""

    renderer_classes = [GeoJSONRenderer, JSONRenderer]
    query_serializer_class = cs.DivisionCoverageQuerySerializer

    @extend_schema(
        summary="Coverage per county, township or village (GeoJSON)",
        description=(
            "One feature per division of the level (`county`, `township` or `village`) inside the caller's "
            "jurisdiction, with its simplified boundary: a city or province bureau compares its counties with "
            "`level=county`. "
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


GAP_HEADERS = ["类型", "编号", "名称", "所在村", "乡镇代码", "农技推广人员", "登记示范户", "最近服务"]
GAP_KINDS = ("示范户", "村")  # the row types, and the workbook's sheets
GAP_COLUMNS = [Column(h, "count" if h == "登记示范户" else "date" if h == "最近服务" else "text") for h in GAP_HEADERS]


def gap_rows(data: dict, kind: str):
    """The gaps as rows under ``GAP_HEADERS`` (no coordinates: the GeoJSON has them, coarsened where it must)."""
    if kind == "示范户":
        for h in data["households"]:
            yield [kind, h["id"], h["head_name"], h["village_name"], h["township_code"], h["worker_name"], None,
                   h["last_visit"]]  # fmt: skip
    else:
        for v in data["villages"]:
            yield [kind, v["code"], v["name"], None, v["township_code"], None, v["households"], v["last_visit"]]


def gaps_xlsx(data: dict, *, scope: str) -> io.BytesIO:
    """One sheet for the households, one for the villages, titled with the period and the caller's scope."""
    title = title_text(
        f"近 {data['days']} 天无服务的示范户和村",
        period=f"{data['since']} 至 {data['until']}",
        filters=[("近天数", str(data["days"])), ("范围", scope)],
    )
    return workbook_write(title=title, sheets=[Sheet(kind, GAP_COLUMNS, gap_rows(data, kind)) for kind in GAP_KINDS])


class CoverageGapsView(QueryAPIView):
    """Who and where nobody visited lately."""

    renderer_classes = [JSONRenderer, GeoJSONRenderer, XLSXRenderer, CSVRenderer]
    query_serializer_class = cs.GapQuerySerializer

    @extend_schema(
        summary="Households and villages with no visit in the last N days",
        description=(
            "Model households with no visit in the last `days` days (default 90, today included), and villages "
            "where no visit took place in that period. `?format=geojson` returns one FeatureCollection: households "
            "as points, villages as their simplified boundaries (`properties.kind` tells them apart). For bureau "
            "viewers a household stands at the centre of its H3 cell (`location_grid` gives the resolution). "
            "`?format=xlsx` (a sheet each) or `csv` (UTF-8 with a BOM; households, then villages) give the lists "
            "with Chinese headers and without coordinates."
        ),
        parameters=[cs.GapQuerySerializer, format_parameter("json", "geojson", "xlsx", "csv")],
        responses={
            (200, "application/json"): cs.CoverageGapsSerializer,
            (200, "application/geo+json"): OpenApiTypes.OBJECT,
            (200, XLSX_MEDIA_TYPE): OpenApiTypes.BINARY,
            (200, "text/csv"): OpenApiTypes.BINARY,
            400: OpenApiResponse(description="invalid parameter"),
        },
    )
    def get(self, request):
        params = self.query()
        data = coverage_gaps(user=request.user, days=params["days"], crs=params["crs"])
        fmt = request.accepted_renderer.format
        if fmt in ("xlsx", "csv"):
            stem = f"gaps-{params['days']}d-{data['until']:%Y%m%d}"
            if fmt == "xlsx":
                return table_response(gaps_xlsx(data, scope=coverage_scope_label(request.user)), fmt, stem)
            rows = (row for kind in GAP_KINDS for row in gap_rows(data, kind))
            return table_response(table_csv(GAP_HEADERS, rows), fmt, stem)
        if fmt != "geojson":
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
TABLE_KINDS = ["text"] * 6 + ["decimal"] * 3 + ["text", "count", "count"]


SHEETS = {"合计": "合计", "产业": "按产业", "城市": "按城市", "区县": "按区县", "乡镇": "按乡镇"}  # breakdown -> sheet
BREAKDOWNS = (
    ("合计", None),
    ("产业", "by_industry"),
    ("城市", "by_city"),
    ("区县", "by_county"),
    ("乡镇", "by_township"),
)


def indicator_table(data: dict):
    """The indicators as flat rows under ``TABLE_HEADERS``: the total, then per industry, city, county and township."""
    for scope, key in BREAKDOWNS:
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


def _value_kind(unit: str, value) -> str:
    """A share is a percentage, a whole number a count, anything else (a ratio such as 9.5 per expert) a decimal."""
    if unit == SHARE_UNIT:
        return "percent"
    return "count" if isinstance(value, int) else "decimal"


def indicators_xlsx(data: dict, *, scope: str) -> io.BytesIO:
    """A workbook with one sheet per breakdown (合计, 按产业, 按城市, 按区县, 按乡镇), Chinese headers, titled with the
    year and the caller's scope."""
    year = data["year"]
    title = title_text(
        f"{year}年 农业科技推广工程指标（专栏3）",
        period=f"{year}-01-01 至 {year}-12-31",
        filters=[("年份", str(year)), ("范围", scope)],
    )
    columns = [Column(header, kind) for header, kind in zip(TABLE_HEADERS, TABLE_KINDS, strict=True)]
    rows = {key: [] for key in SHEETS}
    for row in indicator_table(data):
        for i in (6, 7, 8):
            row[i] = Cell(row[i], _value_kind(row[2], row[i]))
        rows[row[3]].append(row)
    return workbook_write(title=title, sheets=[Sheet(SHEETS[key], columns, rows[key]) for key in SHEETS])


def table_csv(headers: list[str], rows) -> io.BytesIO:
    """UTF-8 with a BOM, so that Excel on a Chinese Windows opens it with the right encoding."""
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(headers)
    writer.writerows(rows)
    return io.BytesIO(text.getvalue().encode("utf-8-sig"))


def indicators_csv(data: dict) -> io.BytesIO:
    return table_csv(TABLE_HEADERS, indicator_table(data))


def table_response(content: io.BytesIO, fmt: str, stem: str) -> FileResponse:
    content_type = XLSX_MEDIA_TYPE if fmt == "xlsx" else "text/csv; charset=utf-8"
    return FileResponse(content, as_attachment=True, filename=f"{stem}.{fmt}", content_type=content_type)


class PlanIndicatorsView(QueryAPIView):
    """The plan's targets (专栏3) for a year."""

    renderer_classes = [JSONRenderer, XLSXRenderer, CSVRenderer]
    query_serializer_class = cs.IndicatorQuerySerializer

    @extend_schema(
        summary="The plan's indicators (its box 3) for a year, per industry, city, county and township",
        description=(
            "Every target of the plan's box 3 with its value, target and status (under/met/over): commissioners in "
            "service, experts per industry, workers per expert and their township share, households per worker, "
            "farmers per household, bases and their field schools, and the year's visits, trainings and "
            "attendance, new varieties and new techniques (distinct names introduced). Each is broken down by "
            "industry, city, county and township. The targets are a county's: for a city's or province's slice the "
            "absolute ones (people, bases, visits, names) are multiplied by the number of counties in it, and so "
            "are each city's; ratios keep theirs. `?format=xlsx` downloads a workbook with Chinese headers (titled "
            "with the year and the caller's scope; frozen header, autofilter, counts and percentages formatted); "
            "`?format=csv` UTF-8 CSV with a BOM."
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
            content = indicators_xlsx(data, scope=coverage_scope_label(request.user))
        elif fmt == "csv":
            content = indicators_csv(data)
        else:
            return Response(data)
        return table_response(content, fmt, f"indicators-{year}")


MONTHLY_HEADERS = [
    "月份", "服务次数", "技术培训场次", "培训人次", "开展服务的农技推广人员", "开展服务的科技特派员",
    "登记农技推广人员", "在岗科技特派员",
]  # fmt: skip


def monthly_table(data: dict):
    """One row per month, then the year (whose active people are counted over the year, and which carries the
    registered workers and the commissioners in service)."""
    for row in data["months"]:
        yield [row["month"], *(row[name] for name in MONTHLY_FIGURES), None, None]
    total = data["total"]
    yield [
        f"{data['year']}年全年",
        *(total[name] for name in MONTHLY_FIGURES),
        data["workers_registered"],
        data["commissioners_in_service"],
    ]


def monthly_xlsx(data: dict, *, scope: str) -> io.BytesIO:
    """The months, then the year, titled with the year and the caller's scope."""
    year = data["year"]
    title = title_text(
        f"{year}年 科技服务逐月情况",
        period=f"{year}-01-01 至 {year}-12-31",
        filters=[("年份", str(year)), ("范围", scope)],
    )
    columns = [Column(h, "text" if h == "月份" else "count") for h in MONTHLY_HEADERS]
    return workbook_write(title=title, sheets=[Sheet("按月", columns, monthly_table(data))])


class MonthlyActivityView(QueryAPIView):
    """The year's service figures month by month, and who was active."""

    renderer_classes = [JSONRenderer, XLSXRenderer, CSVRenderer]
    query_serializer_class = cs.IndicatorQuerySerializer

    @extend_schema(
        summary="The year's visits, trainings and active workers and commissioners, month by month",
        description=(
            "For each month of `year`: visits, trainings, training attendance, and the extension workers and tech "
            "commissioners active (with at least one visit); `total` gives the same for the whole year (active "
            "people counted over the year, not summed), beside the workers registered and the commissioners in "
            "service. Same slice as `GET /indicators/`. `?format=xlsx` or `csv` (UTF-8 with a BOM) download "
            "the table with Chinese headers, months then the year."
        ),
        parameters=[cs.IndicatorQuerySerializer, format_parameter("json", "xlsx", "csv")],
        responses={
            (200, "application/json"): cs.MonthlyActivitySerializer,
            (200, XLSX_MEDIA_TYPE): OpenApiTypes.BINARY,
            (200, "text/csv"): OpenApiTypes.BINARY,
            400: OpenApiResponse(description="invalid parameter"),
        },
    )
    def get(self, request):
        year = self.query()["year"]
        data = monthly_activity(user=request.user, year=year)
        fmt = request.accepted_renderer.format
        if fmt == "json":
            return Response(data)
        content = (
            monthly_xlsx(data, scope=coverage_scope_label(request.user))
            if fmt == "xlsx"
            else table_csv(MONTHLY_HEADERS, monthly_table(data))
        )
        return table_response(content, fmt, f"activity-{year}")
