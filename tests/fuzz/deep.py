"""``python -m tests.fuzz.deep`` (``make fuzz``): the schema fuzzing of tests/fuzz/ over HTTP, against gunicorn.

    FUZZ_SEEDS=1,2,3                 one run of tests/fuzz/test_schemathesis.py per seed and role (the roles side
                                     by side)
    FUZZ_MAX_EXAMPLES=50             Hypothesis examples per operation (fuzzing phase)
    FUZZ_STATEFUL_EXAMPLES=20        chains of the stateful test
    FUZZ_ROLES=worker,admin,anonymous   tests/support.py's accounts; "anonymous" sends no token
    FUZZ_MAX_MINUTES=0               a time budget (0: none); at its end the run stops and reports what it did
    FUZZ_COVERAGE_ROLES=...          roles of the coverage phase (default: all FUZZ_ROLES), run with the first seed
                                     only: its inputs do not depend on the seed
    DATABASE_URL                     postgres://... serves from PostgreSQL (a fresh database "<name>_fuzz" on that
                                     server); otherwise SQLite (.bench/fuzz.sqlite3)

A fresh database is migrated and given tests/support.py's two-county world plus a visit with a photo (as the
in-suite run has); gunicorn serves it with deploy/gunicorn.conf.py and the production settings (DEBUG off, real
password hashing), on 127.0.0.1 at a free port, plain HTTP (no TLS redirect), with the throttles and the login
lockout raised out of reach so that generated requests get past them. Each role logs in over HTTP. Then, per seed,
pytest runs tests/fuzz/test_schemathesis.py with ``FUZZ_BASE_URL`` set: the same phases, checks and hooks
(tests/fuzz/fuzz_support.py) as the in-suite run, every request sent to the server, nothing rolled back.

Prints the figures (requests, responses by status class, failed checks by kind, 5xx in the server's log, time) and
writes them to ``.bench/fuzz-<time>.json``; the server's log is kept beside it. Exit status 1 on any failure.
"""

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / ".bench"
SEEDS = [int(s) for s in os.environ.get("FUZZ_SEEDS", "1,2,3").split(",") if s]
ROLES = os.environ.get("FUZZ_ROLES", "worker,admin,anonymous")
COVERAGE_ROLES = os.environ.get("FUZZ_COVERAGE_ROLES", ROLES)
MAX_EXAMPLES = os.environ.get("FUZZ_MAX_EXAMPLES", "50")
STATEFUL_EXAMPLES = os.environ.get("FUZZ_STATEFUL_EXAMPLES", "20")
OUT_OF_REACH = "100000000/min"
# A time budget for the whole run, in minutes (0: none). When it is spent, each pytest process is interrupted (as by
# Ctrl-C: it stops after its current example and writes its figures so far) and no further seed starts.
MAX_MINUTES = float(os.environ.get("FUZZ_MAX_MINUTES", "0"))


def server_env(database_url: str, media: Path) -> dict:
    """The production settings, on loopback over plain HTTP, with limits that would stop the fuzzing raised."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "backend.settings.production",
        "DATABASE_URL": database_url,
        "SECRET_KEY": secrets.token_urlsafe(40),
        "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        "SECURE_SSL_REDIRECT": "false",
        "NUM_PROXIES": "0",
        "MEDIA_ROOT": str(media),
        "THROTTLE_WRITE": OUT_OF_REACH,
        "THROTTLE_LOGIN": OUT_OF_REACH,
        "LOGIN_LOCKOUT_ACCOUNT_FAILURES": "100000000",
        "LOGIN_LOCKOUT_IP_FAILURES": "100000000",
    }


def fresh_database() -> str:
    """A new, empty database's URL, beside the one DATABASE_URL names (PostgreSQL) or under .bench (SQLite)."""
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):
        import psycopg

        parts = urlsplit(url)
        name = f"{parts.path.lstrip('/') or 'nongji'}_fuzz"
        admin = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        return urlunsplit(parts._replace(path=f"/{name}"))
    OUT.mkdir(exist_ok=True)
    path = OUT / "fuzz.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return f"sqlite:///{path}"


