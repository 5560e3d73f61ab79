"""``python -m bench.soak`` (``make soak``): issue 7's soak, a bounded load run against a real gunicorn.

    SOAK_SECONDS=300   how long the load lasts (default 300); then clients drain, are verified, and the server stops
    SOAK_USERS=8       simulated phones, each logged in as its own extension worker
    SOAK_BUREAU=2      bureau readers (demo-admin and demo-viewer, taken in turn)
    SOAK_THINK=2.0     mean pause in seconds between a client's actions (exponential; 0 for none)
    --db sqlite,postgresql   default: SQLite, plus PostgreSQL when DATABASE_URL is a postgres:// URL
    --report FILE            print a saved result's table again (memory figures recomputed from its samples)

Per database: a fresh database (``.bench/soak.sqlite3``, or ``nongji_soak`` on the PostgreSQL server the bench
uses) is migrated and seeded with the Yunyang demo (``seed_demo``); gunicorn (the bench's ``bench.wsgi``, 2 sync
workers, ``--preload``) serves it on 127.0.0.1 at a free port, with photos in a scratch directory. Each phone
logs in through ``/auth/login/``, fetches its households and pulls its visits, then loops: push a batch of 20-100
new visits (every item must come back ``created``), upload 1-3 of the real photos in ``tests/data/photos`` to
visits of that batch (201), sometimes upload one again (200), replay an earlier batch (every item ``unchanged``),
send a changed copy of a stored visit or photo (a deliberate 409), and pull what changed since its last pull
(cursor pages; every visit it created since must be there). Bureau readers fetch coverage by township and by
village, H3 hexagons and the plan indicators. Any other status, a connection error or a wrong body is an error.

At the deadline no new request starts; those in flight finish. Each phone then pulls everything it can see and
checks that every visit it was told was created is there, alive, with as many photos as it uploaded. The RSS (and
PSS) of the gunicorn master and workers is sampled every few seconds; memory levels off when the mean of the last
third of the run is within max(10 MB, 5 %) of the middle third's. Prints one table; writes
``.bench/soak-<db>-<time>.json``. Exit status: 1 on any error (or a server that did not stop cleanly), 2 when
memory is still growing over a run of at least 3 minutes, else 0.
"""

import argparse
import http.client
import json
import os
import random
import resource
import secrets
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, urlsplit

import numpy as np
import orjson

from bench import data, loadgen

ROOT = Path(__file__).resolve().parent.parent
API = "/api/v1"
PHOTO_DIR = ROOT / "tests" / "data" / "photos"
PHOTO_TYPES = {".jpg": "image/jpeg", ".heic": "image/heic", ".heif": "image/heif"}
BUREAU_ACCOUNTS = ("demo-admin", "demo-viewer")
EPOCH = "2000-01-01T00:00:00+00:00"
PULL_PAGE = 500
TIMEOUT_S = 60  # per request; gunicorn's own worker timeout (30 s) comes first
DRAIN_S = 120  # the longest the clients may take to finish after the deadline
WORKERS = 2  # bench.loadgen.start_server's gunicorn
RAMP_S = 10  # clients start at random times within the first RAMP_S seconds (a sixth of a short run)
MIN_JUDGED_S = 180  # shorter runs report memory figures but no verdict


# ---------------------------------------------------------------- the database (in a child process, with Django)


def prepare(phones: int) -> dict:
    """Fresh database, migrated and seeded with the demo; the soak's accounts get one random password.

    The phones are the extension workers with the most households. Runs in its own process (``--prepare``), so
    that the driver never holds a database connection while the server is under load.
    """
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    import django

    django.setup()
    from django.contrib.auth.hashers import make_password
    from django.core.management import call_command
    from django.db import connection
    from django.db.models import Count

    from agri.models import ExtensionWorker, User
    from bench.runner import _reset_database

    t0 = time.perf_counter()
    _reset_database()
    call_command("migrate", verbosity=0, interactive=False)
    call_command("seed_demo", verbosity=0)
    workers = list(
        ExtensionWorker.objects.filter(user__isnull=False)
        .annotate(n=Count("households"))
        .filter(n__gt=0)
        .order_by("-n", "pk")
        .values_list("user__username", flat=True)[:phones]
    )
    password = secrets.token_urlsafe(18)
    User.objects.filter(username__in=[*workers, *BUREAU_ACCOUNTS]).update(password=make_password(password))
    from agri.models import Visit

    seeded = Visit.objects.count()
    connection.close()
    return {"workers": workers, "password": password, "seeded_visits": seeded, "seconds": time.perf_counter() - t0}


# ---------------------------------------------------------------- HTTP


