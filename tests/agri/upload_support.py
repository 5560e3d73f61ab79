"""Helpers for the resumable-upload (tus) tests: raw tus requests through APIClient, tuspy against a live server,
a TCP proxy that cuts connections after given numbers of bytes, and app servers in processes of their own."""

import base64
import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
from django.db import connection
from PIL import Image
from tusclient.client import TusClient

ROOT = Path(__file__).resolve().parents[2]
TUS = {"HTTP_TUS_RESUMABLE": "1.0.0"}
OFFSET_STREAM = "application/offset+octet-stream"


def metadata_header(**pairs: str) -> str:
    return ",".join(f"{key} {base64.b64encode(value.encode()).decode()}" for key, value in pairs.items())


def create(client, visit_id: str, photo_id: str, length: int, body: bytes = b"", **headers):
    """POST /uploads/ (tus creation; creation-with-upload when ``body`` is given)."""
    extra = {**TUS, "HTTP_UPLOAD_LENGTH": str(length), **headers}
    extra.setdefault("HTTP_UPLOAD_METADATA", metadata_header(visit=visit_id, id=photo_id, filename="IMG_0001.jpg"))
    if body:
        return client.generic("POST", "/api/v1/uploads/", body, content_type=OFFSET_STREAM, **extra)
    return client.post("/api/v1/uploads/", **extra)


def patch(client, location: str, offset: int, data: bytes, **headers):
    return client.generic(
        "PATCH", location, data, content_type=OFFSET_STREAM, **{**TUS, "HTTP_UPLOAD_OFFSET": str(offset), **headers}
    )


def database_url(port: int | None = None) -> str:
    """The test database, for other processes; on PostgreSQL, ``port`` names another server that holds it (a
    replica)."""
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    port = port or db["PORT"] or 5432
    return f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{port}/{db['NAME']}"


def call(server: "AppServer", method: str, path: str, body=None, *, token: str | None = None, headers=None):
    """One JSON request to a live server: ``(status, decoded body)``, whatever the status."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"Accept": "application/json", "Accept-Language": "en", **(headers or {})}
    if data is not None:
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Token {token}"
    request = urllib.request.Request(f"{server.url}{path}", data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    return status, (json.loads(raw) if raw else None)


def token_of(client) -> str:
    """The device token an APIClient logged in with (tests.support.login)."""
    return client._credentials["HTTP_AUTHORIZATION"].removeprefix("Token ")


def tus_client(base_url: str, token: str) -> TusClient:
    return TusClient(f"{base_url}/api/v1/uploads/", headers={"Authorization": f"Token {token}"})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class CuttingProxy:
    """A TCP proxy on 127.0.0.1 in front of ``target_port`` that drops the connection in flight whenever the bytes
    sent by the client (all connections together) reach the next of ``cuts``: the bytes up to the cut reach the
    server, the rest of what the client sent is lost, and both sides see the connection end. ``sent`` counts every
    byte the client sent, headers included, lost ones too."""

    def __init__(self, target_port: int, cuts=()):
        self.target_port = target_port
        self.cuts = sorted(cuts)
        self.sent = 0
        self.cut_count = 0
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self._stop = True
        self._listener.close()

    def _accept(self) -> None:
        while not self._stop:
            try:
                downstream, _addr = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            threading.Thread(target=self._pump_up, args=(downstream, upstream), daemon=True).start()
            threading.Thread(target=self._pump_down, args=(upstream, downstream), daemon=True).start()

    def _pump_up(self, downstream: socket.socket, upstream: socket.socket) -> None:
        try:
            while True:
                block = downstream.recv(16 * 1024)
                if not block:
                    upstream.shutdown(socket.SHUT_WR)
                    return
                with self._lock:
                    start = self.sent
                    self.sent += len(block)
                    cut = next((c for c in self.cuts if start < c <= self.sent), None)
                    if cut is not None:
                        self.cuts.remove(cut)
                        self.cut_count += 1
                if cut is None:
                    upstream.sendall(block)
                    continue
                upstream.sendall(block[: cut - start])
                # The server reads the bytes up to the cut, then the end of the stream; the client gets a reset.
                upstream.shutdown(socket.SHUT_WR)
                downstream.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                downstream.close()
                time.sleep(1)
                upstream.close()
                return
        except OSError:
            for sock in (upstream, downstream):
                sock.close()

    def _pump_down(self, upstream: socket.socket, downstream: socket.socket) -> None:
        try:
            while True:
                block = upstream.recv(16 * 1024)
                if not block:
                    downstream.shutdown(socket.SHUT_WR)
                    return
                downstream.sendall(block)
        except OSError:
            return


class AppServer:
    """An app server in a process of its own, on a free port, with the environment given (the database and the
    photo store to share with other processes): ``manage.py runserver --noreload``, or gunicorn with one sync worker
    as in production (``gunicorn=True``)."""

    def __init__(self, env: dict[str, str], log: Path, *, gunicorn: bool = False):
        self.port = free_port()
        self.log = log
        full_env = {**os.environ, "DJANGO_SETTINGS_MODULE": "backend.settings.test", **env}
        bind = f"127.0.0.1:{self.port}"
        command = (
            [sys.executable, "-m", "gunicorn", "backend.wsgi", "--bind", bind, "--workers", "1", "--timeout", "60"]
            if gunicorn
            else [sys.executable, "manage.py", "runserver", "--noreload", "--skip-checks", bind]
        )
        with log.open("w") as out:  # a file, not a pipe that nobody reads and that would fill up
            self.process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=full_env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/api/v1/health/", timeout=2):
                    return
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError(f"runserver exited: {log.read_text()}") from None
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("runserver did not answer in 90 s") from None
                time.sleep(0.3)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def noise_jpeg(width: int = 3200, height: int = 2400) -> bytes:
    """A JPEG over S3's 5 MiB part size (no sample photo is that large): random pixels do not compress."""
    pixels = np.random.default_rng(7).integers(0, 256, (height, width, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=90)
    return out.getvalue()