def prepare(keys_file: Path) -> None:
    """In the child process (``--prepare``): migrate, build the world, write its keys."""
    import django

    django.setup()
    from django.core.management import call_command

    from tests.agri.photo_support import image_bytes, new_visit, upload
    from tests.agri.upload_support import create
    from tests.factories import PASSWORD
    from tests.fuzz.fuzz_support import world_keys
    from tests.support import build_world, login

    call_command("migrate", verbosity=0)
    world = build_world()
    worker = login(world.users["worker"], device="fuzz-setup")
    visit = new_visit(worker, world)
    photo = upload(worker, visit["id"], image_bytes("JPEG"))
    assert photo.status_code == 201, photo.content
    started = create(worker, visit["id"], str(uuid.uuid4()), 5000)  # a resumable upload, no byte in yet
    assert started.status_code == 201, started.content
    upload_id = started["Location"].rstrip("/").rsplit("/", 1)[1]
    keys = world_keys(world, visit["id"], photo.json()["id"], upload_id)
    keys_file.write_text(json.dumps({"keys": keys, "password": PASSWORD}, default=str))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(base: str, method: str, path: str, body: dict | None = None, token: str | None = None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", token)
    with urllib.request.urlopen(req, timeout=60) as response:
        return json.loads(response.read() or b"null")


def start_server(env: dict, port: int, log: Path) -> subprocess.Popen:
    env = {
        **env,
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": env.get("GUNICORN_WORKERS", "2"),
        "GUNICORN_ACCESS_LOG": str(log.with_suffix(".access.log")),
    }
    command = [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py", "backend.wsgi"]
    server = subprocess.Popen(
        command, env=env, cwd=ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited during startup: see {log}")
        try:
            request(f"http://127.0.0.1:{port}", "GET", "/api/v1/health/")
            return server
        except OSError:
            time.sleep(0.5)
    stop_server(server)
    raise RuntimeError("gunicorn did not answer within 90 s")


def stop_server(server: subprocess.Popen) -> None:
    if server.poll() is None:
        os.killpg(server.pid, 15)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, 9)
            server.wait()


def world_file(base: str, prepared: dict, path: Path) -> None:
    """Log in as each role over HTTP; the tokens and each account's device-token keys join the world's keys."""
    keys, password = prepared["keys"], prepared["password"]
    tokens, token_keys = {}, {}
    for role in ROLES.split(","):
        if role == "anonymous":
            continue
        body = {"username": role, "password": password, "device": "schemathesis"}
        tokens[role] = "Token " + request(base, "POST", "/api/v1/auth/login/", body)["token"]
        devices = request(base, "GET", "/api/v1/auth/devices/", token=tokens[role])
        token_keys[role] = [d["token_key"] for d in devices.get("results", devices)]
    path.write_text(json.dumps({"tokens": tokens, "keys": {**keys, "token_key": token_keys}, "password": password}))


def run_seed(base: str, world: Path, seed: int, coverage: bool, log: Path, deadline: float) -> list[dict]:
    """One pytest process per role, side by side (the roles' accounts are separate; gunicorn has the workers)."""
    selection = os.environ.get("FUZZ_SELECT") or "not test_found" + ("" if coverage else " and not test_api_coverage")
    command = [sys.executable, "-m", "pytest", "tests/fuzz/test_schemathesis.py", "-p", "no:cacheprovider"]
    command += ["-q", "-k", selection, "-o", "addopts=", "-rf"]
    started, running = time.monotonic(), {}
    for role in ROLES.split(","):
        env = {
            **{k: v for k, v in os.environ.items() if k != "DATABASE_URL"},  # the test process's database: SQLite
            "FUZZ_BASE_URL": base,
            "FUZZ_WORLD_FILE": str(world),
            "FUZZ_SUMMARY_FILE": str(log.with_suffix(f".{role}.json")),
            "FUZZ_SEED": str(seed),
            "FUZZ_ROLES": role,
            "FUZZ_COVERAGE_ROLES": role if role in COVERAGE_ROLES.split(",") else "",
            "FUZZ_MAX_EXAMPLES": MAX_EXAMPLES,
            "FUZZ_STATEFUL_EXAMPLES": STATEFUL_EXAMPLES,
        }
        role_log = log.with_suffix(f".{role}.log")
        process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=role_log.open("w"), stderr=subprocess.STDOUT)
        running[role] = (process, role_log, env["FUZZ_SUMMARY_FILE"])
    interrupted = False
    while any(process.poll() is None for process, _, _ in running.values()):
        if deadline and time.monotonic() > deadline and not interrupted:
            interrupted = True
            for process, _, _ in running.values():
                if process.poll() is None:
                    process.send_signal(signal.SIGINT)
        time.sleep(2)
    runs = []
    for role, (process, role_log, summary) in running.items():
        process.wait()
        tail = role_log.read_text(errors="replace").strip().splitlines()[-40:]
        empty = {"cases": [], "statuses": [], "failures": []}
        figures = json.loads(Path(summary).read_text()) if Path(summary).exists() else empty
        runs.append(
            {
                "seed": seed,
                "role": role,
                "coverage_phase": coverage and role in COVERAGE_ROLES.split(","),
                "seconds": round(time.monotonic() - started),
                "exit": process.returncode,
                "interrupted_at_deadline": interrupted,
                "failed_tests": [line for line in tail if line.startswith("FAILED")],
                "log": str(role_log),
                "last_line": tail[-1] if tail else "",
                **figures,
            }
        )
    return runs


def main() -> int:
    OUT.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    database_url = fresh_database()
    engine = "postgresql" if database_url.startswith("postgres") else "sqlite"
    with tempfile.TemporaryDirectory(prefix="nongji-fuzz-") as scratch:
        tmp = Path(scratch)
        env = server_env(database_url, tmp / "media")
        keys_file = tmp / "keys.json"
        subprocess.run([sys.executable, "-m", "tests.fuzz.deep", "--prepare", str(keys_file)], env=env, check=True)
        port = free_port()
        log = OUT / f"fuzz-{stamp}.server.log"
        server = start_server(env, port, log)
        base = f"http://127.0.0.1:{port}"
        started = time.monotonic()
        deadline = started + MAX_MINUTES * 60 if MAX_MINUTES else 0
        runs = []
        try:
            world = tmp / "world.json"
            world_file(base, json.loads(keys_file.read_text()), world)
            for i, seed in enumerate(SEEDS):
                if deadline and time.monotonic() > deadline:
                    break
                seed_log = OUT / f"fuzz-{stamp}.seed-{seed}.log"
                for run in run_seed(base, world, seed, coverage=i == 0, log=seed_log, deadline=deadline):
                    runs.append(run)
                    print(f"seed {seed} {run['role']}: {run['last_line']} ({run['seconds']} s)", flush=True)
        finally:
            stop_server(server)
    server_errors = log.read_text(errors="replace").count("Internal Server Error")
    totals = {name: Counter() for name in ("requests", "statuses", "failures")}
    for run in runs:
        for role, _phase, _mode, n in run["cases"]:
            totals["requests"][role] += n
        for role, status, n in run["statuses"]:
            totals["statuses"][f"{role} {status}"] += n
        for role, check, n in run["failures"]:
            totals["failures"][f"{role} {check}"] += n
    result = {
        "database": engine,
        "command": "make fuzz",
        "seeds": SEEDS,
        "roles": ROLES,
        "coverage_roles": COVERAGE_ROLES,
        "max_examples": int(MAX_EXAMPLES),
        "stateful_examples": int(STATEFUL_EXAMPLES),
        "max_minutes": MAX_MINUTES,
        "tests": dict(sum((Counter(run.get("tests", {})) for run in runs), Counter())),
        "seconds": round(time.monotonic() - started),
        "requests": sum(totals["requests"].values()),
        "requests_by_role": dict(totals["requests"]),
        "responses_5xx": sum(n for key, n in totals["statuses"].items() if key.endswith("5xx")),
        "server_errors_logged": server_errors,
        "schema_violations": sum(n for key, n in totals["failures"].items() if key.endswith("JsonSchemaError")),
        "statuses": dict(totals["statuses"]),
        "failed_checks": dict(totals["failures"]),
        "runs": runs,
    }
    path = OUT / f"fuzz-{stamp}.json"
    path.write_text(json.dumps(result, indent=2))
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}, indent=2))
    print(f"written: {path} (server log: {log})")
    failed = any(run["exit"] != 0 for run in runs) or result["responses_5xx"] or server_errors
    return 1 if failed else 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--prepare"]:
        prepare(Path(sys.argv[2]))
        sys.exit(0)
    sys.exit(main())