class Api:
    """One device: a token and a new connection per request (gunicorn's sync workers close them anyway)."""

    def __init__(self, port: int, token: str | None = None):
        self.port = port
        self.token = token

    def call(self, method: str, path: str, body: bytes | None = None, content_type: str | None = None):
        """(status, body, seconds); status 0 is a connection error, its text in the body."""
        headers = {"Accept": "application/json", "Accept-Language": "en"}
        if self.token:
            headers["Authorization"] = f"Token {self.token}"
        if content_type:
            headers["Content-Type"] = content_type
        start = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=TIMEOUT_S)
        try:
            conn.request(method, path, body, headers)
            response = conn.getresponse()
            status, content = response.status, response.read()
        except (OSError, http.client.HTTPException) as exc:
            status, content = 0, f"{type(exc).__name__}: {exc}".encode()
        finally:
            conn.close()
        return status, content, time.perf_counter() - start


def multipart(fields: dict[str, str], file_name: str, file_bytes: bytes, file_type: str) -> tuple[bytes, str]:
    boundary = "soak" + secrets.token_hex(12)
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{file_name}"\r\n'
        f"Content-Type: {file_type}\r\n\r\n".encode()
        + file_bytes
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


# ---------------------------------------------------------------- what the clients record


@dataclass
class OpStats:
    starts: list = field(default_factory=list)  # seconds since the load started
    latencies: list = field(default_factory=list)  # seconds
    errors: int = 0
    deliberate: int = 0
    items: int = 0


class Recorder:
    def __init__(self, t0: float):
        self.t0 = t0
        self.lock = threading.Lock()
        self.ops: dict[str, OpStats] = defaultdict(OpStats)
        self.error_samples: list[dict] = []
        self.error_total = 0

    def ok(self, op: str, start: float, seconds: float, items: int = 0, deliberate: bool = False) -> None:
        with self.lock:
            stats = self.ops[op]
            stats.starts.append(start - self.t0)
            stats.latencies.append(seconds)
            stats.items += items
            stats.deliberate += deliberate

    def error(self, op: str, start: float, seconds: float, status: int, detail) -> None:
        if isinstance(detail, bytes):
            detail = detail[:300].decode("utf-8", "replace")
        with self.lock:
            stats = self.ops[op]
            stats.starts.append(start - self.t0)
            stats.latencies.append(seconds)
            stats.errors += 1
            self.error_total += 1
            if len(self.error_samples) < 25:
                self.error_samples.append(
                    {"op": op, "at_s": round(start - self.t0, 1), "status": status, "detail": str(detail)[:300]}
                )
        print(f"[soak] ERROR {op}: HTTP {status} {str(detail)[:200]}", file=sys.stderr, flush=True)


def _json(content: bytes):
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        return None


# ---------------------------------------------------------------- clients


class Client(threading.Thread):
    """A device: logs in, then acts until the deadline with exponential pauses in between."""

    def __init__(self, name: str, port: int, username: str, password: str, rec: Recorder, deadline: float, cfg):
        super().__init__(name=name, daemon=True)
        self.api = Api(port)
        self.port = port
        self.username = username
        self.password = password
        self.rec = rec
        self.deadline = deadline
        self.think = cfg.think
        self.rng = random.Random(f"{cfg.seed}/{name}")
        self.ramp = self.rng.uniform(0, min(RAMP_S, cfg.seconds / 6))

    def live(self) -> bool:
        return time.monotonic() < self.deadline

    def pause(self) -> None:
        if self.think > 0:
            time.sleep(min(self.rng.expovariate(1 / self.think), max(0.0, self.deadline - time.monotonic())))

    def request(self, op, method, path, body=None, content_type=None, expect=(200,), deliberate=False):
        """One recorded request; returns the body on an expected status, else None (and records an error)."""
        start = time.perf_counter()
        status, content, seconds = self.api.call(method, path, body, content_type)
        if status in expect:
            self.rec.ok(op, start, seconds, deliberate=deliberate)
            return content
        self.rec.error(op, start, seconds, status, content)
        return None

    def check(self, op: str, condition: bool, detail: str) -> bool:
        """A 2xx whose body is wrong is an error too (recorded against the operation, without a latency)."""
        if not condition:
            with self.rec.lock:
                self.rec.ops[op].errors += 1
                self.rec.error_total += 1
                if len(self.rec.error_samples) < 25:
                    self.rec.error_samples.append({"op": op, "status": "body", "detail": detail[:300]})
            print(f"[soak] ERROR {op}: {detail[:200]}", file=sys.stderr, flush=True)
        return condition

    def login(self) -> bool:
        body = orjson.dumps({"username": self.username, "password": self.password, "device": f"soak {self.name}"})
        while True:
            start = time.perf_counter()
            status, content, seconds = self.api.call("POST", f"{API}/auth/login/", body, "application/json")
            if status == 429 and self.live():  # the per-IP login throttle: wait as a phone would
                self.rec.ok("login", start, seconds, deliberate=True)
                time.sleep(5)
                continue
            if status != 200:
                self.rec.error("login", start, seconds, status, content)
                return False
            self.rec.ok("login", start, seconds)
            self.api.token = _json(content)["token"]
            return True

    def session(self) -> None:
        raise NotImplementedError

    def verify(self) -> None:
        """After the load: check what this device stored (phones only)."""

    def run(self) -> None:
        time.sleep(self.ramp)  # devices come online over the first seconds, not all in the same instant
        try:
            if self.login():
                self.session()
        except Exception as exc:  # a client bug must show up as an error, not as a thread dying silently
            self.check("client", False, f"{self.name}: {type(exc).__name__}: {exc}")


