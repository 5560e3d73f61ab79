"""Reads: the extension network's tree and its status against the plan's targets (专栏3)."""

from collections import defaultdict

from django.conf import settings
from django.db.models import Count, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from agri.models import DemonstrationBase, Expert, ExtensionWorker, Farmer, Industry, ModelHousehold, TechCommissioner
from agri.privacy import HOUSEHOLD, redact


def target_status(value: float, minimum: float, maximum: float | None = None) -> str:
    """ "under", "met" or "over" a target. ``maximum=None`` means no upper bound."""
    if value < minimum:
        return "under"
    if maximum is not None and value > maximum:
        return "over"
    return "met"


def _share(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def expert_network(expert: Expert, user) -> dict:
    """The expert's tree (expert -> workers -> households) with counts and status at every node. Three queries.

    Only the workers and households ``user`` may see are in it (and counted): a worker sees the expert's tree as
    far as its own households, a township account as far as its township."""
    t = settings.NETWORK_TARGETS
    workers = list(
        ExtensionWorker.objects.visible_to(user)
        .filter(expert=expert, active=True)
        .select_related("home_township")
        .order_by("name", "id")
    )
    households = (
        ModelHousehold.objects.visible_to(user)
        .alive()
        .filter(worker__expert=expert, worker__active=True)
        .annotate(n_farmers=Count("farmers", filter=Q(farmers__deleted_at__isnull=True)))
        .values("id", "worker_id", "head_name", "village_id", "n_farmers")
        .order_by("created_at", "id")
    )
    by_worker = defaultdict(list)
    for h in redact(list(households), user, HOUSEHOLD):
        by_worker[h["worker_id"]].append(
            {
                "id": str(h["id"]),
                "head_name": h["head_name"],
                "village_code": h["village_id"],
                "farmers": h["n_farmers"],
                "status": target_status(h["n_farmers"], t["farmers_per_household"], t["farmers_per_household"]),
            }
        )
    worker_nodes = []
    for w in workers:
        nodes = by_worker[w.pk]
        worker_nodes.append(
            {
                "id": w.pk,
                "name": w.name,
                "is_township_based": w.is_township_based,
                "home_township_code": w.home_township_id,
                "home_township_name": w.home_township.name,
                "households": len(nodes),
                "farmers": sum(n["farmers"] for n in nodes),
                "target": t["households_per_worker"],
                "status": target_status(len(nodes), t["households_per_worker"], t["households_per_worker"]),
                "household_nodes": nodes,
            }
        )
    township = sum(1 for w in workers if w.is_township_based)
    n_households = sum(w["households"] for w in worker_nodes)
    return {
        "id": expert.pk,
        "name": expert.name,
        "industry": {"code": expert.industry.code, "name": expert.industry.name},
        "counts": {
            "workers": len(workers),
            "township_workers": township,
            "township_share": _share(township, len(workers)),
            "households": n_households,
            "farmers": sum(w["farmers"] for w in worker_nodes),
        },
        "targets": {
            "workers": t["workers_per_expert"],
            "township_share": t["township_worker_share"],
            "households": t["workers_per_expert"] * t["households_per_worker"],
            "farmers": t["workers_per_expert"] * t["households_per_worker"] * t["farmers_per_household"],
        },
        "status": {
            "workers": target_status(len(workers), t["workers_per_expert"], t["workers_per_expert"]),
            "township_share": target_status(_share(township, len(workers)), t["township_worker_share"]),
        },
        "workers": worker_nodes,
    }


def _counts_by(queryset, key: str, **annotations) -> dict:
    return {row[key]: row for row in queryset.values(key).annotate(**annotations).order_by()}


def _under_target(queryset, child_count, target: int, key: str) -> dict:
    rows = (
        queryset.annotate(n=Coalesce(Subquery(child_count), 0))
        .filter(n__lt=target)
        .values(key)
        .annotate(under=Count("id"))
        .order_by()
    )
    return {row[key]: row["under"] for row in rows}


def network_summary(user, year: int | None = None) -> dict:
    """County-wide (or the caller's slice) counts per industry, each with its target and status.

    A fixed number of GROUP BY queries, whatever the size of the network.
    """
    t = settings.NETWORK_TARGETS
    year = year or timezone.localdate().year
    experts = _counts_by(Expert.objects.visible_to(user).filter(active=True), "industry_id", n=Count("id"))
    workers = _counts_by(
        ExtensionWorker.objects.visible_to(user).filter(active=True),
        "expert__industry_id",
        n=Count("id"),
        township=Count("id", filter=Q(is_township_based=True)),
    )
    households = _counts_by(
        ModelHousehold.objects.visible_to(user).alive().filter(worker__active=True),
        "worker__expert__industry_id",
        n=Count("id"),
    )
    farmers = _counts_by(
        Farmer.objects.visible_to(user)
        .alive()
        .filter(household__worker__active=True, household__deleted_at__isnull=True),
        "household__worker__expert__industry_id",
        n=Count("id"),
    )
    # Per-node status: how many workers / households fall short of their own target, counted in SQL.
    household_counts = (
        ModelHousehold.objects.alive()
        .filter(worker=OuterRef("pk"))
        .order_by()
        .values("worker")
        .annotate(c=Count("*"))
        .values("c")
    )
    workers_under = _under_target(
        ExtensionWorker.objects.visible_to(user).filter(active=True),
        household_counts,
        t["households_per_worker"],
        "expert__industry_id",
    )
    farmer_counts = (
        Farmer.objects.alive()
        .filter(household=OuterRef("pk"))
        .order_by()
        .values("household")
        .annotate(c=Count("*"))
        .values("c")
    )
    households_under = _under_target(
        ModelHousehold.objects.visible_to(user).alive().filter(worker__active=True),
        farmer_counts,
        t["farmers_per_household"],
        "worker__expert__industry_id",
    )

    industries = []
    for industry in Industry.objects.order_by("sort_order", "code"):
        n_experts = experts.get(industry.pk, {}).get("n", 0)
        w = workers.get(industry.pk, {"n": 0, "township": 0})
        n_households = households.get(industry.pk, {}).get("n", 0)
        n_farmers = farmers.get(industry.pk, {}).get("n", 0)
        worker_target = max(n_experts, 1) * t["workers_per_expert"]
        industries.append(
            {
                "industry": {"code": industry.code, "name": industry.name},
                "experts": {
                    "value": n_experts,
                    "target": t["experts_per_industry"],
                    "status": target_status(n_experts, t["experts_per_industry"], t["experts_per_industry"]),
                },
                "workers": {
                    "value": w["n"],
                    "target": worker_target,
                    "status": target_status(w["n"], worker_target, worker_target),
                    "under_target_nodes": workers_under.get(industry.pk, 0),
                },
                "township_share": {
                    "value": _share(w["township"], w["n"]),
                    "target": t["township_worker_share"],
                    "status": target_status(_share(w["township"], w["n"]), t["township_worker_share"]),
                },
                "households": {
                    "value": n_households,
                    "target": w["n"] * t["households_per_worker"],
                    "status": target_status(
                        n_households, w["n"] * t["households_per_worker"], w["n"] * t["households_per_worker"]
                    ),
                    "under_target_nodes": households_under.get(industry.pk, 0),
                },
                "farmers": {
                    "value": n_farmers,
                    "target": n_households * t["farmers_per_household"],
                    "status": target_status(
                        n_farmers, n_households * t["farmers_per_household"], n_households * t["farmers_per_household"]
                    ),
                },
            }
        )
    bases = (
        DemonstrationBase.objects.visible_to(user)
        .exclude(status="revoked")
        .aggregate(n=Count("id"), schools=Count("field_school"))
    )
    commissioners = TechCommissioner.objects.visible_to(user).in_service(year).count()
    return {
        "year": year,
        "industries": industries,
        "bases": {
            "value": bases["n"],
            "target_min": t["bases_min"],
            "target_max": t["bases_max"],
            "status": target_status(bases["n"], t["bases_min"], t["bases_max"]),
        },
        "field_schools": {
            "value": bases["schools"],
            "target": bases["n"] * t["field_schools_per_base"],
            "status": target_status(bases["schools"], bases["n"], bases["n"]),
        },
        "commissioners_in_service": {
            "value": commissioners,
            "target": t["commissioners_min"],
            "status": target_status(commissioners, t["commissioners_min"]),
        },
    }
