"""Rows of the GIS exports (visits, model households, demonstration bases, coverage), as chunks of
``(rows, geometries)`` for ``geo.exports``: the layers' columns, read with ``.values()`` a chunk at a time, and
personal data masked by the one rule (``agri.privacy``). All coordinates are WGS-84."""

from collections.abc import Iterable, Iterator
from itertools import islice

import shapely
from django.db.models import Count, Q, QuerySet

from agri.models import ModelHousehold, VisitFlag
from agri.models.visits import POINT_FIELDS, TARGET_COLUMNS
from agri.privacy import HOUSEHOLD, VISIT, redact
from geo.exports import Chunk, Field, Layer
from geo.geometry import from_geojson


def chunked(iterable: Iterable, size: int) -> Iterator[list]:
    iterator = iter(iterable)
    while chunk := list(islice(iterator, size)):
        yield chunk


def points(rows: list[dict]) -> list:
    return list(shapely.points([r["lon"] for r in rows], [r["lat"] for r in rows]))


# --- visits ---------------------------------------------------------------------------------------

VISIT_LAYER = Layer(
    "visits",
    (
        Field("id"),
        Field("kind"),
        Field("industry"),
        Field("actor_type"),
        Field("actor_id", "int"),
        Field("actor_name"),
        Field("household"),
        Field("farmer"),
        Field("base", "int"),
        Field("station", "int"),
        Field("target_village", shp="target_vil"),
        Field("village_code", shp="vill_code"),
        Field("village_name", shp="vill_name"),
        Field("township_code", shp="town_code"),
        Field("started_at", "datetime"),
        Field("ended_at", "datetime"),
        Field("visit_date", "date"),
        Field("accuracy_m", "float"),
        Field("altitude_m", "float"),
        Field("source_crs"),
        Field("mock_location", "bool", shp="mock_loc"),
        Field("participants", "int", shp="particip"),
        Field("photos_expected", "int", shp="photos_exp"),
        Field("photos_present", "int", shp="photos_got"),
        Field("flags"),
        Field("notes"),
        Field("updated_at", "datetime"),
    ),
    "Point",
    title="village_name",
)
VISIT_EXPORT_VALUES = (
    "id",
    "kind",
    "industry__code",
    "worker_id",
    "worker__name",
    "expert_id",
    "expert__name",
    "commissioner_id",
    "commissioner__name",
    *TARGET_COLUMNS,
    "division_id",
    "division__name",
    "township_code",
    "started_at",
    "ended_at",
    "visit_date",
    *POINT_FIELDS,
    "participants",
    "photos_expected",
    "photos_present",
    "flag_bits",
    "notes",
    "updated_at",
)


def visit_export_row(row: dict) -> dict:
    for actor in ("worker", "expert", "commissioner"):
        if row[f"{actor}_id"]:
            break
    return {
        "id": str(row["id"]),
        "kind": row["kind"],
        "industry": row["industry__code"],
        "actor_type": actor,
        "actor_id": row[f"{actor}_id"],
        "actor_name": row[f"{actor}__name"],
        "household": str(row["household_id"]) if row["household_id"] else None,
        "farmer": str(row["farmer_id"]) if row["farmer_id"] else None,
        "base": row["base_id"],
        "station": row["station_id"],
        "target_village": row["village_id"],
        "village_code": row["division_id"],
        "village_name": row["division__name"],
        "township_code": row["township_code"] or None,
        "started_at": row["started_at"],
        "ended_at": row["ended_at"],
        "visit_date": row["visit_date"],
        "accuracy_m": row["accuracy_m"],
        "altitude_m": row["altitude_m"],
        "source_crs": row["source_crs"],
        "mock_location": row["mock_location"],
        "participants": row["participants"],
        "photos_expected": row["photos_expected"],
        "photos_present": row["photos_present"],
        "flags": ",".join(VisitFlag.decode(row["flag_bits"])),
        "notes": row["notes"],
        "updated_at": row["updated_at"],
    }


def visit_export_chunks(queryset: QuerySet, *, user, size: int) -> Iterator[Chunk]:
    """Visits as (rows, points) chunks, positions by the one rule (``agri.privacy``)."""
    for rows in chunked(queryset.values(*VISIT_EXPORT_VALUES).iterator(chunk_size=size), size):
        yield [visit_export_row(row) for row in rows], points(redact(rows, user, VISIT))


# --- model households -----------------------------------------------------------------------------

HOUSEHOLD_LAYER = Layer(
    "model_households",
    (
        Field("id"),
        Field("head_name"),
        Field("phone"),
        Field("address"),
        Field("village_code", shp="vill_code"),
        Field("village_name", shp="vill_name"),
        Field("worker_id", "int"),
        Field("worker_name", shp="worker_nm"),
        Field("industries"),
        Field("farmers", "int"),
        Field("created_at", "datetime"),
        Field("updated_at", "datetime"),
    ),
    "Point",
    title="head_name",
)


