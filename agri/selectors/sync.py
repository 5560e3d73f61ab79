"""The sync feed: what a phone must receive to hold exactly its slice, from a server-issued token.

A first pull (no token) is a snapshot of every record the caller may see, kind by kind in key order. Every later
pull reads the change log (``agri.models.Change``, filled by database triggers) from the token's *horizon*:

- PostgreSQL: the horizon is a snapshot taken when the previous pull began (``pg_current_snapshot()``): its
  ``xmax`` and the transactions still running then (``xip``). A pull returns the changes of every transaction
  with ``txid >= xmax`` or ``txid`` in ``xip``: exactly those the snapshot could not see, so any transaction that
  commits after it, however long it stayed open and in whatever order transactions commit.
- SQLite: one writer at a time, so changes commit in ``seq`` order; the horizon is the largest ``seq`` visible
  when the previous pull began.

A changed record the caller may see now is sent whole; one the caller could see before the write (the change
row's ``codes``/``people`` name who could, before and after) and cannot now is sent as a tombstone. A token also
carries the caller's scope when it was issued: if the account's role, jurisdiction or linked person changed
since, the pull sends tombstones for what left the scope and the records that entered it. docs/sync.md gives the
argument in full.
"""

import time
import uuid
from dataclasses import dataclass, field

from django.conf import settings
from django.core import signing
from django.db import connection
from django.db.models import Q, QuerySet
from django.db.models.functions import Cast
from django.utils import timezone

from agri import errors
from agri.models import (
    Change,
    ChangeKind,
    DemonstrationBase,
    Farmer,
    Industry,
    ModelHousehold,
    Photo,
    Role,
    Station,
    User,
    Visit,
)
from agri.models.base import UTCText, utc_time, uuid_text
from geo.codes import full_code
from geo.models import AdminDivision

TOKEN_SALT = "agri.sync"
TOKEN_VERSION = 1
# The order of a first sync: what later kinds refer to comes first.
KINDS = (
    ChangeKind.INDUSTRY,
    ChangeKind.DIVISION,
    ChangeKind.STATION,
    ChangeKind.BASE,
    ChangeKind.HOUSEHOLD,
    ChangeKind.FARMER,
    ChangeKind.VISIT,
    ChangeKind.PHOTO,
)
UUID_KINDS = (ChangeKind.HOUSEHOLD, ChangeKind.FARMER, ChangeKind.VISIT, ChangeKind.PHOTO)
PERSON_LINKS = {Role.EXPERT: "expert", Role.WORKER: "extension_worker", Role.COMMISSIONER: "tech_commissioner"}
PERSON_TOKENS = {Role.EXPERT: "e", Role.WORKER: "w", Role.COMMISSIONER: "c"}


class SyncTokenInvalid(errors.InvalidInput):
    """A token this server did not issue to this account, or one that was altered or cut short."""

    default_code = "sync_token_invalid"

    def __init__(self):
        from django.utils.translation import gettext as _

        message = _("This sync token is not valid for this account. Start again with a pull without a token.")
        super().__init__(message, fields={"sync_token": [message]})


# --- records the caller may see ----------------------------------------------------------------------------


def divisions_for(user) -> QuerySet:
    """The divisions a phone keeps: its area (a worker's home township, otherwise the jurisdiction or the linked
    person's county) with the ancestors, townships and villages only carrying polygons."""
    area = user.jurisdiction or ""
    if user.role == Role.WORKER and (worker := user.linked("extension_worker")) is not None:
        area = (worker.home_township_id or "")[:9]
    elif not area and user.role in PERSON_LINKS and (person := user.linked(PERSON_LINKS[user.role])) is not None:
        area = (getattr(person, "county_id", None) or "")[:6]
    ancestors = [full_code(area[:n]) for n in (2, 4, 6, 9) if n < len(area)]
    return AdminDivision.objects.filter(Q(code__startswith=area) | Q(code__in=ancestors))


def visible(kind: str, user) -> QuerySet:
    """Live records of ``kind`` that ``user`` may see."""
    if kind == ChangeKind.INDUSTRY:
        return Industry.objects.all()
    if kind == ChangeKind.DIVISION:
        return divisions_for(user)
    if kind == ChangeKind.STATION:
        return Station.objects.visible_to(user)
    if kind == ChangeKind.BASE:
        return DemonstrationBase.objects.visible_to(user)
    if kind == ChangeKind.HOUSEHOLD:
        return ModelHousehold.objects.visible_to(user).alive()
    if kind == ChangeKind.FARMER:
        return Farmer.objects.visible_to(user).alive()
    if kind == ChangeKind.VISIT:
        return Visit.objects.visible_to(user).alive()
    return Photo.objects.visible_to(user)


def record_key(kind: str, raw: str):
    """A change row's ``record_id`` as the model's key (UUIDs are stored with or without hyphens)."""
    if kind in UUID_KINDS:
        return uuid.UUID(raw)
    if kind == ChangeKind.DIVISION:
        return raw
    return int(raw)


