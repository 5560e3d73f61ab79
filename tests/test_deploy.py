"""deploy/gunicorn.conf.py: gunicorn accepts it, the environment overrides it, and it serves the health check."""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "deploy" / "gunicorn.conf.py")]


def production_env(tmp_path, **extra) -> dict:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "backend.settings.production",
        "SECRET_KEY": "x" * 50,
        "ALLOWED_HOSTS": "127.0.0.1",
        # The health check runs only SELECT 1: an empty database file will do.
        "DATABASE_URL": f"sqlite:///{tmp_path / 'health.sqlite3'}",
        "STATIC_ROOT": str(tmp_path / "static"),
        **extra,
    }


def printed_config(tmp_path, **extra) -> dict:
    out = subprocess.run(
        [*GUNICORN, "--print-config", "backend.wsgi"],
        cwd=ROOT,
        env=production_env(tmp_path, **extra),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    return {k.strip(): v.strip() for k, _, v in (line.partition("=") for line in out.splitlines()) if v}


def test_the_config_has_production_defaults_and_takes_overrides(tmp_path):
    defaults = printed_config(tmp_path)
    assert defaults["workers"] == str(os.cpu_count() + 1)
    assert defaults["timeout"] == "300"
    assert defaults["max_requests"] == "1000"
    assert defaults["max_requests_jitter"] == "100"
    assert defaults["preload_app"] == "True"
    assert defaults["bind"] == "['127.0.0.1:8000']"
    changed = printed_config(tmp_path, GUNICORN_WORKERS="2", GUNICORN_MAX_REQUESTS="0", GUNICORN_TIMEOUT="60")
    assert (changed["workers"], changed["max_requests"], changed["timeout"]) == ("2", "0", "60")


def test_gunicorn_with_the_config_serves_the_health_check(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = production_env(tmp_path, GUNICORN_BIND=f"127.0.0.1:{port}", GUNICORN_WORKERS="1")
    server = subprocess.Popen([*GUNICORN, "backend.wsgi"], cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    try:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/v1/health/", headers={"X-Forwarded-Proto": "https"}
        )
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    status, body = response.status, response.read()
                break
            except OSError:
                assert server.poll() is None, server.stderr.read()
                assert time.monotonic() < deadline, "gunicorn did not answer in 90 s"
                time.sleep(0.5)
        assert status == 200
        assert body == b'{"status":"ok","database":"ok"}'
    finally:
        server.terminate()
        assert server.wait(timeout=60) == 0