def household_export_chunks(queryset: QuerySet, *, user, size: int) -> Iterator[Chunk]:
    """Live model households as (rows, points) chunks, with personal data and positions by the one rule."""
    rows_iter = (
        queryset.annotate(n_farmers=Count("farmers", filter=Q(farmers__deleted_at__isnull=True)))
        .values(
            "id",
            "head_name",
            "phone",
            "address",
            "lat",
            "lon",
            "village_id",
            "village__name",
            "worker_id",
            "worker__name",
            "worker__user_id",
            "n_farmers",
            "created_at",
            "updated_at",
        )
        .iterator(chunk_size=size)
    )
    through = ModelHousehold.industries.through
    for rows in chunked(rows_iter, size):
        industries: dict = {}
        pairs = through.objects.filter(modelhousehold_id__in=[r["id"] for r in rows]).order_by("industry__sort_order")
        for household_id, code in pairs.values_list("modelhousehold_id", "industry__code"):
            industries.setdefault(household_id, []).append(code)
        out = []
        for r in redact(rows, user, HOUSEHOLD, [r["worker__user_id"] for r in rows]):
            out.append(
                {
                    "id": str(r["id"]),
                    "head_name": r["head_name"],
                    "phone": r["phone"] or None,
                    "address": r["address"] or None,
                    "village_code": r["village_id"],
                    "village_name": r["village__name"],
                    "worker_id": r["worker_id"],
                    "worker_name": r["worker__name"],
                    "industries": ",".join(industries.get(r["id"], [])),
                    "farmers": r["n_farmers"],
                    "created_at": r["created_at"],
                    "updated_at": r["updated_at"],
                }
            )
        yield out, points(rows)


# --- demonstration bases --------------------------------------------------------------------------

BASE_FIELDS = (
    Field("id", "int"),
    Field("name"),
    Field("industry"),
    Field("operator"),
    Field("status"),
    Field("area_mu", "float"),
    Field("certified_on", "date", shp="certified"),
    Field("field_school", shp="school"),
    Field("village_code", shp="vill_code"),
    Field("village_name", shp="vill_name"),
    Field("updated_at", "datetime"),
)
BASE_POINT_LAYER = Layer("demonstration_bases", BASE_FIELDS, "Point", title="name")
BASE_PARCEL_LAYER = Layer("demonstration_base_parcels", BASE_FIELDS, "MultiPolygon", title="name")


def base_export_chunks(queryset: QuerySet, *, parcels: bool, size: int) -> Iterator[Chunk]:
    """Demonstration bases as (rows, geometries) chunks: points, or parcel polygons with ``parcels``."""
    rows_iter = queryset.values(
        "id",
        "name",
        "industry__code",
        "operator",
        "status",
        "area_mu",
        "certified_on",
        "field_school__name",
        "village_id",
        "village__name",
        "updated_at",
        "lat",
        "lon",
        "parcel",
    ).iterator(chunk_size=size)
    for rows in chunked(rows_iter, size):
        out = [
            {
                "id": r["id"],
                "name": r["name"],
                "industry": r["industry__code"],
                "operator": r["operator"] or None,
                "status": r["status"],
                "area_mu": float(r["area_mu"]) if r["area_mu"] is not None else None,
                "certified_on": r["certified_on"],
                "field_school": r["field_school__name"],
                "village_code": r["village_id"],
                "village_name": r["village__name"],
                "updated_at": r["updated_at"],
            }
            for r in rows
        ]
        if parcels:
            geometries = [from_geojson(r["parcel"]) if r["parcel"] else None for r in rows]
        else:
            geometries = points(rows)
        yield out, geometries


# --- coverage -------------------------------------------------------------------------------------

COVERAGE_LAYER = Layer(
    "coverage",
    (
        Field("code"),
        Field("name"),
        Field("level"),
        Field("visits", "int"),
        Field("households_visited", "int", shp="hh_visited"),
        Field("households", "int"),
        Field("coverage", "float"),
        Field("workers_active", "int", shp="workers"),
        Field("commissioners_active", "int", shp="commission"),
        Field("last_visit", "date"),
    ),
    "MultiPolygon",
    title="name",
)


def coverage_export_chunks(features: list[dict]) -> list[Chunk]:
    """Coverage features (``coverage_by_division``) as one chunk: the rows are divisions (hundreds), already in
    memory from the selector."""
    names = [f.name for f in COVERAGE_LAYER.fields]
    rows = [{name: feature[name] for name in names} for feature in features]
    geometries = [from_geojson(f["geometry"]) if f["geometry"] else None for f in features]
    return [(rows, geometries)]
