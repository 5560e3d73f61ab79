"""Helpers for the visit, coverage, export and map tests: the shared world with division polygons, visits pushed
through the API, and the bureau's pages opened in Chromium."""

import os
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import shapely
from django.conf import settings
from django.utils import timezone

from geo.crs import wgs84_to_gcj02
from geo.services import DivisionRow, division_upsert_many

# Where the world's households are (tests/factories.py), in WGS-84: in village 500235001001's box below.
HOME_LON, HOME_LAT = 108.7, 30.95
NOTES = "柑橘溃疡病防治指导：剪除病枝，喷施铜制剂"
BOX = shapely.box
VILLAGES = {
    "500235001001": ("杏家湾社区", "500235001000", BOX(108.69, 30.94, 108.71, 30.96)),
    "500235001003": ("黄金包社区", "500235001000", BOX(108.71, 30.94, 108.73, 30.96)),
    "500235002001": ("青龙社区", "500235002000", BOX(108.69, 30.92, 108.73, 30.94)),
    "500236001001": ("永安社区", "500236001000", BOX(109.40, 31.00, 109.50, 31.10)),
}
TOWNSHIPS = {
    "500235001000": ("双江街道", "500235000000", BOX(108.69, 30.94, 108.73, 30.96)),
    "500235002000": ("青龙街道", "500235000000", BOX(108.69, 30.92, 108.73, 30.94)),
    "500236001000": ("永安街道", "500236000000", BOX(109.40, 31.00, 109.50, 31.10)),
}


def map_world(world, synthetic: bool = False):
    """Give the world's townships and villages polygons (boxes), so that visits get assigned and maps draw."""
    division_upsert_many(
        [DivisionRow(code, name, "township", parent, box, synthetic) for code, (name, parent, box) in TOWNSHIPS.items()]
        + [DivisionRow(code, name, "village", parent, box, synthetic) for code, (name, parent, box) in VILLAGES.items()]
    )
    return world


def map_villages(*codes: str) -> None:
    """Give the world's villages (``codes``, or all four) polygons, and leave the townships without any."""
    division_upsert_many(
        [
            DivisionRow(code, name, "village", parent, box)
            for code, (name, parent, box) in VILLAGES.items()
            if not codes or code in codes
        ]
    )


def visit(world, **overrides) -> dict:
    """A visit's body: guidance at household H1, started two hours ago, at the household."""
    body = {
        "id": str(uuid.uuid4()),
        "kind": "guidance",
        "industry": "citrus",
        "household": str(world["H1"].pk),
        "started_at": (timezone.now() - timedelta(hours=2)).isoformat(),
        "ended_at": (timezone.now() - timedelta(hours=1)).isoformat(),
        "lat": HOME_LAT,
        "lon": HOME_LON,
        "accuracy_m": 8.5,
        "altitude_m": 310.0,
        "source_crs": "wgs84",
        "mock_location": False,
        "notes": "柑橘溃疡病防治指导",
        "participants": 2,
        "photos_expected": 1,
    }
    body.update(overrides)
    return body


def days_ago(n: int, hour: int = 10) -> str:
    """``hour`` o'clock local time ``n`` days ago. Not for n=0: today's ``hour`` may not have come yet."""
    assert n > 0
    return (timezone.localtime() - timedelta(days=n)).replace(hour=hour, minute=0).isoformat()


def visit_body(world, household, lon, lat, days_ago=1, **overrides) -> dict:
    start = (timezone.now() - timedelta(days=days_ago, hours=2)).replace(microsecond=0)
    body = {
        "id": str(uuid.uuid4()),
        "kind": "guidance",
        "industry": "citrus",
        "household": str(world[household].pk),
        "started_at": start.isoformat(),
        "ended_at": (start + timedelta(hours=1)).isoformat(),
        "lat": lat,
        "lon": lon,
        "accuracy_m": 8.5,
        "source_crs": "wgs84",
        "notes": NOTES,
        "participants": 2,
        "photos_expected": 1,
    }
    body.update(overrides)
    return body


def push(client, items) -> None:
    """Sync ``items`` in batches of 500 (the most one request takes); every one must be created."""
    for start in range(0, len(items), 500):
        response = client.post("/api/v1/sync/visits/", {"visits": items[start : start + 500]}, format="json")
        assert response.status_code == 200, response.content
        assert {r["status"] for r in response.json()["results"]} == {"created"}


def push_visits(world, clients):
    """Five visits in township 1 (one sent in GCJ-02, two diagnoses) and two in township 2."""
    gcj_lon, gcj_lat = wgs84_to_gcj02(108.705, 30.955)
    push(
        clients["worker"],
        [
            visit_body(world, "H1", 108.70, 30.95, days_ago=1),
            visit_body(world, "H1", 108.701, 30.951, days_ago=2, kind="diagnosis", notes="叶片黄化"),
            visit_body(world, "H1", 108.702, 30.952, days_ago=3, participants=5),
            visit_body(world, "H1", gcj_lon, gcj_lat, days_ago=4, source_crs="gcj02", accuracy_m=None),
            visit_body(world, "H1", 108.703, 30.953, days_ago=20, kind="diagnosis"),
        ],
    )
    push(
        clients["worker2"],
        [visit_body(world, "H2", 108.70, 30.93, days_ago=1), visit_body(world, "H2", 108.71, 30.93, days_ago=5)],
    )
    return world


# --- the bureau's pages in a real browser (tests/agri/test_web_map.py, test_dashboard.py) ------------------------

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def artifacts_dir(kind: str = "screenshots") -> Path:
    """Where browser tests keep what a person would look at: ``$ARTIFACTS_DIR/<kind>``, by default
    ``.artifacts/<kind>`` under the repository (gitignored); created if missing."""
    root = Path(os.environ.get("ARTIFACTS_DIR") or Path(__file__).resolve().parents[2] / ".artifacts")
    path = root / kind
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass
class PageLog:
    """Everything a page asked for and complained about."""

    requests: list = field(default_factory=list)  # every URL the page requested
    outside: list = field(default_factory=list)  # those to another host: aborted
    console_errors: list = field(default_factory=list)
    page_errors: list = field(default_factory=list)


def open_page(playwright, chromium, live_server, cookie, path, *, viewport=(1280, 860), locale="zh-CN"):
    """Chromium on ``path`` of the live server with a session cookie. Every request is recorded; any to a host but
    the live server is aborted (no CDN, no tiles here). Returns (browser, page, log): close the browser."""
    browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
    context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]}, locale=locale)
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": live_server.url}])
    page = context.new_page()
    log = PageLog()

    def block(route):
        log.outside.append(route.request.url)
        route.abort()

    page.route(lambda url: not url.startswith(live_server.url), block)
    page.on("request", lambda request: log.requests.append(request.url))
    page.on("console", lambda message: message.type == "error" and log.console_errors.append(message.text))
    page.on("pageerror", lambda error: log.page_errors.append(str(error)))
    page.goto(live_server.url + path)
    return browser, page, log
