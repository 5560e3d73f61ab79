"""Single visit POST under load: a real gunicorn (2 sync workers) on 127.0.0.1, driven by wrk, or by a small Python
load generator where wrk is not installed (the bench installs nothing system-wide; ``apt-get install wrk``).

Each run lasts ``duration`` seconds and stops by itself; the bare 204 view and the visit endpoint are run in turn
with the same body, the same connections and the same server. Every POST carries a new visit id, so each one is a
real insert (201), not an idempotent replay.
"""

import http.client
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

import numpy as np

from bench import data

ROOT = Path(__file__).resolve().parent.parent
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "4"))
API_PATH = "/api/v1/visits/"
BARE_PATH = "/bench/bare/"
MAX_PY_REQUESTS = 200_000  # the Python generator's hard bound per run, whatever the duration

LUA = r"""
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Token %(token)s"
local households = {
%(households)s
}
local counter = 0
local path = "/"
local prefix = "00000000"
local thread_count = 0

function setup(thread)
  thread:set("tid", thread_count)
  thread_count = thread_count + 1
end

function init(args)
  path = args[1]
  prefix = args[2]
end

function request()
  counter = counter + 1
  local h = households[(counter %% #households) + 1]
  local id = string.format("%%s-%%04x-4000-8000-%%012x", prefix, tid or 0, counter)
  local body = string.format(
    '{"id":"%%s","kind":"guidance","household":"%%s","started_at":"%(started)s","lat":%%.7f,"lon":%%.7f,' ..
    '"accuracy_m":8.5,"source_crs":"gcj02","photos_expected":2,"notes":"查看柑橘园，指导春季修剪"}',
    id, h[1], h[2], h[3])
  return wrk.format(nil, path, nil, body)
end
"""


def _households(ctx) -> tuple[list[tuple[str, float, float]], str]:
    """The load account's households in GCJ-02 (as an Amap-based app sends them), and a recent start time."""
    from agri.models import ModelHousehold
    from geo.crs import from_wgs84

    worker = ctx.users["load"].extension_worker
    rows = list(ModelHousehold.objects.filter(worker=worker).order_by("pk").values_list("pk", "lat", "lon"))
    lon, lat = from_wgs84(np.array([r[2] for r in rows]), np.array([r[1] for r in rows]), "gcj02")
    started = (data.now_utc() - timedelta(hours=1)).astimezone(data.SHANGHAI).isoformat(timespec="seconds")
    return [(str(r[0]), float(y), float(x)) for r, x, y in zip(rows, lon, lat, strict=True)], started


def single_visit_bodies(ctx, n: int) -> list[bytes]:
    """``n`` request bodies like the ones wrk sends, each with a new id."""
    import orjson

    households, started = _households(ctx)
    ids = data.new_ids(np.random.default_rng(), n)
    return [
        orjson.dumps(
            {
                "id": str(ids[i]),
                "kind": "guidance",
                "household": households[i % len(households)][0],
                "started_at": started,
                "lat": round(households[i % len(households)][1], 7),
                "lon": round(households[i % len(households)][2], 7),
                "accuracy_m": 8.5,
                "source_crs": "gcj02",
                "photos_expected": 2,
                "notes": "查看柑橘园，指导春季修剪",
            }
        )
        for i in range(n)
    ]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int, extra_args: tuple[str, ...] = ()) -> subprocess.Popen:
    """gunicorn (2 sync workers) on 127.0.0.1:``port``, once it answers; ``extra_args`` go to its command line."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "bench.settings"}
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "bench.wsgi:application",
        "--workers",
        "2",
        "--worker-class",
        "sync",
        "--bind",
        f"127.0.0.1:{port}",
        "--log-level",
        "warning",
        "--preload",
        *extra_args,
    ]
    server = subprocess.Popen(command, env=env, cwd=ROOT, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError("gunicorn exited during startup")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", BARE_PATH)
            if conn.getresponse().status == 204:
                return server
        except OSError:
            time.sleep(0.2)
    stop_server(server)
    raise RuntimeError("gunicorn did not answer within 60 s")


def stop_server(server: subprocess.Popen) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([0-9.]+)(us|ms|s)", text).groups()
    return float(number) * _UNITS[unit]


def wrk_once(port: int, script: str, path: str, duration: float) -> dict:
    command = [
        "wrk",
        "-t1",
        f"-c{CONNECTIONS}",
        f"-d{max(1, round(duration))}s",
        "--latency",
        "--timeout",
        "10s",
        "-s",
        script,
        f"http://127.0.0.1:{port}",
        "--",
        path,
        secrets.token_hex(4),
    ]
    out = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60).stdout
    rps = float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1))
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.MULTILINE).group(1))
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    if bad or (errors and "timeout 0" not in errors.group(1)):
        raise RuntimeError(f"wrk {path}: {bad.group(0) if bad else ''} {errors.group(0) if errors else ''}\n{out}")
    return {"rps": rps, "p99": p99}


def python_once(port: int, ctx, path: str, duration: float, token: str) -> dict:
    """Fallback generator: CONNECTIONS threads, a new connection per request (sync workers close them)."""
    bodies = iter(single_visit_bodies(ctx, MAX_PY_REQUESTS // 10))
    lock = threading.Lock()
    latencies: list[float] = []
    failures = []
    deadline = time.monotonic() + duration
    headers = {"Content-Type": "application/json", "Authorization": f"Token {token}"}

    def worker():
        while time.monotonic() < deadline and len(latencies) < MAX_PY_REQUESTS:
            with lock:
                body = next(bodies, None)
            if body is None:
                return
            start = time.perf_counter()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("POST", path, body, headers)
            status = conn.getresponse().status
            conn.close()
            with lock:
                latencies.append(time.perf_counter() - start)
                if status >= 300:
                    failures.append(status)

    threads = [threading.Thread(target=worker) for _ in range(CONNECTIONS)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    if failures:
        raise RuntimeError(f"{path}: {len(failures)} responses with status {sorted(set(failures))}")
    return {"rps": len(latencies) / elapsed, "p99": float(np.percentile(latencies, 99)) * 1000}


def run_load(ctx, duration: float, runs: int) -> dict:
    try:
        import gunicorn  # noqa: F401
    except ImportError:
        return {"missing": "gunicorn not installed: pip install -r requirements.txt"}
    wrk = shutil.which("wrk")
    if not wrk:
        print("wrk not found (apt-get install wrk): using the Python load generator, which competes for the CPU")
    token = ctx.tokens["load"]
    households, started = _households(ctx)
    port = _free_port()
    server = start_server(port)
    out = {"tool": "wrk" if wrk else "python", "connections": CONNECTIONS}
    out.update(api_rps=[], bare_rps=[], api_p99=[], bare_p99=[])
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False, encoding="utf-8") as fh:
        rows = ",\n".join(f'  {{"{h}", {lat:.7f}, {lon:.7f}}}' for h, lat, lon in households)
        fh.write(LUA % {"token": token, "households": rows, "started": started})
        script = fh.name
    try:

        def once(path, seconds):
            if wrk:
                return wrk_once(port, script, path, seconds)
            return python_once(port, ctx, path, seconds, token)

        once(BARE_PATH, 1), once(API_PATH, 2)  # warm-up: imports, connections, each worker's division index
        for _ in range(runs):
            for path, key in ((BARE_PATH, "bare"), (API_PATH, "api")):
                result = once(path, duration)
                out[f"{key}_rps"].append(result["rps"])
                out[f"{key}_p99"].append(result["p99"])
    finally:
        stop_server(server)
        os.unlink(script)
    return out