class Phone(Client):
    """An extension worker's phone."""

    def __init__(self, *args, photos: list[tuple[str, bytes, str]], **kwargs):
        super().__init__(*args, **kwargs)
        self.photos = photos
        self.np_rng = np.random.default_rng(self.rng.getrandbits(64))
        self.households: list[tuple[str, float, float]] = []
        self.batches: list[bytes] = []  # request bodies of batches pushed, for replays
        self.items: dict[str, dict] = {}  # visit id -> the item as pushed
        self.created: list[str] = []
        self.pending: set[str] = set()  # created since the last pull
        self.photos_on: dict[str, set] = defaultdict(set)  # visit id -> photo ids stored (201)
        self.uploaded: list[tuple[str, str, int]] = []  # (photo id, visit id, photo index) for replays
        self.since = EPOCH

    def session(self) -> None:
        content = self.request("households", "GET", f"{API}/model-households/?page_size=500")
        if content is None:
            return
        rows = _json(content)["results"]
        self.households = [(r["id"], r["lat"], r["lon"]) for r in rows if r.get("lat") is not None]
        if not self.check("households", bool(self.households), f"{self.username} has no located household"):
            return
        self.pull()
        while self.live():
            batch = self.push()
            if batch and self.live():
                self.upload_photos(batch)
            if self.batches and self.live() and self.rng.random() < 0.3:
                self.replay()
            if self.created and self.live() and self.rng.random() < 0.05:
                self.visit_conflict()
            if self.uploaded and self.live() and self.rng.random() < 0.05:
                self.photo_conflict()
            if self.live():
                self.pull()
            self.pause()

    def new_items(self, n: int) -> list[dict]:
        """``n`` visits to own households, as a phone records them (``bench.data.phone_visits``)."""
        return data.phone_visits(self.np_rng, self.households, n)

    def push(self) -> list[dict] | None:
        items = self.new_items(self.rng.randint(20, 100))
        body = orjson.dumps({"visits": items})
        start = time.perf_counter()
        status, content, seconds = self.api.call("POST", f"{API}/sync/visits/", body, "application/json")
        results = (_json(content) or {}).get("results") if status == 200 else None
        if not isinstance(results, list):
            self.rec.error("sync push", start, seconds, status, content)
            return None
        self.rec.ok("sync push", start, seconds, items=len(items))
        bad = [r for r in results if r.get("status") != "created"]
        ids = [r.get("id") for r in results]
        if not self.check("sync push", not bad and ids == [i["id"] for i in items], f"not all created: {bad[:2]}"):
            return None
        self.batches.append(body)
        for item in items:
            self.items[item["id"]] = item
        self.created.extend(ids)
        self.pending.update(ids)
        return items

    def replay(self) -> None:
        """A batch whose response was lost, sent again: every item must be ``unchanged``."""
        body = self.rng.choice(self.batches)
        start = time.perf_counter()
        status, content, seconds = self.api.call("POST", f"{API}/sync/visits/", body, "application/json")
        results = (_json(content) or {}).get("results") if status == 200 else None
        if not isinstance(results, list):
            self.rec.error("sync replay", start, seconds, status, content)
            return
        self.rec.ok("sync replay", start, seconds, items=len(results))
        bad = [r for r in results if r.get("status") != "unchanged"]
        self.check("sync replay", not bad, f"replayed items not unchanged: {bad[:2]}")

    def upload_photos(self, batch: list[dict]) -> None:
        for _ in range(self.rng.randint(1, 3)):
            if not self.live():
                return
            visit_id = self.rng.choice(batch)["id"]
            index = self.rng.randrange(len(self.photos))
            photo_id = str(uuid.uuid4())
            if self.upload("photo upload", visit_id, photo_id, index, expect=201):
                self.photos_on[visit_id].add(photo_id)
                self.uploaded.append((photo_id, visit_id, index))
        if self.uploaded and self.live() and self.rng.random() < 0.25:  # the response was lost: upload it again
            photo_id, visit_id, index = self.rng.choice(self.uploaded)
            self.upload("photo replay", visit_id, photo_id, index, expect=200)

    def upload(self, op: str, visit_id: str, photo_id: str, index: int, expect: int, deliberate=False) -> bool:
        name, content, content_type = self.photos[index]
        body, ctype = multipart({"id": photo_id}, name, content, content_type)
        answer = self.request(op, "POST", f"{API}/visits/{visit_id}/photos/", body, ctype, (expect,), deliberate)
        if answer is None:
            return False
        if deliberate:
            return self.check(op, (_json(answer) or {}).get("code") == "conflict", f"409 without code: {answer[:200]}")
        photo = _json(answer) or {}
        return self.check(op, photo.get("id") == photo_id, f"photo body: {answer[:200]!r}")

    def visit_conflict(self) -> None:
        """The same visit id with other notes: a deliberate 409 (code ``conflict``), the stored visit kept."""
        item = dict(self.items[self.rng.choice(self.created)])
        item["notes"] = (item["notes"] or "") + " (edited offline)"
        answer = self.request(
            "visit conflict (409)", "POST", f"{API}/visits/", orjson.dumps(item), "application/json", (409,), True
        )
        if answer is not None:
            code = (_json(answer) or {}).get("code")
            self.check("visit conflict (409)", code == "conflict", f"409 with code {code!r}")

    def photo_conflict(self) -> None:
        """A stored photo id with another file: a deliberate 409."""
        photo_id, visit_id, index = self.rng.choice(self.uploaded)
        other = (index + 1) % len(self.photos)
        self.upload("photo conflict (409)", visit_id, photo_id, other, expect=409, deliberate=True)

    def pull(self, since: str | None = None, op: str = "pull page") -> dict[str, dict] | None:
        """Cursor pages of what changed since the last pull; every visit created since then must come back."""
        path = f"{API}/visits/?updated_since={quote(since or self.since)}&page_size={PULL_PAGE}"
        seen: dict[str, dict] = {}
        expected = set(self.pending) if since is None else set()
        while path:
            if since is None and not self.live():
                return None  # the deadline: a later pull would have caught up
            content = self.request(op, "GET", path)
            page = _json(content) if content is not None else None
            if page is None:
                return None
            with self.rec.lock:
                self.rec.ops[op].items += len(page["results"])
            for row in page["results"]:
                seen[row["id"]] = row
            path = urlsplit(page["next"])._replace(scheme="", netloc="").geturl() if page["next"] else None
        if since is None:
            missing = expected - seen.keys()
            example = sorted(missing)[:2]
            self.check(op, not missing, f"{len(missing)} created visits missing from the pull, e.g. {example}")
            self.pending -= expected
            if seen:
                self.since = max(row["updated_at"] for row in seen.values())
        return seen

    def verify(self) -> None:
        """After the load: everything this phone was told was stored is there, alive, with its photos."""
        everything = self.pull(since=EPOCH, op="verify pull page")
        if everything is None:
            return
        missing = [v for v in self.created if v not in everything]
        deleted = [v for v in self.created if v in everything and everything[v]["deleted"]]
        wrong = [
            (v, everything[v]["photos_present"], len(p))
            for v, p in self.photos_on.items()
            if v in everything and everything[v]["photos_present"] != len(p)
        ]
        self.check("verify", not missing, f"{self.username}: {len(missing)} created visits not stored")
        self.check("verify", not deleted, f"{self.username}: {len(deleted)} created visits deleted")
        self.check("verify", not wrong, f"{self.username}: photo counts (id, stored, uploaded) {wrong[:3]}")


