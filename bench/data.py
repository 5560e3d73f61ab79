"""Deterministic benchmark data: the real Yunyang divisions, the demo network, one account per field person, and
N visits clustered the way a county's visits are.

Setup is not what the benchmark measures, so visits go in as raw multi-row batches (``executemany`` on SQLite,
``COPY`` on PostgreSQL) with every server-set column (village, township, scope, H3 cells, flags) computed
vectorised by the same ``geo`` functions the write path uses. The rollup is then rebuilt from the visit table.

Clustering, all from one seeded generator:

- who: extension workers 70 %, experts 10 %, commissioners 20 %; each person's activity is log-normal, so a few
  people log most visits, as in a real county;
- whom: a worker visits their own households (by a Zipf-like preference), their farmers, or a village of their
  township (trainings); an expert their workers' households, their industry's bases or villages; a commissioner
  the stations and bases they serve, or a village;
- where: at the target's registered point, give or take a phone's GPS error (households and farmers ~40 m, bases
  ~120 m, stations ~60 m); a visit to a village at one of its four meeting places (its committee's yard, a
  demonstration field: fixed points ~600 m around the village's representative point), give or take 40 m; 2 % of
  fixes stray, at a village a few kilometres away (a phone without a satellite fix reports its network location,
  the place of a tower, and towers stand in villages), and 3 % of poor accuracy. So the places a county's visits
  are at follow its network, not its number of visits: ten times the visits are ten times the visits to the same
  places, as in a real county (the province data set's 1M and 10M sets then have the same cells);
- when: 2023-2025, more in spring and autumn, fewer around the Spring Festival and on Sundays, 08:00-18:00 local;
  synced minutes to days later (phones in mountain villages are offline), 3 % edited later, 1 % deleted.
"""

import hashlib
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
from django.conf import settings
from django.db import connection, transaction

SEED = 20250306
FIRST_DAY = date(2023, 1, 1)
LAST_DAY = date(2025, 12, 31)
COVERAGE_YEAR = 2025
COUNTY_PREFIX = "500235"
GENERATOR_VERSION = 4  # bump when the generated rows change, so cached databases are rebuilt
BATCH_ROWS = 20_000
SHANGHAI = ZoneInfo("Asia/Shanghai")

KINDS = np.array(["guidance", "diagnosis", "training", "new_variety", "new_technique", "other"])
KIND_WEIGHTS = np.array([0.45, 0.25, 0.08, 0.08, 0.07, 0.07])
CRS = np.array(["gcj02", "wgs84", "bd09", "cgcs2000"])
CRS_WEIGHTS = np.array([0.60, 0.25, 0.10, 0.05])
NOTES = np.array(
    [
        "",
        "柑橘黄龙病普查，病株已标记，建议砍除并统防木虱。",
        "指导春季修剪与疏花疏果，讲解水肥一体化滴灌设置。",
        "查看生猪圈舍通风与消毒情况，提醒按程序免疫。",
        "中药材根腐病初期，推荐轮作并施用生物菌剂。",
        "山羊驱虫与补饲指导，建议建立养殖档案。",
        "茶园病虫害绿色防控：黄板诱杀，合理采摘。",
        "田间学校授课：测土配方施肥，现场答疑。",
        "示范新品种脐橙苗木，讲解定植密度与起垄栽培。",
        "",
    ]
)
INTRODUCED = ('["晚熟脐橙新品种"]', '["水肥一体化技术"]', '["绿色防控技术"]')
# Share of visits per month (Jan..Dec): field work peaks in spring and autumn; the Spring Festival empties January.
MONTH_WEIGHTS = np.array([0.45, 0.6, 1.2, 1.4, 1.4, 1.2, 1.0, 0.9, 1.2, 1.3, 1.0, 0.6])
WEEKDAY_WEIGHTS = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 0.7, 0.35])  # Monday..Sunday


