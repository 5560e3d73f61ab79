"""Visit writes: batch ingest with idempotency on the client UUID, edits with optimistic locking, soft deletes.

Every incoming point goes through ``visit_enrich`` once, vectorised over the whole batch:
normalise to WGS-84, place in its village, compute H3 cells and the review flags. Each write also keeps
the coverage rollup (``agri.services.rollups``) current, in its own transaction.
"""

import datetime
import hashlib
import json
import logging
import uuid
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from agri import errors
from agri.models import TARGET_FIELDS, Visit, VisitEvent, VisitFlag, VisitKind
from agri.models.visits import POINT_FIELDS
from agri.services.flags import visit_flag_bits
from agri.services.records import taken_id_outcome
from agri.services.rollups import rollup_add, rollup_move, rollup_snapshot
from geo.assign import assign_points
from geo.crs import to_wgs84
from geo.geometry import distance_m
from geo.h3cells import cells_by_resolution

CLIENT_FIELDS = (
    "kind",
    "industry",
    *TARGET_FIELDS,
    "started_at",
    "ended_at",
    *POINT_FIELDS,
    "notes",
    "participants",
    "introduced",
    "attendees",
    "photos_expected",
)
# Database errors that a later retry can get past: a lost connection, a full disk, a lock or statement timeout.
TRANSIENT_DB_ERRORS = (InterfaceError, OperationalError)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Actor:
    """The person behind an account that records visits."""

    field: str  # "expert", "worker" or "commissioner": the Visit foreign key it fills
    person: object
    county_prefix: str
    home_code: str  # the division a visit falls back to for scoping when its point is in none


def visit_actor(user) -> Actor | None:
    """The person ``user`` records visits as, or None. At most one query: none when the user came with its linked
    people already read (the token authentication, ``agri.api.authentication``, reads them with the token), else
    one for all three instead of one per kind of person."""
    links = ("expert", "extension_worker", "tech_commissioner")
    relations = [user._meta.get_field(name) for name in links]
    if not all(relation.is_cached(user) for relation in relations):
        loaded = user._meta.model._default_manager.select_related(*links).filter(pk=user.pk).first()
        for relation in relations:
            relation.set_cached_value(user, relation.get_cached_value(loaded) if loaded else None)
    expert = user.linked("expert")
    if expert is not None:
        return Actor("expert", expert, expert.county_id[:6], expert.county_id)
    worker = user.linked("extension_worker")
    if worker is not None:
        return Actor("worker", worker, worker.home_township_id[:6], worker.home_township_id)
    commissioner = user.linked("tech_commissioner")
    if commissioner is not None:
        return Actor("commissioner", commissioner, commissioner.county_id[:6], commissioner.county_id)
    return None


def _plain(value):
    if hasattr(value, "pk"):
        return str(value.pk)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.astimezone(datetime.UTC).isoformat() if hasattr(value, "astimezone") else value.isoformat()
    return value


def payload_hash(user_id: int, data: dict) -> str:
    """SHA-256 of the canonical client payload; a replay matches it exactly, an edit of any field does not."""
    canonical = {name: _plain(data.get(name)) for name in CLIENT_FIELDS}
    canonical["attendees"] = sorted(canonical["attendees"] or [])
    canonical["user"] = user_id
    return hashlib.sha256(json.dumps(canonical, sort_keys=True, default=str).encode()).hexdigest()


