"""The plan's indicators (box 专栏3) for one year, each with its value, target and status, broken down by industry
and by township.

Network ratios (experts, workers, households, farmers, bases, commissioners) come from
``agri.selectors.network.network_summary``, plus a few GROUP BYs per township. Yearly service figures come from the
visit rollup. New varieties and techniques are the distinct names in ``Visit.introduced`` of the year's visits of
kind new_variety / new_technique, so a variety introduced at ten households counts once (a breakdown counts it once
in each industry or township where it was introduced, so breakdowns need not add up to the total).

Breakdown rules, where an indicator's unit is not itself an industry or township:

- workers: by their home township; households per worker: households of the workers based there;
- households and farmers per household: by the household's village;
- experts by township: the experts leading workers based there (experts serve the whole county);
- commissioners by industry / township: those in service who recorded a visit in it during the year;
- visits to villages, trainings and attendance: where the visit's point lies (visits in no township count in the
  total only); per county and city, where the visit belongs (its scope: that village, or the actor's home division
  when the point lies in none), so that counties add up to the total;
- counties and cities: the people, households, bases and schools of their townships; experts and commissioners of
  the county they serve.

A breakdown row carries the plan's target only where it applies to that group (a township need not host 10 of an
expert's workers); elsewhere target and status are null. Who sees what follows ``agri.selectors.coverage``.

:func:`monthly_activity` gives the year's service figures month by month (the dashboard's trend), with the workers
and commissioners active each month and in the whole year.
"""

from datetime import date

from django.conf import settings
from django.db import connection
from django.db.models import Case, Count, IntegerField, Q, QuerySet, Sum, Value, When
from django.db.models.functions import Left

from agri.models import (
    DemonstrationBase,
    Expert,
    ExtensionWorker,
    Farmer,
    Industry,
    ModelHousehold,
    TechCommissioner,
    Visit,
    VisitKind,
    VisitRollup,
)
from agri.models.rollups import NO_ID
from agri.selectors.coverage import coverage_slice
from agri.selectors.network import network_summary, target_status
from geo.codes import Level
from geo.models import AdminDivision

SHARE_UNIT = "比例"  # a 0-1 share, shown as a percentage in the workbook
# code -> (name in the plan's words, English name, unit). The Chinese names head the exported workbook.
INDICATORS = {
    "commissioners_in_service": ("科技特派员在岗人数", "Tech commissioners in service", "人"),
    "experts_per_industry": ("每个产业技术专家人数", "Experts per industry", "人/产业"),
    "workers_per_expert": ("每名专家带动农技推广人员", "Extension workers per expert", "人"),
    "township_worker_share": ("乡镇农技人员比例", "Share of township-based workers", SHARE_UNIT),
    "households_per_worker": ("每名农技推广人员联系科技示范户", "Model households per worker", "户"),
    "farmers_per_household": ("每户科技示范户辐射周边农户", "Farmers per model household", "户"),
    "bases": ("农业科技试验示范基地", "Demonstration bases", "个"),
    "field_schools": ("基地农民田间学校", "Farmers' field schools at the bases", "所"),
    "village_visits": ("服务下乡次数", "Service visits", "次"),
    "trainings": ("技术培训场次", "Trainings", "场"),
    "training_attendance": ("培训人次", "Training attendance", "人次"),
    "new_varieties": ("引进新品种", "New varieties introduced", "个"),
    "new_techniques": ("引进新技术", "New techniques introduced", "项"),
}


