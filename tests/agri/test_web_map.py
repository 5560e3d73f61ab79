"""The bureau's web map (/map/): session login, the page and its assets, and a real headless Chromium drawing it.

The browser test drives Debian's Chromium (the ``chromium`` fixture of tests/agri/conftest.py) with Playwright against
pytest-django's live server. Without Chromium it is skipped, and says why, unless ``REQUIRE_BROWSER=1`` (set by
``.ci/run``, which installs Chromium): then it fails. Playwright's sync API runs an event loop in this thread, so
every database write happens before the browser starts and Django's async-safety check never sees the ORM called
from inside that loop (no ``DJANGO_ALLOW_ASYNC_UNSAFE``).
"""

import json
import re

import pytest
from django.conf import settings
from django.test import Client

from geo.crs import wgs84_to_gcj02
from tests import factories as f
from tests.agri.map_support import CHROMIUM_ARGS, map_world, push_visits
from tests.support import build_world, login


def page_config(response) -> dict:
    match = re.search(r'<script id="map-config" type="application/json">(.*?)</script>', response.content.decode())
    return json.loads(match.group(1))


# --- the page, without a browser ------------------------------------------------------------------


def test_anonymous_visitor_is_sent_to_login(db, client):
    response = client.get("/map/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/map/"


@pytest.mark.parametrize(("accept", "lang", "label"), [("en", "en", "Password"), ("zh-hans", "zh-hans", "密码")])
def test_login_page_is_in_the_visitors_language(db, accept, lang, label):
    """The page says which language it is in (screen readers, fonts): the one it is written in."""
    page = Client(HTTP_ACCEPT_LANGUAGE=accept).get("/accounts/login/?next=/map/")
    assert page.status_code == 200
    assert f'<html lang="{lang}">' in page.content.decode()
    assert label in page.content.decode()


def test_login_form_logs_in_and_returns_to_the_map(world, client):
    page = client.get("/accounts/login/?next=/map/")
    assert page.status_code == 200 and 'name="password"' in page.content.decode()
    response = client.post("/accounts/login/", {"username": "viewer", "password": f.PASSWORD, "next": "/map/"})
    assert response.status_code == 302 and response["Location"] == "/map/"
    assert client.get("/map/").status_code == 200
    wrong = Client().post("/accounts/login/", {"username": "viewer", "password": "nope", "next": "/map/"})
    assert wrong.status_code == 200 and Client().get("/map/").status_code == 302


@pytest.mark.parametrize("role", ["worker", "expert", "commissioner", "station"])
def test_field_roles_get_403(world, client, role):
    client.force_login(world.users[role])
    assert client.get("/map/").status_code == 403


def test_page_uses_packaged_leaflet_and_configured_tiles(world, client, settings):
    settings.MAP_TILE_URL = "http://tiles.intranet.example/{z}/{x}/{y}.png"
    settings.MAP_TILE_ATTRIBUTION = "县自然资源局"
    client.force_login(world.users["viewer"])
    response = client.get("/map/")
    assert response.status_code == 200
    html = response.content.decode()
    scripts = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', html)
    assert "/static/leaflet/leaflet.js" in scripts and "/static/leaflet/leaflet.css" in scripts
    assert "/static/agri/map.js" in scripts
    assert [s for s in scripts if re.match(r"^(https?:)?//", s)] == []  # no CDN
    config = page_config(response)
    assert config["tileUrl"] == "http://tiles.intranet.example/{z}/{x}/{y}.png"
    assert config["tileAttribution"] == "县自然资源局"
    assert config["crs"] == "wgs84"
    assert config["api"]["divisions"] == "/api/v1/coverage/divisions/"
    assert "柑橘" in html and "山羊" in html  # industry filter
    for asset in ("/static/leaflet/leaflet.js", "/static/leaflet/leaflet.css", "/static/agri/map.js"):
        assert b"".join(client.get(asset).streaming_content)


def test_page_draws_in_gcj02_for_amap_tiles(world, client, settings):
    client.force_login(world.users["admin"])
    assert page_config(client.get("/map/?crs=gcj02"))["crs"] == "gcj02"
    assert page_config(client.get("/map/?crs=mars"))["crs"] == "wgs84"
    settings.MAP_CRS = "gcj02"
    assert page_config(client.get("/map/"))["crs"] == "gcj02"


# --- a real browser -----------------------------------------------------------------------------------


@pytest.fixture
def browser_world(transactional_db):
    """The world with township and village boxes, seven visits, and a bureau admin's session cookie."""
    world = map_world(build_world())
    push_visits(world, {"worker": login(world.users["worker"]), "worker2": login(world.users["worker2"])})
    session = Client()
    session.force_login(world.users["admin"])
    return world, session.cookies[settings.SESSION_COOKIE_NAME].value


# How long the page may take to draw a step: generous, because the CI machine runs Chromium, the live server and the
# suite on two cores, often beside other work (a step takes well under a second on an idle machine).
WAIT_MS = 90_000


def open_map(playwright, chromium, live_server, cookie, path="/map/"):
    browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
    context = browser.new_context(viewport={"width": 1280, "height": 860}, locale="zh-CN")
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": live_server.url}])
    page = context.new_page()
    # No tile server is reachable here: outside requests fail at once, and the map must draw regardless.
    outside = []

    def block(route):
        outside.append(route.request.url)
        route.abort()

    page.route(re.compile(r"^https?://(?!127\.0\.0\.1|localhost)"), block)
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    requests = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(live_server.url + path)
    return browser, page, errors, requests, outside


def test_browser_draws_township_polygons_clusters_and_points(chromium, browser_world, live_server, tmp_path):
    from playwright.sync_api import sync_playwright

    _, cookie = browser_world
    with sync_playwright() as playwright:
        browser, page, errors, requests, outside = open_map(playwright, chromium, live_server, cookie)
        try:
            page.wait_for_function("document.body.dataset.divisions === '2'", timeout=WAIT_MS)
            polygons = page.locator("path.division")
            assert polygons.count() == 2  # Yunyang's two townships (not Fengjie's)
            page.screenshot(path=str(tmp_path / "map-townships.png"))

            # Click-through: the township's figures.
            polygons.first.click()
            page.locator("#details").wait_for(state="visible")
            assert "双江街道" in page.locator("#details-title").inner_text()
            labels = page.locator("#details-body td:first-child").all_inner_texts()
            values = page.locator("#details-body td:last-child").all_inner_texts()
            figures = dict(zip(labels, values, strict=True))
            assert figures["服务次数"] == "5"
            assert "division=500235001000" in page.locator("#details-export").get_attribute("href")

            # County zoom: server-side clusters per H3 cell, whose counts add up to the seven visits.
            page.evaluate("window.nongjiMap.setView([30.945, 108.705], 10, {animate: false})")
            page.wait_for_function("document.querySelectorAll('.cluster').length > 0", timeout=WAIT_MS)
            assert sum(int(t) for t in page.locator(".cluster").all_inner_texts()) == 7
            assert any("/api/v1/coverage/hexagons/?" in url and "resolution=7" in url for url in requests)
            page.screenshot(path=str(tmp_path / "map-clusters.png"))

            # Close zoom: the visits themselves, from visits.geojson for the visible box.
            page.evaluate("window.nongjiMap.setView([30.945, 108.705], 14, {animate: false})")
            page.wait_for_function("document.querySelectorAll('path.visit-point').length === 7", timeout=WAIT_MS)
            assert page.locator(".cluster").count() == 0
            assert any("/api/v1/visits.geojson?" in url and "bbox=" in url for url in requests)
            page.screenshot(path=str(tmp_path / "map-points.png"))

            # Filters: a village-level choropleth for one industry.
            page.select_option("select[name=level]", "village")
            page.wait_for_function("document.body.dataset.divisions === '3'", timeout=WAIT_MS)
            assert any("level=village" in url for url in requests if "/coverage/divisions/" in url)
        finally:
            browser.close()
    assert errors == []
    assert all(not url.startswith(live_server.url) for url in outside)


def test_browser_asks_the_api_for_gcj02_when_drawing_on_amap_tiles(chromium, browser_world, live_server, tmp_path):
    from playwright.sync_api import sync_playwright

    _, cookie = browser_world
    with sync_playwright() as playwright:
        browser, page, errors, requests, _ = open_map(playwright, chromium, live_server, cookie, "/map/?crs=gcj02")
        try:
            page.wait_for_function("document.body.dataset.divisions === '2'", timeout=WAIT_MS)
            asked = next(url for url in requests if "/api/v1/coverage/divisions/" in url)
            collection = page.evaluate("url => fetch(url).then(r => r.json())", asked)
            # The fitted view is at close zoom: the seven visits are drawn, in GCJ-02 as well.
            page.wait_for_function("document.querySelectorAll('path.visit-point').length === 7", timeout=WAIT_MS)
            west = page.evaluate("window.nongjiMap.getBounds().getWest()")
            page.screenshot(path=str(tmp_path / "map-gcj02.png"))
        finally:
            browser.close()
    assert errors == []
    assert all("crs=gcj02" in url for url in requests if "/api/v1/coverage/" in url or "visits.geojson" in url)
    assert any("visits.geojson" in url for url in requests)
    # The townships arrive shifted by the GCJ-02 offset (~500 m here), and the map is fitted to them.
    lons = [x for f in collection["features"] for ring in f["geometry"]["coordinates"] for x, _ in ring]
    expected_west, _ = wgs84_to_gcj02(108.69, 30.92)
    assert min(lons) == pytest.approx(expected_west, abs=1e-5)
    assert min(lons) - 108.69 > 0.003
    assert west < min(lons)