def _target_points(items: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """The registered (lon, lat) of each item's target; NaN where it has none (village targets)."""
    lon = np.full(len(items), np.nan)
    lat = np.full(len(items), np.nan)
    for i, item in enumerate(items):
        target = item.get("household") or item.get("base") or item.get("station")
        if target is None and item.get("farmer") is not None:
            target = item["farmer"].household
        if target is not None:
            lon[i], lat[i] = target.lon, target.lat
    return lon, lat


def visit_enrich(items: list[dict], actor: Actor, now) -> list[dict]:
    """Server-set fields for validated items, computed for the whole batch at once."""
    client_lon = np.array([item["lon"] for item in items], dtype=float)
    client_lat = np.array([item["lat"] for item in items], dtype=float)
    crs = np.array([item.get("source_crs") or "wgs84" for item in items])
    lon, lat = client_lon.copy(), client_lat.copy()
    for name in set(crs.tolist()) - {"wgs84", "cgcs2000"}:
        mask = crs == name
        lon[mask], lat[mask] = to_wgs84(client_lon[mask], client_lat[mask], name)
    villages, townships = assign_points(lon, lat)
    h3 = cells_by_resolution(lat, lon)
    target_lon, target_lat = _target_points(items)
    distance = distance_m(lon, lat, target_lon, target_lat)
    accuracy = np.array([item.get("accuracy_m") if item.get("accuracy_m") is not None else np.nan for item in items])
    bits = visit_flag_bits(
        villages=villages,
        county_prefix=np.full(len(items), actor.county_prefix),
        target_village=np.array([v.pk if (v := item.get("village")) else None for item in items], dtype=object),
        target_distance_m=distance,
        accuracy_m=accuracy,
        mock_location=np.array([bool(item.get("mock_location")) for item in items]),
        started_after_receipt_s=np.array([(item["started_at"] - now).total_seconds() for item in items]),
    )

    out = []
    for i, item in enumerate(items):
        village = villages[i]
        out.append(
            {
                "lat": float(lat[i]),
                "lon": float(lon[i]),
                "client_lat": float(client_lat[i]),
                "client_lon": float(client_lon[i]),
                "division_id": village,
                "township_code": townships[i] or "",
                "scope_code": village or actor.home_code,
                "h3_r5": int(h3[5][i]) or None,
                "h3_r7": int(h3[7][i]) or None,
                "h3_r9": int(h3[9][i]) or None,
                "flag_bits": int(bits[i]),
                "visit_date": timezone.localtime(item["started_at"]).date(),
            }
        )
    return out


def _model_fields(item: dict) -> dict:
    fields = {name: item.get(name) for name in TARGET_FIELDS}
    fields.update(
        kind=item["kind"],
        industry=item.get("industry"),
        started_at=item["started_at"],
        ended_at=item.get("ended_at"),
        accuracy_m=item.get("accuracy_m"),
        altitude_m=item.get("altitude_m"),
        source_crs=item.get("source_crs") or "wgs84",
        mock_location=item.get("mock_location", False),
        notes=item.get("notes", ""),
        participants=item.get("participants", 0),
        introduced=item.get("introduced", []),
        photos_expected=item.get("photos_expected", 0),
    )
    return fields


def visits_ingest(*, user, actor: Actor, items: list[dict]) -> list[str]:
    """Store validated visits exactly once. Returns, per item in order: created, unchanged, conflict or failed.

    A replay of the same id and payload (which includes the account) of a live visit is ``unchanged``; any other
    item under a stored id is a ``conflict`` and leaves the stored row alone (``records.taken_id_outcome``, the one
    rule of every client id). The primary key makes a duplicate impossible even
    when two requests race: rows go in with INSERT ... ON CONFLICT DO NOTHING, tagged with this
    request's ingest id, and are read back to learn which ones this request wrote.

    New rows are committed ``VISIT_SYNC_CHUNK_SIZE`` at a time, each chunk in one transaction with its rollup,
    attendance and audit rows. When the database fails in a chunk (``OperationalError``, ``InterfaceError``:
    connection lost, disk full, lock timeout), the chunks before it stay committed and every item from that chunk
    on is ``failed``: its transaction was rolled back, and sending it again is safe (should the connection have
    broken in the COMMIT itself after the database committed, the replay answers ``unchanged``). A failure before
    the first chunk (the read of the stored ids) is raised.
    """
    hashes = [payload_hash(user.pk, item) for item in items]
    existing = {
        pk: (digest, deleted_at is None)
        for pk, digest, deleted_at in Visit.objects.filter(pk__in=[item["id"] for item in items])
        .order_by()
        .values_list("id", "payload_sha256", "deleted_at")
    }
    results: list[str | None] = [None] * len(items)
    first_index: dict = {}
    fresh = []
    repeats = []  # (index, index of the first item with its id): answered after the first one is stored
    for i, item in enumerate(items):
        vid = item["id"]
        if vid in existing:
            digest, live = existing[vid]
            results[i] = taken_id_outcome(same=digest == hashes[i], live=live)
        elif vid in first_index:
            repeats.append((i, first_index[vid]))
        else:
            first_index[vid] = i
            fresh.append(i)
    if fresh:
        now = timezone.now()
        token = uuid.uuid4()
        enriched = visit_enrich([items[i] for i in fresh], actor, now)
        objs = [
            Visit(
                id=items[i]["id"],
                user=user,
                **{actor.field: actor.person},
                **_model_fields(items[i]),
                **server,
                payload_sha256=hashes[i],
                ingest_id=token,
            )
            for i, server in zip(fresh, enriched, strict=True)
        ]
        size = max(1, settings.VISIT_SYNC_CHUNK_SIZE)
        for start in range(0, len(fresh), size):
            chunk = fresh[start : start + size]
            try:
                stored = _store_chunk(user, [items[i] for i in chunk], objs[start : start + size], token)
            except TRANSIENT_DB_ERRORS:
                logger.warning(
                    "visit batch of %d: the database failed at new item %d; %d items reported failed",
                    len(items),
                    start,
                    len(fresh) - start,
                    exc_info=True,
                )
                for i in fresh[start:]:
                    results[i] = "failed"
                break
            for i in chunk:
                ingest, digest = stored[items[i]["id"]]
                if ingest == token:
                    results[i] = "created"
                else:
                    results[i] = taken_id_outcome(same=digest == hashes[i])
    for i, first in repeats:
        if results[first] == "failed":
            results[i] = "failed"
        else:
            results[i] = taken_id_outcome(same=hashes[first] == hashes[i])
    return results


def _store_chunk(user, items: list[dict], objs: list[Visit], token: uuid.UUID) -> dict:
    """Insert one chunk and count, attend and audit the rows this request wrote, in one transaction.

    Returns ``{id: (ingest_id, payload_sha256)}`` of the stored rows: those with ``token`` were written here.
    """
    with transaction.atomic():
        Visit.objects.bulk_create(objs, ignore_conflicts=True, batch_size=500)
        stored = {
            vid: (ingest, digest)
            for vid, ingest, digest in Visit.objects.filter(pk__in=[o.id for o in objs]).values_list(
                "id", "ingest_id", "payload_sha256"
            )
        }
        created = [item for item in items if stored[item["id"]][0] == token]
        rollup_add(item["id"] for item in created)
        through = Visit.attendees.through
        through.objects.bulk_create(
            [through(visit_id=item["id"], farmer_id=f.pk) for item in created for f in item["attendees"]],
            ignore_conflicts=True,
        )
        VisitEvent.objects.bulk_create(
            [VisitEvent(visit_id=item["id"], user=user, action=VisitEvent.Action.CREATE) for item in created]
        )
    return stored


def visit_client_data(visit: Visit) -> dict:
    """The stored visit as the validated payload the client would send (for merging a PATCH)."""
    data = {name: getattr(visit, name) for name in TARGET_FIELDS}
    data.update(
        id=visit.id,
        kind=visit.kind,
        industry=visit.industry,
        started_at=visit.started_at,
        ended_at=visit.ended_at,
        lat=visit.client_lat,
        lon=visit.client_lon,
        accuracy_m=visit.accuracy_m,
        altitude_m=visit.altitude_m,
        source_crs=visit.source_crs,
        mock_location=visit.mock_location,
        notes=visit.notes,
        participants=visit.participants,
        introduced=visit.introduced,
        attendees=list(visit.attendees.all()),
        photos_expected=visit.photos_expected,
    )
    return data


class LeavesScope(errors.InvalidInput):
    """The edit would move the visit out of the visits its editor may see; nothing was changed."""

    default_code = "outside_jurisdiction"

    def __init__(self):
        message = _("This point lies outside your jurisdiction: the visit would leave it.")
        super().__init__(message, fields={"lat": [message], "lon": [message]})


INTRODUCING_KINDS = (VisitKind.NEW_VARIETY, VisitKind.NEW_TECHNIQUE)


def visit_check(data: dict) -> dict:
    """Whole-visit rules, on a complete payload: exactly one target, ends after it starts, introductions named.
    Raises :class:`agri.errors.InvalidInput` naming the fields at fault."""
    targets = [name for name in TARGET_FIELDS if data.get(name) is not None]
    if len(targets) != 1:
        message = _("Give exactly one target: household, farmer, base, station or village.")
        raise errors.InvalidInput(code="one_target", fields={name: [message] for name in (targets or ["household"])})
    ended = data.get("ended_at")
    if ended is not None and ended < data["started_at"]:
        raise errors.InvalidInput(code="invalid", fields={"ended_at": [_("A visit cannot end before it starts.")]})
    if data["kind"] in INTRODUCING_KINDS and not data["introduced"]:
        message = _("Name the varieties or techniques introduced.")
        raise errors.InvalidInput(code="required", fields={"introduced": [message]})
    return data


def visit_update(*, visit: Visit, user, changes: dict, expected_version: int, scope=None) -> int:
    """Apply a validated partial payload (``changes``) if the visit is still at ``expected_version``; audit what
    changed. Returns the visit's new version.

    Naming a new target replaces the old one (a visit has exactly one). The merged visit is checked as a whole
    (:func:`visit_check`). ``scope``, a queryset of the visits the editor may see, keeps the edit from moving
    the visit out of it: the transaction is rolled back and :class:`LeavesScope` raised. A visit changed since
    ``expected_version`` raises :class:`agri.errors.StaleVisit`.
    """
    changes = {name: value for name, value in changes.items() if name != "id"}
    before = visit_client_data(visit)
    merged = dict(before)
    if any(changes.get(name) is not None for name in TARGET_FIELDS):
        merged.update(dict.fromkeys(TARGET_FIELDS))
    merged.update(changes)
    visit_check(merged)
    actor = visit_actor(visit.user) or Actor("worker", None, visit.scope_code[:6], visit.scope_code)
    server = visit_enrich([merged], actor, timezone.now())[0]
    # The photo flags are the photos' to set (agri.services.photos); an edit of the visit keeps them.
    server["flag_bits"] = F("flag_bits").bitand(VisitFlag.PHOTO_MASK).bitor(server["flag_bits"])
    fields = {**_model_fields(merged), **server, "payload_sha256": payload_hash(visit.user_id, merged)}
    audit = {
        name: [_plain(before.get(name)), _plain(merged.get(name))]
        for name in CLIENT_FIELDS
        if _plain(before.get(name)) != _plain(merged.get(name))
    }
    with transaction.atomic():
        current = Visit.objects.filter(pk=visit.pk, version=expected_version, deleted_at__isnull=True)
        snapshot = rollup_snapshot(current)
        if not current.update(**fields, version=F("version") + 1, updated_at=timezone.now()):
            raise errors.StaleVisit()
        if scope is not None and not scope.filter(pk=visit.pk).exists():
            raise LeavesScope()
        rollup_move(snapshot, Visit.objects.filter(pk=visit.pk))
        if "attendees" in changes:
            visit.attendees.set(merged["attendees"])
        VisitEvent.objects.create(visit=visit, user=user, action=VisitEvent.Action.UPDATE, changes=audit)
    return expected_version + 1


def visit_delete(*, visit: Visit, user, expected_version: int | None = None) -> None:
    """Soft delete: the row stays as a tombstone so that phones pulling changes remove it too."""
    query = Visit.objects.filter(pk=visit.pk, deleted_at__isnull=True)
    if expected_version is not None:
        query = query.filter(version=expected_version)
    with transaction.atomic():
        now = timezone.now()
        before = rollup_snapshot(query)
        if not query.update(deleted_at=now, updated_at=now, version=F("version") + 1):
            raise errors.StaleVisit()
        rollup_move(before, Visit.objects.filter(pk=visit.pk))
        VisitEvent.objects.create(visit=visit, user=user, action=VisitEvent.Action.DELETE)
