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
from agri.selectors.coverage import coverage_by_division, coverage_gaps, coverage_hexagons
from agri.selectors.indicators import MONTHLY_FIGURES, monthly_activity, plan_indicators
from agri.validators import printable

STATUS_ZH = {"under": "未达标", "met": "达标", "over": "超出", None: ""}


def format_parameter(*formats: str) -> OpenApiParameter:
    return OpenApiParameter("format", OpenApiTypes.STR, enum=list(formats), description=f"Default {formats[0]}.")


def feature_collection(features) -> dict:
    return {"type": "FeatureCollection", "features": list(features)}


def feature(fid, geometry, properties: dict) -> dict:
    return {"type": "Feature", "id": fid, "geometry": geometry, "properties": properties}


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
            "get 403. Read from the visit rollup: the cost does not grow with the number of visits."
        ),
        parameters=[cs.DivisionCoverageQuerySerializer],
        responses={200: cs.DivisionCoverageSerializer, 400: OpenApiResponse(description="invalid parameter")},
    )
    def get(self, request):
        params = self.query()
        rows = coverage_by_division(
            user=request.user, level=params["level"], only=cs.coverage_filter(params), crs=params["crs"]
        )
        return Response(
            feature_collection(feature(row["code"], row.pop("geometry"), row) for row in rows),
        )


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
            "`COVERAGE_VIEWER_H3_RESOLUTION` (7 by default): a finer request is answered at that resolution."
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
        return Response(feature_collection(feature(row["h3"], row.pop("geometry"), row) for row in rows))


GAP_HEADERS = ["类型", "编号", "名称", "所在村", "乡镇代码", "农技推广人员", "登记示范户", "最近服务"]
GAP_KINDS = ("示范户", "村")  # the row types, and the workbook's sheets


def gap_rows(data: dict, kind: str):
    """The gaps as rows under ``GAP_HEADERS`` (no coordinates: the GeoJSON has them, coarsened where it must)."""
    if kind == "示范户":
        for h in data["households"]:
            yield [kind, h["id"], h["head_name"], h["village_name"], h["township_code"], h["worker_name"], None,
                   h["last_visit"]]  # fmt: skip
    else:
        for v in data["villages"]:
            yield [kind, v["code"], v["name"], None, v["township_code"], None, v["households"], v["last_visit"]]


def gaps_xlsx(data: dict) -> io.BytesIO:
    """One sheet for the households, one for the villages."""
    period = f"近 {data['days']} 天（{data['since']} 至 {data['until']}）"
    return table_xlsx([(kind, f"{period}无服务的{kind}", GAP_HEADERS, gap_rows(data, kind)) for kind in GAP_KINDS])


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
                return table_response(gaps_xlsx(data), fmt, stem)
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


def table_xlsx(sheets) -> io.BytesIO:
    """A workbook of ``(title, heading, headers, rows)`` sheets: the heading line, the headers, then the rows."""
    from openpyxl import Workbook  # imported on use: loading it costs every process start about 0.4 s

    book = Workbook(write_only=True)
    for title, heading, headers, rows in sheets:
        sheet = book.create_sheet(title)
        sheet.append([heading])
        sheet.append(headers)
        for row in rows:
            # Rows stored before names refused control characters may hold some, which no xlsx cell can.
            sheet.append([printable(value) for value in row])
    out = io.BytesIO()
    book.save(out)
    out.seek(0)
    return out


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


def monthly_xlsx(data: dict) -> io.BytesIO:
    return table_xlsx([("按月", f"{data['year']}年 科技服务逐月情况", MONTHLY_HEADERS, monthly_table(data))])


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
        content = monthly_xlsx(data) if fmt == "xlsx" else table_csv(MONTHLY_HEADERS, monthly_table(data))
        return table_response(content, fmt, f"activity-{year}")