@dataclass
class Network:
    """The seeded network as arrays: who can visit whom, and where the targets are."""

    workers: list  # (worker_id, expert_id, industry_id, home_township, user_id)
    experts: list  # (expert_id, industry_id, county, user_id)
    commissioners: list  # (commissioner_id, county, user_id, [station ids], [base ids])
    households: dict  # worker_id -> list of (household_id hex, lat, lon)
    farmers: dict  # worker_id -> list of (farmer_id hex, lat, lon) (the household's point)
    bases: dict  # base_id -> (lat, lon, industry_id)
    stations: dict  # station_id -> (lat, lon)
    villages: dict  # township code -> list of (village code, rep_lat, rep_lon)
    all_villages: list  # (village code, rep_lat, rep_lon)


def _digest(seed: str, paths: list[Path]) -> str:
    digest = hashlib.sha256(seed.encode())
    for path in sorted(paths):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def fingerprint(n_visits: int) -> str:
    """Changes whenever the data this module would generate changes: its code, the demo divisions, the scale. The
    schema is apart (:func:`schema_fingerprint`): a data set of an older schema is migrated, not rebuilt."""
    return _digest(f"{GENERATOR_VERSION}/{n_visits}", [Path(__file__), Path(settings.BASE_DIR) / "geo" / "demo.py"])


def schema_fingerprint() -> str:
    """Changes whenever a migration is added or changed."""
    return _digest("schema", list(Path(settings.BASE_DIR).glob("*/migrations/0*.py")))


def migrate(log) -> None:
    """Bring a data set built under older migrations to the current schema, as an installation is upgraded: the
    migrations fill what they add (a new rollup table, a derived column) from the rows there, which costs minutes
    where a rebuild of the province's 10M visits costs an hour. Then ANALYZE, as after a build."""
    from django.core.management import call_command

    started = time.perf_counter()
    call_command("migrate", interactive=False, verbosity=0)
    analyze()
    log(f"  migrated to the current schema and analysed: {time.perf_counter() - started:.1f} s")


def seed_network() -> None:
    """Divisions, the demo network and its accounts, then one account per expert, worker and commissioner."""
    from agri.demo import DemoNetwork, demo_accounts
    from geo.demo import yunyang_divisions
    from geo.services import division_upsert_many

    with transaction.atomic():
        division_upsert_many(yunyang_divisions())
        DemoNetwork(this_year=COVERAGE_YEAR).build()
        demo_accounts()
        _field_accounts()


def _field_accounts() -> None:
    from agri.models import Expert, ExtensionWorker, Role, TechCommissioner, User

    for model, role in ((Expert, Role.EXPERT), (ExtensionWorker, Role.WORKER), (TechCommissioner, Role.COMMISSIONER)):
        people = list(model.objects.filter(user__isnull=True).order_by("pk"))
        for person in people:
            jurisdiction = person.home_township.prefix if role == Role.WORKER else COUNTY_PREFIX
            user = User(username=f"bench-{role}-{person.pk}", role=role, jurisdiction=jurisdiction)
            user.set_unusable_password()
            user.save()
            person.user = user
        model.objects.bulk_update(people, ["user"])


def load_network() -> Network:
    from agri.models import (
        DemonstrationBase,
        Expert,
        ExtensionWorker,
        Farmer,
        ModelHousehold,
        Station,
        TechCommissioner,
    )
    from geo.models import AdminDivision

    workers = list(
        ExtensionWorker.objects.order_by("pk").values_list(
            "pk", "expert_id", "expert__industry_id", "home_township_id", "user_id"
        )
    )
    experts = list(Expert.objects.order_by("pk").values_list("pk", "industry_id", "county_id", "user_id"))
    commissioners = []
    for c in TechCommissioner.objects.order_by("pk").prefetch_related("stations", "bases"):
        commissioners.append(
            (c.pk, c.county_id, c.user_id, sorted(s.pk for s in c.stations.all()), sorted(b.pk for b in c.bases.all()))
        )
    households: dict = {}
    for hid, wid, lat, lon in ModelHousehold.objects.order_by("pk").values_list("pk", "worker_id", "lat", "lon"):
        households.setdefault(wid, []).append((hid.hex, lat, lon))
    farmers: dict = {}
    for fid, wid, lat, lon in Farmer.objects.order_by("pk").values_list(
        "pk", "household__worker_id", "household__lat", "household__lon"
    ):
        farmers.setdefault(wid, []).append((fid.hex, lat, lon))
    bases = {
        b: (lat, lon, ind)
        for b, lat, lon, ind in DemonstrationBase.objects.values_list("pk", "lat", "lon", "industry_id")
    }
    stations = {s: (lat, lon) for s, lat, lon in Station.objects.values_list("pk", "lat", "lon")}
    villages: dict = {}
    all_villages = []
    for code, parent, lat, lon in (
        AdminDivision.objects.villages()
        .within(COUNTY_PREFIX)
        .order_by("code")
        .values_list("code", "parent_id", "rep_lat", "rep_lon")
    ):
        villages.setdefault(parent, []).append((code, lat, lon))
        all_villages.append((code, lat, lon))
    return Network(workers, experts, commissioners, households, farmers, bases, stations, villages, all_villages)