def _ratio(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def _status(value, target, target_max=None) -> str | None:
    if value is None or target is None:
        return None
    return target_status(value, target, target_max)


def _row(value, target=None, target_max=None, numerator=None, denominator=None) -> dict:
    return {
        "value": value,
        "target": target,
        "target_max": target_max,
        "status": _status(value, target, target_max),
        "numerator": numerator,
        "denominator": denominator,
    }


def _ratio_row(numerator: int, denominator: int, target=None, target_max=None) -> dict:
    return _row(_ratio(numerator, denominator), target, target_max, numerator, denominator)


def _grouped(queryset: QuerySet, key: str, **annotations) -> dict:
    return {row[key]: row for row in queryset.values(key).annotate(**annotations).order_by()}


def _distinct_introduced(visits: QuerySet, group: str | None, digits: int | None = None) -> dict:
    """``{(group value, kind): distinct names}`` over ``Visit.introduced`` of ``visits``, trimmed; with ``digits``,
    grouped by that many leading characters of the group's column (a county's 6 digits of the township code).

    JSON arrays are expanded with the database's own table function (json_each on SQLite,
    jsonb_array_elements_text on PostgreSQL); the ORM has none, so the statement wraps the ORM's SQL for ``visits``.
    """
    if connection.vendor == "postgresql":
        names = "jsonb_array_elements_text(v.introduced) AS j(value)"
    elif connection.vendor == "sqlite":
        names = "json_each(v.introduced) AS j"
    else:  # pragma: no cover - the project runs on SQLite and PostgreSQL only
        raise NotImplementedError(connection.vendor)
    ids_sql, params = visits.order_by().values("pk").query.sql_with_params()
    column = f"v.{connection.ops.quote_name(Visit._meta.get_field(group).column)}" if group else "NULL"
    if group and digits:
        column = f"SUBSTR({column}, 1, {int(digits)})"
    sql = (
        f"SELECT {column}, v.kind, COUNT(DISTINCT TRIM(j.value)) "
        f"FROM {connection.ops.quote_name(Visit._meta.db_table)} v, {names} "
        f"WHERE v.id IN ({ids_sql}) GROUP BY 1, 2"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {(value, kind): n for value, kind, n in cursor.fetchall()}


def _rolled_up(table: dict, digits: int) -> dict:
    """A table of counts per township (``_grouped``) summed per county (6 digits) or city (4): only for counts that
    add up across townships."""
    out: dict[str, dict] = {}
    for key, row in table.items():
        if not key:
            continue
        acc = out.setdefault(key[:digits], {})
        for name, value in row.items():
            if value is None or (isinstance(value, int) and not isinstance(value, bool)):
                acc[name] = acc.get(name, 0) + (value or 0)
    return out


def plan_indicators(*, user, year: int) -> dict:
    """Every 专栏3 indicator for ``year`` within the caller's slice. A fixed number of queries (33).

    The plan's targets are a county's: for a city's or a province's slice, the total's absolute targets (people,
    bases, visits, names) are scaled by the number of counties in it (``county_count``), and so is each city's row
    of ``by_city``; each county's row of ``by_county`` has the county's targets. Ratios keep their targets."""
    t = settings.NETWORK_TARGETS
    sl = coverage_slice(user)
    summary = network_summary(user, year)
    industries = list(Industry.objects.order_by("sort_order", "code").values("pk", "code", "name"))
    townships = list(
        AdminDivision.objects.townships().within(sl.jurisdiction[:9]).order_by("code").values("code", "name")
    )
    counties = list(
        AdminDivision.objects.filter(level=Level.COUNTY)
        .within(sl.jurisdiction[:6])
        .order_by("code")
        .values("code", "name")
    )
    in_scope = {county["code"][:4] for county in counties}
    cities = [
        city
        for city in AdminDivision.objects.filter(level=Level.CITY)
        .within(sl.jurisdiction[:4])
        .order_by("code")
        .values("code", "name")
        if city["code"][:4] in in_scope
    ]
    scale = max(len(counties), 1)
    counties_in_city = {
        city["code"][:4]: sum(1 for c in counties if c["code"][:4] == city["code"][:4]) for city in cities
    }
    by_code = {row["industry"]["code"]: row for row in summary["industries"]}

    # --- per township: the network --------------------------------------------------------------------------
    workers_t = _grouped(
        ExtensionWorker.objects.visible_to(user).filter(active=True),
        "home_township_id",
        n=Count("pk"),
        township=Count("pk", filter=Q(is_township_based=True)),
        experts=Count("expert", distinct=True, filter=Q(expert__active=True)),
    )
    workers_i = _grouped(
        ExtensionWorker.objects.visible_to(user).filter(active=True),
        "expert__industry_id",
        township=Count("pk", filter=Q(is_township_based=True)),
    )
    households_alive = ModelHousehold.objects.visible_to(user).alive().filter(worker__active=True)
    households_by_worker_t = _grouped(households_alive, "worker__home_township_id", n=Count("pk"))
    households_t = _grouped(households_alive, "village__parent_id", n=Count("pk"))
    farmers_t = _grouped(
        Farmer.objects.visible_to(user)
        .alive()
        .filter(household__worker__active=True, household__deleted_at__isnull=True),
        "household__village__parent_id",
        n=Count("pk"),
    )
    bases = DemonstrationBase.objects.visible_to(user).exclude(status="revoked")
    bases_i = _grouped(bases, "industry_id", n=Count("pk"), schools=Count("field_school"))
    bases_t = _grouped(bases, "village__parent_id", n=Count("pk"), schools=Count("field_school"))

    # --- the year's visits --------------------------------------------------------------------------------
    span = (date(year, 1, 1), date(year, 12, 31))
    in_service = TechCommissioner.objects.visible_to(user).in_service(year).values("pk")
    rollup = VisitRollup.objects.filter(sl.rollup, day__gte=span[0], day__lte=span[1])
    training = Q(kind=VisitKind.TRAINING)
    service = {
        "n_visits": Sum("visits"),
        "n_trainings": Sum("visits", filter=training),
        "n_attendance": Sum("participants", filter=training),
        "n_commissioners": Count("commissioner_key", distinct=True, filter=Q(commissioner_key__in=in_service)),
    }
    service_total = rollup.aggregate(**service)
    service_i = _grouped(rollup.exclude(industry_key=NO_ID), "industry_key", **service)
    service_t = _grouped(rollup.exclude(township_code=""), "township_code", **service)
    # Visit.visible_to slices exactly as the rollup does: jurisdiction for the bureau, own visits for the others.
    introducing = (
        Visit.objects.visible_to(user)
        .alive()
        .filter(visit_date__gte=span[0], visit_date__lte=span[1])
        .filter(kind__in=[VisitKind.NEW_VARIETY, VisitKind.NEW_TECHNIQUE])
    )
    names_total = _distinct_introduced(introducing, None)
    names_i = _distinct_introduced(introducing, "industry")
    names_t = _distinct_introduced(introducing, "township_code")
    # Counties and cities count a visit where it belongs (its scope: the village it lies in, or the actor's home
    # division when it lies in none), so that their rows add up to the total.
    names_c = _distinct_introduced(introducing, "scope_code", 6)
    names_y = _distinct_introduced(introducing, "scope_code", 4)
    # Per county (6 digits) and city (4): sums of the township tables, and the people who belong to a county.
    experts_c = _grouped(Expert.objects.visible_to(user).filter(active=True), "county_id", n=Count("pk"))
    commissioners_c = _grouped(TechCommissioner.objects.visible_to(user).in_service(year), "county_id", n=Count("pk"))
    areas = {}
    for digits in (6, 4):
        areas[digits] = {
            "workers": _rolled_up(workers_t, digits),
            "households_by_worker": _rolled_up(households_by_worker_t, digits),
            "households": _rolled_up(households_t, digits),
            "farmers": _rolled_up(farmers_t, digits),
            "bases": _rolled_up(bases_t, digits),
            "service": {
                row["unit"]: row
                for row in rollup.values(unit=Left("scope_code", digits)).annotate(**service).order_by()
            },
            "experts": _rolled_up(experts_c, digits),
            "commissioners": _rolled_up(commissioners_c, digits),
            "names": {(code, kind): n for (code, kind), n in (names_c if digits == 6 else names_y).items()},
        }

    net = {i["pk"]: by_code.get(i["code"]) for i in industries}

    def n(table: dict, key, field: str = "n") -> int:
        return (table.get(key) or {}).get(field) or 0

    def summed(pk, field: str) -> int:
        return net[pk][field]["value"] if net[pk] else 0

    def breakdowns(industry_row, township_row, area_row) -> dict:
        """The rows per industry, township, county and city. ``area_row(tables, prefix, counties)`` gives a county's
        (counties=1) or a city's row from the tables of its level."""
        return {
            "by_industry": [{"code": i["code"], "name": i["name"], **industry_row(i["pk"])} for i in industries],
            "by_township": [{"code": tw["code"], "name": tw["name"], **township_row(tw["code"])} for tw in townships],
            "by_county": [
                {"code": c["code"], "name": c["name"], **area_row(areas[6], c["code"][:6], 1)} for c in counties
            ],
            "by_city": [
                {
                    "code": c["code"],
                    "name": c["name"],
                    **area_row(areas[4], c["code"][:4], counties_in_city[c["code"][:4]]),
                }
                for c in cities
            ],
        }

    rows = summary["industries"]
    n_experts = sum(r["experts"]["value"] for r in rows)
    n_workers = sum(r["workers"]["value"] for r in rows)
    n_township_workers = sum(row["township"] for row in workers_i.values())
    n_households = sum(r["households"]["value"] for r in rows)
    n_farmers = sum(r["farmers"]["value"] for r in rows)
    epi, wpe, share = t["experts_per_industry"], t["workers_per_expert"], t["township_worker_share"]
    hpw, fph, schools = t["households_per_worker"], t["farmers_per_household"], t["field_schools_per_base"]
    indicators = {
        "commissioners_in_service": {
            **_row(summary["commissioners_in_service"]["value"], t["commissioners_min"] * scale),
            **breakdowns(
                lambda pk: _row(n(service_i, pk, "n_commissioners")),
                lambda code: _row(n(service_t, code, "n_commissioners")),
                lambda a, key, k: _row(n(a["commissioners"], key), t["commissioners_min"] * k),
            ),
        },
        "experts_per_industry": {
            **_ratio_row(n_experts, len(industries), epi * scale, epi * scale),
            **breakdowns(
                lambda pk: _row(summed(pk, "experts"), epi * scale, epi * scale),
                lambda code: _row(n(workers_t, code, "experts")),
                lambda a, key, k: _ratio_row(n(a["experts"], key), len(industries), epi * k, epi * k),
            ),
        },
        "workers_per_expert": {
            **_ratio_row(n_workers, n_experts, wpe, wpe),
            **breakdowns(
                lambda pk: _ratio_row(summed(pk, "workers"), summed(pk, "experts"), wpe, wpe),
                lambda code: _ratio_row(n(workers_t, code), n(workers_t, code, "experts")),
                lambda a, key, k: _ratio_row(n(a["workers"], key), n(a["experts"], key), wpe, wpe),
            ),
        },
        "township_worker_share": {
            **_ratio_row(n_township_workers, n_workers, share),
            **breakdowns(
                lambda pk: _ratio_row(n(workers_i, pk, "township"), summed(pk, "workers"), share),
                lambda code: _ratio_row(n(workers_t, code, "township"), n(workers_t, code), share),
                lambda a, key, k: _ratio_row(n(a["workers"], key, "township"), n(a["workers"], key), share),
            ),
        },
        "households_per_worker": {
            **_ratio_row(n_households, n_workers, hpw, hpw),
            **breakdowns(
                lambda pk: _ratio_row(summed(pk, "households"), summed(pk, "workers"), hpw, hpw),
                lambda code: _ratio_row(n(households_by_worker_t, code), n(workers_t, code), hpw, hpw),
                lambda a, key, k: _ratio_row(n(a["households_by_worker"], key), n(a["workers"], key), hpw, hpw),
            ),
        },
        "farmers_per_household": {
            **_ratio_row(n_farmers, n_households, fph, fph),
            **breakdowns(
                lambda pk: _ratio_row(summed(pk, "farmers"), summed(pk, "households"), fph, fph),
                lambda code: _ratio_row(n(farmers_t, code), n(households_t, code), fph, fph),
                lambda a, key, k: _ratio_row(n(a["farmers"], key), n(a["households"], key), fph, fph),
            ),
        },
        "bases": {
            **_row(summary["bases"]["value"], t["bases_min"] * scale, t["bases_max"] * scale),
            **breakdowns(
                lambda pk: _row(n(bases_i, pk)),
                lambda code: _row(n(bases_t, code)),
                lambda a, key, k: _row(n(a["bases"], key), t["bases_min"] * k, t["bases_max"] * k),
            ),
        },
        "field_schools": {
            **_row(
                summary["field_schools"]["value"],
                summary["field_schools"]["target"],
                summary["field_schools"]["target"],
            ),
            **breakdowns(
                lambda pk: _school_row(n(bases_i, pk, "schools"), n(bases_i, pk), schools),
                lambda code: _school_row(n(bases_t, code, "schools"), n(bases_t, code), schools),
                lambda a, key, k: _school_row(n(a["bases"], key, "schools"), n(a["bases"], key), schools),
            ),
        },
    }
    for code, field, target in (
        ("village_visits", "n_visits", t["village_visits_min"]),
        ("trainings", "n_trainings", t["trainings_min"]),
        ("training_attendance", "n_attendance", None),
    ):
        indicators[code] = {
            **_row(service_total[field] or 0, target and target * scale),
            **breakdowns(
                lambda pk, f=field: _row(n(service_i, pk, f)),
                lambda code, f=field: _row(n(service_t, code, f)),
                lambda a, key, k, f=field, target=target: _row(n(a["service"], key, f), target and target * k),
            ),
        }
    for code, kind, target in (
        ("new_varieties", VisitKind.NEW_VARIETY, t["new_varieties_min"]),
        ("new_techniques", VisitKind.NEW_TECHNIQUE, t["new_techniques_min"]),
    ):
        indicators[code] = {
            **_row(names_total.get((None, kind), 0), target * scale),
            **breakdowns(
                lambda pk, k=kind: _row(names_i.get((pk, k), 0)),
                lambda code, k=kind: _row(names_t.get((code, k), 0)),
                lambda a, key, n_counties, k=kind, target=target: _row(
                    a["names"].get((key, k), 0), target * n_counties
                ),
            ),
        }
    return {
        "year": year,
        "indicators": [
            {"code": code, "name": name, "name_en": name_en, "unit": unit, **indicators[code]}
            for code, (name, name_en, unit) in INDICATORS.items()
        ],
    }


def _school_row(schools: int, bases: int, per_base: int) -> dict:
    """Field schools of a group of bases: the target is one per base (none where the group has no base)."""
    target = bases * per_base or None
    return _row(schools, target, target)


MONTHLY_FIGURES = ("visits", "trainings", "training_attendance", "workers_active", "commissioners_active")


def monthly_activity(*, user, year: int) -> dict:
    """The year's visits, trainings, training attendance and active workers and commissioners (those with at least
    one visit), per month and for the whole year, from the visit rollup; plus the workers registered (active) and
    the commissioners in service that year. Four queries, whatever the number of visits.

    Months are a CASE over the stored day, not ``TruncMonth`` (a Python function per row on SQLite). The year's
    active people are counted over the year, so they are not the sum of the months.
    """
    sl = coverage_slice(user)
    starts = [date(year, m, 1) for m in range(1, 13)]
    rollup = VisitRollup.objects.filter(sl.rollup, day__gte=starts[0], day__lte=date(year, 12, 31))
    training = Q(kind=VisitKind.TRAINING)
    figures = {  # prefixed: an annotation may not take a field's name ("visits")
        "n_visits": Sum("visits"),
        "n_trainings": Sum("visits", filter=training),
        "n_training_attendance": Sum("participants", filter=training),
        "n_workers_active": Count("worker_key", distinct=True, filter=~Q(worker_key=NO_ID)),
        "n_commissioners_active": Count("commissioner_key", distinct=True, filter=~Q(commissioner_key=NO_ID)),
    }
    month = Case(
        *(When(day__lt=start, then=Value(m)) for m, start in enumerate(starts[1:], start=1)),
        default=Value(12),
        output_field=IntegerField(),
    )
    by_month = {
        row["month"]: row for row in rollup.annotate(month=month).values("month").annotate(**figures).order_by()
    }
    total = rollup.aggregate(**figures)

    def clean(row: dict) -> dict:
        return {name: row.get(f"n_{name}") or 0 for name in MONTHLY_FIGURES}

    return {
        "year": year,
        "months": [{"month": f"{year}-{m:02d}", **clean(by_month.get(m, {}))} for m in range(1, 13)],
        "total": clean(total),
        "workers_registered": ExtensionWorker.objects.visible_to(user).filter(active=True).count(),
        "commissioners_in_service": TechCommissioner.objects.visible_to(user).in_service(year).count(),
    }