def record_text(kind: str, raw: str) -> str:
    """A change row's ``record_id`` as the API writes the record's ``id``."""
    return uuid_text(raw) if kind in UUID_KINDS else raw


# --- tokens ------------------------------------------------------------------------------------------------


def scope_of(user) -> list:
    """What decides the caller's slice: role, jurisdiction, superuser, linked person and station."""
    link = PERSON_LINKS.get(user.role)
    person = user.linked(link) if link else None
    return [user.role, user.jurisdiction or "", bool(user.is_superuser), person.pk if person else None, user.station_id]


def scope_user(user, scope: list):
    """An unsaved copy of ``user`` with an earlier scope, to ask ``visible_to`` what it could see then."""
    role, jurisdiction, superuser, person_id, station_id = scope
    copy = User(pk=user.pk, role=role, jurisdiction=jurisdiction, is_superuser=superuser, station_id=station_id)
    for role_name, link in PERSON_LINKS.items():
        relation = User._meta.get_field(link)
        person = None
        if role == role_name and person_id:
            person = relation.related_model.objects.filter(pk=person_id).first()
        relation.set_cached_value(copy, person)
    return copy


def horizon() -> list[int]:
    """What a read that starts now sees of the change log (see the module docstring): on PostgreSQL ``[xmax,
    *xip]`` of the current snapshot, on SQLite ``[max(seq)]``."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT CAST(CAST(pg_snapshot_xmax(s) AS TEXT) AS BIGINT), "
                "ARRAY(SELECT CAST(CAST(x AS TEXT) AS BIGINT) FROM pg_snapshot_xip(s) AS x) "
                "FROM pg_current_snapshot() AS s"
            )
            xmax, running = cursor.fetchone()
            return [int(xmax), *sorted(int(x) for x in running)]
        cursor.execute("SELECT COALESCE(MAX(seq), 0) FROM agri_change")
        return [int(cursor.fetchone()[0])]


def unseen(seen: list[int], after: int = 0) -> Q:
    """The change rows a read with horizon ``seen`` could not see, from after ``seq`` ``after`` on."""
    if connection.vendor == "postgresql":
        xmax, *running = seen
        return (Q(txid__gte=xmax) | Q(txid__in=running) if running else Q(txid__gte=xmax)) & Q(seq__gt=after)
    # One lower bound: given two, SQLite may start its walk of the key at the lower one, and each page of a long
    # pull then reads every row from the horizon on again.
    return Q(seq__gt=max(seen[0], after))


class SyncTokenExpired(errors.InvalidInput):
    """A token older than the change log's retention: the changes after it may be pruned."""

    default_code = "sync_token_expired"

    def __init__(self):
        from django.utils.translation import gettext as _

        message = _("This sync token is too old. Start again with a pull without a token.")
        super().__init__(message, fields={"sync_token": [message]})


def token_encode(state: dict) -> str:
    """The pull's state, signed and compressed: ``t`` is when its horizon ``h`` (or ``n``) was taken."""
    return signing.dumps({**state, "v": TOKEN_VERSION}, salt=TOKEN_SALT, compress=True)


def epoch() -> int:
    """The change log's epoch: the last restore from a backup (0 before any). Tokens from another are stale."""
    return Change.objects.filter(kind=ChangeKind.EPOCH).order_by("-seq").values_list("seq", flat=True).first() or 0


def token_decode(user, token: str) -> dict:
    try:
        state = signing.loads(token, salt=TOKEN_SALT)
    except (signing.BadSignature, ValueError, UnicodeError):
        raise SyncTokenInvalid() from None
    if not isinstance(state, dict) or state.get("v") != TOKEN_VERSION or state.get("u") != user.pk:
        raise SyncTokenInvalid()
    if state.get("t", 0) < time.time() - (settings.SYNC_RETENTION_DAYS - 1) * 86400 or state.get("e") != epoch():
        raise SyncTokenExpired()
    return state


# --- a page ------------------------------------------------------------------------------------------------


@dataclass
class SyncPage:
    """One page of a pull: records to send by kind (querysets, in order), tombstones, and the tokens.

    A page read from the change log also names, by kind, the records that changed (``changed``: key → time of
    the last change, as ``UTCText``'s text). The caller renders ``records`` and passes the ids it rendered to
    ``tombstones_for``: a changed record it did not render is one the account may no longer see, so it gets a
    tombstone. (Asking the database which changed records are still visible would read each page's rows twice.)
    """

    records: list[tuple[str, QuerySet]] = field(default_factory=list)
    tombstones: list[dict] = field(default_factory=list)
    changed: dict[str, dict[str, str]] = field(default_factory=dict)
    token: str = ""
    more: bool = False

    def tombstones_for(self, rendered: dict[str, set[str]]) -> list[dict]:
        """This page's tombstones, given the ids rendered by kind (as text)."""
        out = list(self.tombstones)
        for kind in KINDS:
            seen = rendered.get(kind, set())
            out += [
                {"id": key, "type": str(kind), "deleted": True, "updated_at": utc_time(at)}
                for key, at in self.changed.get(kind, {}).items()
                if key not in seen
            ]
        return out