@dataclass
class Targets:
    """Every place a visit can go, flattened: kind (0 household, 1 farmer, 2 base, 3 station, 4 village), id,
    registered point and how far from it a visit's fix lands (metres, one sigma)."""

    kind: list
    ident: list
    lat: list
    lon: list
    sigma_m: list

    def add(self, kind: int, ident, lat: float, lon: float, sigma_m: float) -> int:
        self.kind.append(kind)
        self.ident.append(ident)
        self.lat.append(lat)
        self.lon.append(lon)
        self.sigma_m.append(sigma_m)
        return len(self.kind) - 1


HOUSEHOLD, FARMER, BASE, STATION, VILLAGE = range(5)
VILLAGE_SITES = 4  # the places in a village where its visits (trainings, meetings) take place
VILLAGE_SPREAD_M = 600.0  # how far from the village's representative point they lie (one sigma)
GPS_ERROR_M = 40.0  # a phone's fix around the place it stands (one sigma)
STRAY_SHARE = 0.02
STRAY_RANGE_M = (3500.0, 8000.0)  # how far a stray fix's village lies from the target
TARGET_COLUMNS = {HOUSEHOLD: "household_id", FARMER: "farmer_id", BASE: "base_id", STATION: "station_id"}


def _zipf(n: int, s: float = 0.8) -> np.ndarray:
    w = 1.0 / np.arange(1, n + 1) ** s
    return w / w.sum()


def _mix(rng, groups: list[tuple[float, list[int]]]) -> tuple[np.ndarray, np.ndarray]:
    """Candidate target indices and their probabilities: each group gets its share, Zipf-spread over its members."""
    groups = [(share, members) for share, members in groups if members]
    total = sum(share for share, _m in groups)
    idx, prob = [], []
    for share, members in groups:
        members = list(members)
        rng.shuffle(members)
        idx.extend(members)
        prob.extend(share / total * _zipf(len(members)))
    return np.array(idx), np.array(prob)


def _actors(net: Network, rng) -> tuple[list[dict], Targets]:
    targets = Targets([], [], [], [], [])
    village_ids = {}
    for villages in net.villages.values():
        for code, lat, lon in villages:
            # The village's meeting places, one target each (the village's visits spread over them).
            north, east = rng.normal(0, VILLAGE_SPREAD_M, (2, VILLAGE_SITES))
            sites = zip(*_moved(lat, lon, north, east), strict=True)
            village_ids[code] = [targets.add(VILLAGE, code, a, b, GPS_ERROR_M) for a, b in sites]
    base_ids = {b: targets.add(BASE, b, lat, lon, 120.0) for b, (lat, lon, _i) in net.bases.items()}
    station_ids = {s: targets.add(STATION, s, lat, lon, 60.0) for s, (lat, lon) in net.stations.items()}
    household_ids, farmer_ids = {}, {}
    for wid, rows in net.households.items():
        household_ids[wid] = [targets.add(HOUSEHOLD, h, lat, lon, 40.0) for h, lat, lon in rows]
    for wid, rows in net.farmers.items():
        farmer_ids[wid] = [targets.add(FARMER, f, lat, lon, 40.0) for f, lat, lon in rows]
    all_villages = [site for code, _lat, _lon in net.all_villages for site in village_ids[code]]

    actors = []
    workers_of: dict = {}
    for wid, eid, industry, township, user in net.workers:
        workers_of.setdefault(eid, []).append(wid)
        idx, prob = _mix(
            rng,
            [
                (0.75, household_ids.get(wid, [])),
                (0.15, farmer_ids.get(wid, [])),
                (0.10, [site for c, _a, _b in net.villages.get(township, []) for site in village_ids[c]]),
            ],
        )
        actors.append(
            dict(
                column="worker_id", pk=wid, user=user, home=township, industry=industry, share=0.70, idx=idx, prob=prob
            )
        )
    for eid, industry, county, user in net.experts:
        own_households = [t for w in workers_of.get(eid, []) for t in household_ids.get(w, [])]
        own_bases = [base_ids[b] for b, (_a, _b, ind) in net.bases.items() if ind == industry]
        villages = list(rng.choice(all_villages, size=min(30, len(all_villages)), replace=False))
        idx, prob = _mix(rng, [(0.6, own_households), (0.2, own_bases), (0.2, villages)])
        actors.append(
            dict(column="expert_id", pk=eid, user=user, home=county, industry=industry, share=0.10, idx=idx, prob=prob)
        )
    for cid, county, user, stations, bases in net.commissioners:
        villages = list(rng.choice(all_villages, size=min(20, len(all_villages)), replace=False))
        idx, prob = _mix(
            rng, [(0.5, [station_ids[s] for s in stations]), (0.3, [base_ids[b] for b in bases]), (0.2, villages)]
        )
        actors.append(
            dict(
                column="commissioner_id", pk=cid, user=user, home=county, industry=None, share=0.20, idx=idx, prob=prob
            )
        )
    return actors, targets