COVERAGE_READS = (
    # (operation, path, weight)
    ("coverage townships", "/coverage/divisions/?level=township&date_from={first}&date_to={last}", 3),
    ("coverage villages", "/coverage/divisions/?level=village&date_from={first}&date_to={last}", 1),
    ("hexagons r7", "/coverage/hexagons/?resolution=7&date_from={first}&date_to={last}", 3),
    ("hexagons r9", "/coverage/hexagons/?resolution=9&date_from={first}&date_to={last}", 1),
    ("indicators", "/indicators/", 2),
)


class Bureau(Client):
    """A bureau account watching the county: coverage maps and the plan's indicators for this year."""

    def session(self) -> None:
        today = datetime.now(data.SHANGHAI).date()
        dates = {"first": f"{today.year}-01-01", "last": today.isoformat()}
        reads = [(op, API + path.format(**dates)) for op, path, _w in COVERAGE_READS]
        weights = [w for _op, _p, w in COVERAGE_READS]
        while self.live():
            op, path = self.rng.choices(reads, weights)[0]
            content = self.request(op, "GET", path)
            if content is not None:
                body = _json(content)
                if op == "indicators":
                    self.check(op, isinstance(body, dict) and "year" in body, f"indicators body: {content[:200]!r}")
                else:
                    features = (body or {}).get("features") if isinstance(body, dict) else None
                    self.check(op, isinstance(features, list), f"not a FeatureCollection: {content[:200]!r}")
                    with self.rec.lock:
                        self.rec.ops[op].items += len(features or [])
            self.pause()