def sync_page(*, user, token: str | None, size: int) -> SyncPage:
    """The next page of the caller's pull. ``token`` is the ``sync_token`` of the previous page or pull."""
    if not token:
        now = int(time.time())
        state = {"u": user.pk, "e": epoch(), "p": "snap", "k": 0, "i": None, "n": horizon(), "t": now}
        state["s"] = scope_of(user)
    else:
        state = token_decode(user, token)
    if state["p"] == "snap":
        return _snapshot_page(user, state, size)
    return _log_page(user, state, size)


def _snapshot_page(user, state: dict, size: int) -> SyncPage:
    page = SyncPage()
    left = size
    kind_index, last = state["k"], state["i"]
    while left > 0 and kind_index < len(KINDS):
        kind = KINDS[kind_index]
        queryset = visible(kind, user).order_by("pk")
        if last is not None:
            queryset = queryset.filter(pk__gt=record_key(kind, str(last)))
        keys = list(queryset.values_list("pk", flat=True)[:left])
        if keys:
            page.records.append((kind, visible(kind, user).filter(pk__in=keys).order_by("pk")))
        if len(keys) < left:  # this kind is done: on to the next
            kind_index, last = kind_index + 1, None
        else:
            last = str(keys[-1])
        left -= len(keys)
    if kind_index >= len(KINDS):
        page.token = token_encode({**state, "p": "log", "h": state["n"], "c": 0, "n": None, "k": None, "i": None})
    else:
        page.token = token_encode({**state, "k": kind_index, "i": last})
        page.more = True
    return page


def _log_page(user, state: dict, size: int) -> SyncPage:
    page = SyncPage()
    now_scope = scope_of(user)
    if state["n"] is None:  # the first page of this pull: what it will have seen, for the next pull
        state = {**state, "n": horizon(), "nt": int(time.time())}
    if state["s"] != now_scope:
        _scope_change(user, state["s"], page)
        state = {**state, "s": now_scope}
    changes = Change.objects.filter(unseen(state["h"], after=state["c"])).exclude(kind=ChangeKind.EPOCH)
    changes = changes.filter(audience(user))
    # Times as text: only a tombstone's is read, so the page does not parse a thousand of them.
    rows = list(changes.order_by("seq").values_list("seq", "kind", "record_id", UTCText("at"))[:size])
    for _seq, kind, raw, at in rows:
        changed = page.changed.setdefault(kind, {})
        key = record_text(kind, raw)
        changed.pop(key, None)
        changed[key] = at  # the last change of a record decides where it comes in the page
    if rows:
        # The page's records, read by joining the page's change rows in SQL rather than sending their keys back.
        on_page = changes.filter(seq__lte=rows[-1][0])
        for kind in KINDS:
            if kind in page.changed:
                records = visible(kind, user)
                key = Cast("record_id", output_field=records.model._meta.pk.__class__())
                page.records.append(
                    (kind, records.filter(pk__in=on_page.filter(kind=kind).values(key=key)).order_by("pk"))
                )
    if len(rows) == size:
        cursor = rows[-1][0]
        page.token = token_encode({**state, "c": cursor})
        page.more = True
    else:
        page.token = token_encode({**state, "h": state["n"], "t": state["nt"], "c": 0, "n": None, "nt": None})
    return page


def audience(user) -> Q:
    """Change rows that concern ``user``: reference data, its jurisdiction's divisions, or its person's records."""
    q = Q(people__contains=" * ")
    if user.is_superuser or user.is_bureau:
        return q | (Q(codes__contains=f" {user.jurisdiction}") if user.jurisdiction else Q(pk__isnull=False))
    link = PERSON_LINKS.get(user.role)
    person = user.linked(link) if link else None
    if person is not None:
        q |= Q(people__contains=f" {PERSON_TOKENS[user.role]}{person.pk} ")
    if user.role == Role.STATION_MANAGER and user.station_id:
        q |= Q(people__contains=f" s{user.station_id} ")
    return q


def _scope_change(user, old_scope: list, page: SyncPage) -> None:
    """The account's slice changed since the token was issued: tombstones for what left, records for what came."""
    before = scope_user(user, old_scope)
    for kind in KINDS:
        now = visible(kind, user).values("pk")
        then = visible(kind, before).values("pk")
        entered = visible(kind, user).exclude(pk__in=then).order_by("pk")
        left = list(visible(kind, before).exclude(pk__in=now).values_list("pk", flat=True))
        if entered.exists():
            page.records.append((kind, entered))
        stamp = timezone.now()
        page.tombstones += [{"id": str(pk), "type": str(kind), "deleted": True, "updated_at": stamp} for pk in left]