def _moved(lat, lon, north_m, east_m):
    """The point ``north_m`` and ``east_m`` metres from (lat, lon) (an equirectangular step: metres, not km)."""
    return lat + north_m / 111_320.0, lon + east_m / (111_320.0 * np.cos(np.radians(lat)))


def _stray_villages(net: Network, lat: np.ndarray, lon: np.ndarray, rng) -> tuple[np.ndarray, np.ndarray]:
    """For each stray fix (the target's point), the representative point of a village ``STRAY_RANGE_M`` away from
    it, at random (the nearest village if none lies in that range); 5,000 fixes at a time against every village."""
    v_lat = np.array([v[1] for v in net.all_villages], dtype=float)
    v_lon = np.array([v[2] for v in net.all_villages], dtype=float)
    picks = []
    for start in range(0, lat.size, 5000):
        a, b = lat[start : start + 5000, None], lon[start : start + 5000, None]
        metres = np.hypot((v_lat - a) * 111_320.0, (v_lon - b) * 111_320.0 * np.cos(np.radians(a)))
        inside = (metres >= STRAY_RANGE_M[0]) & (metres <= STRAY_RANGE_M[1])
        # A random village in range: the largest of random keys among them; else the nearest one.
        keys = np.where(inside, rng.random(metres.shape), -1.0)
        picks.append(np.where(inside.any(axis=1), keys.argmax(axis=1), metres.argmin(axis=1)))
    pick = np.concatenate(picks) if picks else np.empty(0, dtype=np.int64)
    return v_lat[pick], v_lon[pick]