# ---------------------------------------------------------------- the server's memory


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(p) for p in fh.read().split()]
    except OSError:
        pass
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry.name))
    return out


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (``/proc/<pid>/stat`` fields 14 and 15)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _runqueue_s(pid: int) -> float:
    """Seconds the process spent runnable but waiting for a CPU (``/proc/<pid>/schedstat``, second field): what
    other work on the machine costs the server."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


def _kb(path: str, key: str) -> int:
    try:
        with open(path) as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class MemorySampler(threading.Thread):
    """RSS and PSS of the gunicorn master and its workers every ``every`` seconds (PSS counts the pages the
    preloaded workers share with the master once, so it is the honest total; RSS counts them in every process)."""

    def __init__(self, master: int, t0: float, every: float):
        super().__init__(name="memory", daemon=True)
        self.master, self.t0, self.every = master, t0, every
        self.samples: list[dict] = []
        self.stopping = threading.Event()

    def sample(self) -> dict:
        workers = sorted(_children(self.master))
        pids = [self.master, *workers]
        rss = [_kb(f"/proc/{p}/status", "VmRSS") / 1024 for p in pids]
        pss = [_kb(f"/proc/{p}/smaps_rollup", "Pss") / 1024 for p in pids]
        return {
            "t": round(time.monotonic() - self.t0, 1),
            "workers": workers,
            "rss_mb": [round(x, 1) for x in rss],
            "rss_total_mb": round(sum(rss), 1),
            "pss_total_mb": round(sum(pss), 1),
            "cpu_s": round(sum(_cpu_s(p) for p in pids), 2),
            "runqueue_s": round(sum(_runqueue_s(p) for p in pids), 2),
        }

    def run(self) -> None:
        while not self.stopping.is_set():
            self.samples.append(self.sample())
            self.stopping.wait(self.every)

    def stop(self) -> None:
        self.stopping.set()
        self.join()
        self.samples.append(self.sample())


def memory_verdict(samples: list[dict], window: float) -> dict:
    """Mean total RSS/PSS of the middle and last thirds of the load, the slope over the last third, and the mean
    RSS per minute (per fifth of a run shorter than 3 minutes), so that the approach to a plateau shows."""
    loaded = [s for s in samples if s["t"] <= window]
    middle = [s for s in loaded if window / 3 <= s["t"] < 2 * window / 3]
    last = [s for s in loaded if s["t"] >= 2 * window / 3]
    out: dict = {"samples": len(samples)}
    if len(middle) < 2 or len(last) < 2:
        return {**out, "verdict": "too few samples"}
    for key in ("rss_total_mb", "pss_total_mb"):
        m, la = float(np.mean([s[key] for s in middle])), float(np.mean([s[key] for s in last]))
        name = key.split("_")[0]
        out[f"{name}_middle_mb"], out[f"{name}_last_mb"], out[f"{name}_growth_mb"] = m, la, la - m
    t = np.array([s["t"] for s in last])
    out["rss_last_third_slope_mb_per_min"] = float(np.polyfit(t, [s["rss_total_mb"] for s in last], 1)[0] * 60)
    step = 60.0 if window >= MIN_JUDGED_S else window / 5
    out["rss_timeline_step_s"] = step
    out["rss_timeline_mb"] = [
        round(float(np.mean([s["rss_total_mb"] for s in loaded if i * step <= s["t"] < (i + 1) * step])), 1)
        for i in range(int(np.ceil(window / step - 1e-9)))
        if any(i * step <= s["t"] < (i + 1) * step for s in loaded)
    ]
    out["first_mb"], out["peak_mb"] = samples[0]["rss_total_mb"], max(s["rss_total_mb"] for s in samples)
    out["allowance_mb"] = max(10.0, 0.05 * out["rss_middle_mb"])
    # CPU the server used per second of the load: 2.0 would be both sync workers busy all the time.
    span = max(loaded[-1]["t"] - loaded[0]["t"], 1e-9)
    out["server_cpu_per_s"] = (loaded[-1]["cpu_s"] - loaded[0]["cpu_s"]) / span
    out["server_runqueue_per_s"] = (loaded[-1]["runqueue_s"] - loaded[0]["runqueue_s"]) / span
    # A worker pid that replaces another: gunicorn killed (timeout, crash) and restarted a worker.
    seen = {pid for s in samples for pid in s["workers"]}
    out["worker_restarts"] = len(seen) - max(len(s["workers"]) for s in samples)
    if window < MIN_JUDGED_S:
        out["verdict"] = f"not judged (run shorter than {MIN_JUDGED_S} s)"
    elif out["rss_growth_mb"] <= out["allowance_mb"]:
        out["verdict"] = "levels off"
    else:
        out["verdict"] = "still growing"
    return out


# ---------------------------------------------------------------- one database


@dataclass
class Config:
    seconds: float
    phones: int
    bureau: int
    think: float
    sample: float
    seed: int
    keep: bool


def percentiles(values: list[float]) -> dict:
    if not values:
        return {}
    p50, p95, p99 = np.percentile(np.array(values) * 1000, [50, 95, 99])
    return {"p50_ms": float(p50), "p95_ms": float(p95), "p99_ms": float(p99), "max_ms": max(values) * 1000}


def summarise(rec: Recorder, window: float) -> dict:
    ops = {}
    for op, s in sorted(rec.ops.items()):
        starts = np.array(s.starts)
        lat = np.array(s.latencies)
        first, last = lat[starts < window / 3], lat[starts >= 2 * window / 3]
        ops[op] = {
            "requests": len(s.latencies),
            "errors": s.errors,
            "deliberate": s.deliberate,
            "items": s.items,
            "per_s": len(s.latencies) / window,
            **percentiles(s.latencies),
            "p50_first_third_ms": float(np.median(first) * 1000) if first.size else None,
            "p50_last_third_ms": float(np.median(last) * 1000) if last.size else None,
        }
    return ops


def run_database(db: str, url: str, cfg: Config, bench_dir: Path) -> dict:
    media = bench_dir / f"soak-{db}-media"
    shutil.rmtree(media, ignore_errors=True)
    env = {
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "MEDIA_ROOT": str(media),
        "PHOTO_ROOT": str(media / "photos"),
        "STORAGE_BACKEND": "local",
    }
    os.environ.update(env)  # for the prepare process and loadgen.start_server, which both take os.environ
    print(f"[soak] {db}: fresh database, migrate, seed_demo ...", file=sys.stderr, flush=True)
    command = [sys.executable, "-m", "bench.soak", "--prepare", str(cfg.phones)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"preparing the {db} database failed:\n{done.stderr[-3000:]}")
    prep = json.loads(done.stdout.strip().splitlines()[-1])
    print(
        f"[soak] {db}: {prep['seeded_visits']:,} demo visits, {len(prep['workers'])} phones "
        f"({prep['seconds']:.0f} s); starting gunicorn",
        file=sys.stderr,
        flush=True,
    )
    photos = []
    for path in sorted(PHOTO_DIR.iterdir()):
        if path.suffix.lower() in PHOTO_TYPES:
            photos.append((path.name, path.read_bytes(), PHOTO_TYPES[path.suffix.lower()]))

    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu_before = usage.ru_utime + usage.ru_stime
    port = loadgen._free_port()
    server = loadgen.start_server(port)
    load_start = list(os.getloadavg())
    ready = time.monotonic() + 30
    while len(_children(server.pid)) < WORKERS and time.monotonic() < ready:  # the first answer needs one worker
        time.sleep(0.1)
    shutdown = {}
    try:
        t0 = time.monotonic()
        deadline = t0 + cfg.seconds
        rec = Recorder(time.perf_counter())
        sampler = MemorySampler(server.pid, t0, cfg.sample)
        sampler.start()
        clients: list[Client] = []
        for i, username in enumerate(prep["workers"]):
            clients.append(Phone(f"phone-{i + 1}", port, username, prep["password"], rec, deadline, cfg, photos=photos))
        for i in range(cfg.bureau):
            username = BUREAU_ACCOUNTS[i % len(BUREAU_ACCOUNTS)]
            clients.append(Bureau(f"bureau-{i + 1}", port, username, prep["password"], rec, deadline, cfg))
        for c in clients:
            c.start()
        next_report = t0 + 30
        while any(c.is_alive() for c in clients) and time.monotonic() < deadline + DRAIN_S:
            time.sleep(1)
            if time.monotonic() >= next_report:
                next_report += 30
                with rec.lock:
                    n = sum(len(s.latencies) for s in rec.ops.values())
                last = sampler.samples[-1] if sampler.samples else {}
                print(
                    f"[soak] {db} {time.monotonic() - t0:5.0f} s: {n:,} requests, {rec.error_total} errors, "
                    f"gunicorn RSS {last.get('rss_total_mb', 0):.0f} MB (PSS {last.get('pss_total_mb', 0):.0f} MB)",
                    file=sys.stderr,
                    flush=True,
                )
        stuck = [c.name for c in clients if c.is_alive()]
        window = time.monotonic() - t0
        sampler.stop()
        for name in stuck:
            rec.error("drain", time.perf_counter(), 0.0, 0, f"{name} still busy {DRAIN_S} s after the deadline")
        print(f"[soak] {db}: load over after {window:.0f} s; verifying what each phone stored", file=sys.stderr)
        verifiers = [threading.Thread(target=c.verify) for c in clients if not c.is_alive()]
        for v in verifiers:
            v.start()
        for v in verifiers:
            v.join(timeout=300)
    finally:
        stop_started = time.monotonic()
        loadgen.stop_server(server)
        shutdown = {"exit_code": server.returncode, "seconds": round(time.monotonic() - stop_started, 1)}
        if not cfg.keep:
            shutil.rmtree(media, ignore_errors=True)
    driver = resource.getrusage(resource.RUSAGE_SELF)
    ops = summarise(rec, window)
    load_ops = {op: s for op, s in ops.items() if not op.startswith(("verify", "login", "households"))}
    all_latencies = [
        x for op, s in rec.ops.items() if op in load_ops for x in s.latencies
    ]  # the load's requests, deliberate 409s included
    phones = [c for c in clients if isinstance(c, Phone)]
    return {
        "db": db,
        "seconds": cfg.seconds,
        "window_s": window,
        "phones": len(phones),
        "bureau": cfg.bureau,
        "think_s": cfg.think,
        "seeded_visits": prep["seeded_visits"],
        "visits_created": sum(len(p.created) for p in phones),
        "photos_created": sum(len(v) for p in phones for v in p.photos_on.values()),
        "requests": sum(s["requests"] for s in load_ops.values()),
        "errors": rec.error_total,
        "error_samples": rec.error_samples,
        "overall": percentiles(all_latencies),
        "ops": ops,
        "memory": memory_verdict(sampler.samples, min(cfg.seconds, window)),
        "memory_samples": sampler.samples,
        "shutdown": shutdown,
        "load_generator_cpu_s": round(driver.ru_utime + driver.ru_stime - cpu_before, 1),
        "load_average": {"start": load_start, "end": list(os.getloadavg())},
    }


# ---------------------------------------------------------------- the report


def fmt_ms(value) -> str:
    if value is None:
        return "-"
    return f"{value:.1f}" if value < 100 else f"{value:,.0f}"


def render(result: dict) -> str:
    header = ["operation", "requests", "errors", "4xx ok", "items", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms"]
    header += ["p50 1st/3", "p50 3rd/3"]
    rows = [header]
    for op, s in result["ops"].items():
        rows.append(
            [
                op,
                f"{s['requests']:,}",
                str(s["errors"]),
                str(s["deliberate"]) if s["deliberate"] else "-",
                f"{s['items']:,}" if s["items"] else "-",
                f"{s['per_s']:.2f}",
                *(fmt_ms(s.get(k)) for k in ("p50_ms", "p95_ms", "p99_ms", "max_ms")),
                fmt_ms(s["p50_first_third_ms"]),
                fmt_ms(s["p50_last_third_ms"]),
            ]
        )
    o = result["overall"]
    total = ["all load requests", f"{result['requests']:,}", str(result["errors"]), "", ""]
    total.append(f"{result['requests'] / result['window_s']:.2f}")
    rows.append(total + [fmt_ms(o.get(k)) for k in ("p50_ms", "p95_ms", "p99_ms", "max_ms")] + ["", ""])
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = [
        " | ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
        for r in rows
    ]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    lines.insert(len(lines) - 1, lines[1])
    m = result["memory"]
    mem = f"memory: {m.get('verdict')}"
    if "rss_middle_mb" in m:
        mem += (
            f"; gunicorn master + {len(result['memory_samples'][-1]['workers'])} workers RSS "
            f"{m['first_mb']:.0f} MB at start, mean {m['rss_middle_mb']:.1f} MB (middle third) -> "
            f"{m['rss_last_mb']:.1f} MB (last third), growth {m['rss_growth_mb']:+.1f} MB "
            f"(allowance {m['allowance_mb']:.0f} MB), last-third slope {m['rss_last_third_slope_mb_per_min']:+.1f} "
            f"MB/min; "
            f"PSS {m['pss_middle_mb']:.1f} -> {m['pss_last_mb']:.1f} MB ({m['pss_growth_mb']:+.1f}); "
            f"peak RSS {m['peak_mb']:.0f} MB; worker restarts: {m['worker_restarts']}"
        )
        step = m["rss_timeline_step_s"]
        timeline = " -> ".join(f"{x:.0f}" for x in m["rss_timeline_mb"])
        mem += f"\nmean RSS per {step:g} s: {timeline} MB"
        mem += (
            f"\nserver CPU: {m['server_cpu_per_s']:.2f} CPU-seconds per second of load (2 sync workers), and "
            f"{m['server_runqueue_per_s']:.2f} s per second runnable but waiting for a CPU taken by other processes"
        )
    sd = result["shutdown"]
    lines += [
        "",
        f"{result['db']}: {result['phones']} phones + {result['bureau']} bureau readers, "
        f"think {result['think_s']:g} s, "
        f"{result['window_s']:.0f} s (load {result['seconds']:g} s + drain); {result['visits_created']:,} visits and "
        f"{result['photos_created']:,} photos created on top of {result['seeded_visits']:,} demo visits",
        f"errors: {result['errors']} (deliberate 409s and throttled logins are not errors: '4xx ok' counts them); "
        f"the load generator used {result['load_generator_cpu_s']:.1f} CPU-seconds",
        mem,
        f"shutdown: gunicorn exit code {sd.get('exit_code')} after {sd.get('seconds')} s; machine load average "
        f"{result['load_average']['start'][0]:.1f} at start, {result['load_average']['end'][0]:.1f} at the end",
    ]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    env = os.environ.get
    parser.add_argument("--seconds", type=float, default=float(env("SOAK_SECONDS") or 300), help="SOAK_SECONDS")
    parser.add_argument("--users", type=int, default=int(env("SOAK_USERS") or 8), help="SOAK_USERS")
    parser.add_argument("--bureau", type=int, default=int(env("SOAK_BUREAU") or 2), help="SOAK_BUREAU")
    parser.add_argument("--think", type=float, default=float(env("SOAK_THINK") or 2.0), help="SOAK_THINK")
    parser.add_argument("--sample", type=float, default=float(env("SOAK_SAMPLE") or 3.0), help="memory sample, s")
    parser.add_argument("--seed", type=int, default=int(env("SOAK_SEED") or data.SEED), help="the clients' seed")
    parser.add_argument("--db", default="", help="sqlite,postgresql")
    parser.add_argument("--keep", action="store_true", help="keep the uploaded photo files (.bench/soak-*-media)")
    parser.add_argument("--report", type=Path, help="print the table of a saved .bench/soak-*.json again")
    parser.add_argument("--prepare", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.prepare is not None:
        print(json.dumps(prepare(args.prepare)))
        return 0
    if args.report:
        result = json.loads(args.report.read_text())
        result["memory"] = memory_verdict(result["memory_samples"], min(result["seconds"], result["window_s"]))
        print(render(result))
        return 0
    if args.seconds <= 0 or args.users < 1 or args.bureau < 0:
        parser.error("--seconds must be positive, --users at least 1, --bureau at least 0")
    cfg = Config(args.seconds, args.users, args.bureau, max(0.0, args.think), args.sample, args.seed, args.keep)
    bench_dir = Path(os.environ.get("BENCH_DIR", ROOT / ".bench")).resolve()
    bench_dir.mkdir(parents=True, exist_ok=True)

    from bench.__main__ import postgres_server

    url = os.environ.get("DATABASE_URL", "")
    databases = [d for d in args.db.split(",") if d] or (
        ["sqlite", "postgresql"] if url.startswith(("postgres://", "postgresql://")) else ["sqlite"]
    )
    unknown = set(databases) - {"sqlite", "postgresql"}
    if unknown:
        parser.error(f"unknown databases: {', '.join(sorted(unknown))}")
    urls = {"sqlite": f"sqlite:///{bench_dir / 'soak.sqlite3'}"}
    if "postgresql" in databases:
        base, why = postgres_server()
        if base is None:
            print(f"[soak] {why}", file=sys.stderr)
            return 1
        urls["postgresql"] = f"{base}/nongji_soak"

    code = 0
    stamp = datetime.now(UTC).astimezone().strftime("%Y%m%d-%H%M%S")
    for db in databases:
        result = run_database(db, urls[db], cfg, bench_dir)
        table = render(result)
        print()
        print(table)
        out = bench_dir / f"soak-{db}-{stamp}.json"
        out.write_text(json.dumps(result, indent=1))
        print(f"results: {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
        if result["errors"] or result["shutdown"].get("exit_code") != 0:
            code = 1
        elif result["memory"].get("verdict") == "still growing" and code == 0:
            code = 2
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