def generate_visits(net: Network, n: int, seed: int = SEED) -> dict[str, np.ndarray]:
    """``n`` visits as column arrays (model field columns), sorted by when the server received them."""
    from agri.services.flags import visit_flag_bits
    from geo.assign import assign_points
    from geo.crs import from_wgs84
    from geo.h3cells import cells_by_resolution

    rng = np.random.default_rng(seed)
    actors, targets = _actors(net, rng)
    # Who: each group's share, spread over its people by a log-normal activity.
    activity = rng.lognormal(0.0, 0.8, len(actors))
    share = np.array([a["share"] for a in actors])
    for column in ("worker_id", "expert_id", "commissioner_id"):
        mask = np.array([a["column"] == column for a in actors])
        activity[mask] = activity[mask] / activity[mask].sum() * share[mask][0]
    actor = rng.choice(len(actors), size=n, p=activity / activity.sum())
    # Whom
    target = np.empty(n, dtype=np.int64)
    for a, spec in enumerate(actors):
        rows = np.flatnonzero(actor == a)
        if rows.size:
            target[rows] = spec["idx"][rng.choice(spec["idx"].size, size=rows.size, p=spec["prob"])]
    t_kind = np.array(targets.kind)[target]
    t_lat = np.array(targets.lat, dtype=float)[target]
    t_lon = np.array(targets.lon, dtype=float)[target]
    sigma = np.array(targets.sigma_m)[target]
    # Where: at the target give or take the GPS error; a few strays at a village kilometres away
    north, east = rng.normal(0, 1, n) * sigma, rng.normal(0, 1, n) * sigma
    stray = rng.random(n) < STRAY_SHARE
    at_lat, at_lon = t_lat.copy(), t_lon.copy()
    at_lat[stray], at_lon[stray] = _stray_villages(net, t_lat[stray], t_lon[stray], rng)
    lat, lon = _moved(at_lat, at_lon, north, east)
    north[stray] = (lat[stray] - t_lat[stray]) * 111_320.0  # a stray's distance from its target, for the flags
    east[stray] = (lon[stray] - t_lon[stray]) * 111_320.0 * np.cos(np.radians(t_lat[stray]))
    crs = CRS[rng.choice(CRS.size, size=n, p=CRS_WEIGHTS)]
    client_lon, client_lat = lon.copy(), lat.copy()
    for name in ("gcj02", "bd09"):
        mask = crs == name
        client_lon[mask], client_lat[mask] = from_wgs84(lon[mask], lat[mask], name)
    villages, townships = assign_points(lon, lat)
    h3 = cells_by_resolution(lat, lon)
    # What
    kind = KINDS[rng.choice(KINDS.size, size=n, p=KIND_WEIGHTS)]
    kind[(t_kind == VILLAGE) & (rng.random(n) < 0.7)] = "training"
    training = kind == "training"
    participants = np.where(training, rng.integers(8, 61, n), rng.integers(1, 4, n))
    introduced = np.full(n, "[]", dtype=object)
    introducing = (kind == "new_variety") | (kind == "new_technique")
    introduced[introducing] = np.array(INTRODUCED, dtype=object)[rng.integers(0, len(INTRODUCED), introducing.sum())]
    # When: a weighted calendar, working hours, synced later
    days = np.arange(np.datetime64(FIRST_DAY), np.datetime64(LAST_DAY) + 1)
    months = days.astype("datetime64[M]").astype(int) % 12
    weekdays = (days.astype(int) + 3) % 7  # 1970-01-01 was a Thursday
    day_weight = MONTH_WEIGHTS[months] * WEEKDAY_WEIGHTS[weekdays]
    day = days[rng.choice(days.size, size=n, p=day_weight / day_weight.sum())]
    local_us = day.astype("datetime64[us]").astype(np.int64) + rng.integers(8 * 3600 * 10**6, 18 * 3600 * 10**6, n)
    started = (local_us - 8 * 3600 * 10**6) | 1  # UTC; odd microseconds, never a whole second
    ended = started + rng.integers(20 * 60 * 10**6, 180 * 60 * 10**6, n)
    no_end = rng.random(n) < 0.1
    delay = np.minimum(rng.lognormal(np.log(2 * 3600), 1.6, n), 20 * 86400) + 60
    received = (started + (delay * 10**6).astype(np.int64)) | 1
    edited = rng.random(n) < 0.03
    updated = received + np.where(edited, rng.integers(3600 * 10**6, 30 * 86400 * 10**6, n), 0)
    deleted = rng.random(n) < 0.01
    accuracy = np.where(rng.random(n) < 0.03, rng.uniform(120, 500, n), rng.lognormal(np.log(8), 0.6, n)).round(1)
    mock = rng.random(n) < 0.003
    # Flags, by the rule visit_enrich applies
    found = np.not_equal(villages, None)
    home = np.array([a["home"] for a in actors], dtype=object)[actor]
    bits = visit_flag_bits(
        villages=villages,
        county_prefix=np.full(n, COUNTY_PREFIX),
        target_village=np.where(t_kind == VILLAGE, np.array(targets.ident, dtype=object)[target], None),
        target_distance_m=np.where(t_kind == VILLAGE, np.nan, np.hypot(north, east)),
        accuracy_m=accuracy,
        mock_location=mock,
        started_after_receipt_s=(started - received) / 10**6,
    )
    industries = np.array([a["industry"] for a in actors], dtype=object)[actor]
    base_target = t_kind == BASE
    industries[base_target] = np.array(
        [net.bases[b][2] for b in np.array(targets.ident, dtype=object)[target][base_target]], dtype=object
    )
    photos_expected = rng.choice(5, size=n, p=[0.3, 0.2, 0.25, 0.15, 0.1])
    photos_present = np.where(rng.random(n) < 0.05, photos_expected // 2, photos_expected)
    raw_ids = np.frombuffer(rng.bytes(16 * n), dtype=np.uint8).reshape(n, 16).copy()
    raw_ids[:, 6] = (raw_ids[:, 6] & 0x0F) | 0x40
    raw_ids[:, 8] = (raw_ids[:, 8] & 0x3F) | 0x80
    digests = np.frombuffer(rng.bytes(32 * n), dtype=np.uint8).reshape(n, 32)

    columns = {
        "id": np.array([row.tobytes().hex() for row in raw_ids], dtype=object),
        "user_id": np.array([a["user"] for a in actors])[actor],
        "kind": kind.astype(object),
        "industry_id": industries,
        "notes": NOTES[rng.integers(0, NOTES.size, n)].astype(object),
        "participants": participants,
        "introduced": introduced,
        "started_at": started,
        "ended_at": np.where(no_end, -1, ended),
        "visit_date": (local_us // (86400 * 10**6)),
        "received_at": received,
        "updated_at": updated,
        "lat": lat.round(7),
        "lon": lon.round(7),
        "client_lat": client_lat.round(7),
        "client_lon": client_lon.round(7),
        "source_crs": crs.astype(object),
        "accuracy_m": accuracy,
        "altitude_m": rng.uniform(150, 1200, n).round(1),
        "mock_location": mock,
        "division_id": villages,
        "township_code": np.where(found, townships, "").astype(object),
        "scope_code": np.where(found, villages, home).astype(object),
        "h3_r5": h3[5],
        "h3_r7": h3[7],
        "h3_r9": h3[9],
        "flag_bits": bits,
        "photos_expected": photos_expected,
        "photos_present": photos_present,
        "deleted_at": np.where(deleted, updated, -1),
        "version": np.where(edited, 2, 1),
        "payload_sha256": np.array([row.tobytes().hex() for row in digests], dtype=object),
    }
    for column in ("worker_id", "expert_id", "commissioner_id"):
        own = np.array([a["column"] == column for a in actors])[actor]
        columns[column] = np.where(own, np.array([a["pk"] for a in actors], dtype=object)[actor], None)
    ident = np.array(targets.ident, dtype=object)[target]
    for kind_code, column in TARGET_COLUMNS.items():
        columns[column] = np.where(t_kind == kind_code, ident, None)
    columns["village_id"] = np.where(t_kind == VILLAGE, ident, None)
    order = np.argsort(received, kind="stable")
    return {name: values[order] for name, values in columns.items()}


DATETIME_COLUMNS = ("started_at", "ended_at", "received_at", "updated_at", "deleted_at")


def _db_values(columns: dict[str, np.ndarray], start: int, stop: int, vendor: str) -> dict[str, list]:
    """One batch of columns as plain Python values in the database's text formats (-1 means NULL for times)."""
    out = {}
    for name, values in columns.items():
        chunk = values[start:stop]
        if name in DATETIME_COLUMNS:
            text = np.datetime_as_string(chunk.astype("datetime64[us]"), unit="us").astype(object)
            suffix = "+00" if vendor == "postgresql" else ""
            out[name] = [
                None if us < 0 else t.replace("T", " ") + suffix for us, t in zip(chunk.tolist(), text, strict=True)
            ]
        elif name == "visit_date":
            out[name] = np.datetime_as_string(chunk.astype("datetime64[D]")).tolist()
        elif name in ("h3_r5", "h3_r7", "h3_r9"):
            out[name] = [v or None for v in chunk.tolist()]
        elif name == "mock_location":
            out[name] = chunk.tolist() if vendor == "postgresql" else chunk.astype(int).tolist()
        else:
            out[name] = chunk.tolist()
    return out


def insert_visits(columns: dict[str, np.ndarray], progress=None) -> int:
    """Raw batched insert of generated visits; columns the generator does not fill get their field default."""
    from agri.models import Visit

    fields = Visit._meta.concrete_fields
    n = len(columns["id"])
    constants = {}
    for field in fields:
        if field.column not in columns:
            constants[field.column] = field.get_db_prep_save(field.get_default(), connection)
    names = [f.column for f in fields]
    table = connection.ops.quote_name(Visit._meta.db_table)
    quoted = ", ".join(connection.ops.quote_name(c) for c in names)
    vendor = connection.vendor
    connection.ensure_connection()
    raw = connection.connection
    if vendor == "sqlite":
        # A one-off bulk load: a large page cache keeps the 20-odd indexes in memory while they fill.
        raw.execute("PRAGMA cache_size = -1048576")
    with transaction.atomic():
        for start in range(0, n, BATCH_ROWS):
            stop = min(start + BATCH_ROWS, n)
            batch = _db_values(columns, start, stop, vendor)
            series = [batch[c] if c in batch else [constants[c]] * (stop - start) for c in names]
            rows = list(zip(*series, strict=True))
            if vendor == "postgresql":
                with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({quoted}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                raw.executemany(f"INSERT INTO {table} ({quoted}) VALUES ({', '.join('?' * len(names))})", rows)
            if progress:
                progress(stop)
    return n


def analyze() -> None:
    """Statistics for the planner; on PostgreSQL also ``VACUUM``, so that the visibility map is set as autovacuum
    would have set it on a live database (index-only scans then skip the table), and the first measured run does
    not pay for setting hint bits."""
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")


def rebuild_rollups() -> str:
    try:
        from agri.services.rollups import rollups_rebuild
    except ImportError:
        return "no rollup in this checkout"
    visits, rows = rollups_rebuild()
    return f"rollup rebuilt: {visits} visits in {rows} rows"


def now_utc() -> datetime:
    return datetime.now(UTC)


def new_ids(rng, n: int) -> list[uuid.UUID]:
    """Random (seeded) version-4 UUIDs, as phones generate them."""
    raw = np.frombuffer(rng.bytes(16 * n), dtype=np.uint8).reshape(n, 16).copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    return [uuid.UUID(bytes=row.tobytes()) for row in raw]


def recent(hours: float) -> datetime:
    return now_utc() - timedelta(hours=hours)


def phone_visits(rng, households: list[tuple], n: int) -> list[dict]:
    """``n`` visit payloads to ``households`` ((id, lat, lon) tuples) as a phone records them: within 40 m of the
    household, GCJ-02 or BD-09 mostly (``CRS_WEIGHTS``), started in the last 3 days, ended 45 minutes later."""
    from geo.crs import from_wgs84

    pick = rng.integers(0, len(households), n)
    lat = np.array([households[i][1] for i in pick]) + rng.normal(0, 40, n) / 111_320
    lon = np.array([households[i][2] for i in pick]) + rng.normal(0, 40, n) / 95_000
    crs = CRS[rng.choice(CRS.size, size=n, p=CRS_WEIGHTS)]
    for name in ("gcj02", "bd09"):
        mask = crs == name
        lon[mask], lat[mask] = from_wgs84(lon[mask], lat[mask], name)
    kinds = KINDS[rng.choice(KINDS.size, size=n, p=KIND_WEIGHTS)]
    now = now_utc()
    items = []
    for i, visit_id in enumerate(new_ids(rng, n)):
        started = now - timedelta(minutes=int(rng.integers(30, 72 * 60)))
        item = {
            "id": str(visit_id),
            "kind": str(kinds[i]),
            "household": str(households[pick[i]][0]),
            "started_at": started.astimezone(SHANGHAI).isoformat(),
            "ended_at": (started + timedelta(minutes=45)).astimezone(SHANGHAI).isoformat(),
            "lat": round(float(lat[i]), 7),
            "lon": round(float(lon[i]), 7),
            "accuracy_m": round(float(rng.lognormal(np.log(8), 0.6)), 1),
            "source_crs": str(crs[i]),
            "notes": str(NOTES[int(rng.integers(0, NOTES.size))]),
            "photos_expected": int(rng.integers(0, 5)),
        }
        if item["kind"] in ("new_variety", "new_technique"):
            item["introduced"] = ["晚熟脐橙新品种"]
        items.append(item)
    return items
