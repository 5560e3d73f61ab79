"""The bureau's web map (/map/): session login, the page and its assets, and a real headless Chromium drawing it.

The browser tests drive Debian's Chromium (the ``chromium`` fixture of tests/agri/conftest.py) with Playwright against
pytest-django's live server, at 1400×900, and check what a person sees: township names, a legend for every layer
that is on, figures that do not cover the layer switcher. Every request the page makes is recorded: none may go to
any host but the server, and the console must show no error. Screenshots are saved as artefacts in
``$ARTIFACTS_DIR/screenshots/`` (default ``.artifacts/screenshots/`` in the repository, git-ignored), named after
the step and the database. Without Chromium the browser tests are skipped, and say why, unless
``REQUIRE_BROWSER=1`` (set by ``.ci/run``, which installs Chromium): then they fail. Playwright's sync API runs an
event loop in this thread, so every database write happens before the browser starts and Django's async-safety
check never sees the ORM called from inside that loop (no ``DJANGO_ALLOW_ASYNC_UNSAFE``).
"""

import json
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.test import Client

from geo.crs import wgs84_to_gcj02
from tests import factories as f
from tests.agri.map_support import artifacts_dir, map_world, open_page, push_visits
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


def test_default_page_has_no_basemap_and_names_no_other_host(world, client):
    client.force_login(world.users["viewer"])
    response = client.get("/map/")
    config = page_config(response)
    assert config["tileUrl"] == "" and config["tileAttribution"] == ""
    assert re.findall(r"(?:https?:)?//[\w.-]+", response.content.decode()) == []


def test_page_speaks_the_users_language(world, client):
    client.force_login(world.users["viewer"])
    chinese = client.get("/map/", HTTP_ACCEPT_LANGUAGE="zh-CN")
    english = client.get("/map/", HTTP_ACCEPT_LANGUAGE="en")
    assert "科技服务覆盖地图" in chinese.content.decode() and '<html lang="zh-hans">' in chinese.content.decode()
    assert "Service coverage map" in english.content.decode() and '<html lang="en">' in english.content.decode()
    zh, en = page_config(chinese), page_config(english)
    assert zh["text"]["layerLabels"] == "名称" and en["text"]["layerLabels"] == "Names"
    assert zh["values"]["coverage"] == "示范户覆盖率" and en["values"]["coverage"] == "Coverage of model households"
    assert zh["kinds"]["diagnosis"] == "病虫害诊断" and en["kinds"]["diagnosis"] != "病虫害诊断"
    # Every text of the script is translated (the placeholders kept).
    for key, text in en["text"].items():
        assert zh["text"][key] != text, key
        assert re.findall(r"\{\w+\}", zh["text"][key]) == re.findall(r"\{\w+\}", text), key


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

# How long the page may take to draw a step: generous, because the CI machine runs Chromium, the live server and the
# suite on two cores, often beside other work (a step takes well under a second on an idle machine; the first
# classed request of a process imports mapclassify, about 2 s).
WAIT_MS = 90_000

VISIBLE_LABELS = """() => [...document.querySelectorAll('.division-label:not(.hidden) span')].map(s => {
  const r = s.getBoundingClientRect();
  return {text: s.textContent, left: r.left, right: r.right, top: r.top, bottom: r.bottom};
})"""
LEGEND = """() => Object.fromEntries([...document.querySelectorAll('.legend section')].map(s => [s.dataset.layer, {
  title: s.querySelector('strong').textContent,
  rows: [...s.querySelectorAll('.legend-row')].map(r => ({
    key: r.dataset.key || null,
    label: r.querySelector('span').textContent,
    colour: getComputedStyle(r.querySelector('i')).backgroundColor,
    count: r.querySelector('small') ? r.querySelector('small').textContent : null,
  })),
}]))"""
RECT = """selector => {
  const r = document.querySelector(selector).getBoundingClientRect();
  return [r.left, r.top, r.right, r.bottom];
}"""


def session_cookie(user) -> str:
    session = Client()
    session.force_login(user)
    return session.cookies[settings.SESSION_COOKIE_NAME].value


@pytest.fixture
def browser_world(transactional_db):
    """The world with township and village boxes, seven visits, and a bureau admin's session cookie."""
    world = map_world(build_world())
    push_visits(world, {"worker": login(world.users["worker"]), "worker2": login(world.users["worker2"])})
    return world, session_cookie(world.users["admin"])


class MapPage:
    """Chromium on /map/ at 1400×900, recording every request and every console error."""

    def __init__(self, playwright, chromium, live_server, cookie, path="/map/", locale="zh-CN"):
        self.live_server = live_server
        self.browser, self.page, self.log = open_page(
            playwright, chromium, live_server, cookie, path, viewport=(1400, 900), locale=locale
        )

    @property
    def requests(self) -> list[str]:
        return self.log.requests

    @property
    def errors(self) -> list[str]:
        return self.log.console_errors + self.log.page_errors

    def wait(self, expression: str):
        self.page.wait_for_function(expression, timeout=WAIT_MS)

    def set_view(self, lat, lon, zoom):
        self.page.evaluate(f"window.nongjiMap.setView([{lat}, {lon}], {zoom}, {{animate: false}})")

    def screenshot(self, name: str) -> Path:
        path = artifacts_dir() / f"{name}-{connection.vendor}.png"
        self.page.screenshot(path=str(path))
        assert path.stat().st_size > 10_000
        return path

    def labels(self) -> list[dict]:
        return self.page.evaluate(VISIBLE_LABELS)

    def legend(self) -> dict:
        return self.page.evaluate(LEGEND)

    def rect(self, selector: str) -> list[float]:
        return self.page.evaluate(RECT, selector)

    def toggle_layer(self, name: str):
        self.page.locator(".leaflet-control-layers-overlays label", has_text=name).locator("input").click()

    def fetch(self, url: str) -> dict:
        return self.page.evaluate("url => fetch(url).then(r => r.json())", url)

    def asked(self, path: str) -> list[str]:
        return [url for url in self.requests if path in url]

    def check_clean(self):
        """No request to any host but the server; no console error."""
        server = self.live_server.url + "/"
        assert [url for url in self.requests if not (url.startswith(server) or url.startswith("data:"))] == []
        assert self.errors == []


def rgb(colour: str) -> str:
    return "rgb({}, {}, {})".format(*(int(colour[i : i + 2], 16) for i in (1, 3, 5)))


def overlaps(a: dict, b: dict) -> bool:
    return a["left"] < b["right"] and b["left"] < a["right"] and a["top"] < b["bottom"] and b["top"] < a["bottom"]


def assert_legend_is_the_classification(legend_section: dict, classification: dict):
    assert [(r["key"], r["label"], r["colour"], r["count"]) for r in legend_section["rows"]] == [
        (c["key"], c["label"], rgb(c["colour"]), str(c["count"])) for c in classification["classes"]
    ]


def assert_polygons_have_their_class_colour(page: MapPage, collection: dict):
    colours = {c["key"]: c["colour"] for c in collection["classification"]["classes"]}
    expected = sorted(colours[f["properties"]["map_class"]] for f in collection["features"] if f["geometry"])
    assert sorted(page.page.eval_on_selector_all("path.division", "ps => ps.map(p => p.getAttribute('fill'))")) == (
        expected
    )


def test_browser_draws_a_readable_map_and_a_legend_for_every_layer(chromium, browser_world, live_server):
    from playwright.sync_api import sync_playwright

    _, cookie = browser_world
    with sync_playwright() as playwright:
        m = MapPage(playwright, chromium, live_server, cookie)
        try:
            m.wait("document.body.dataset.divisions === '2'")
            page = m.page
            assert page.locator("path.division").count() == 2  # Yunyang's two townships (not Fengjie's)
            # Township names, at first sight, apart.
            m.wait("document.body.dataset.labels === '2'")
            labels = m.labels()
            assert sorted(label["text"] for label in labels) == ["双江街道", "青龙街道"]
            assert not overlaps(*labels)
            # The choropleth's legend is the server's classification (the PNG's), and so are the polygons' colours.
            (asked,) = m.asked("/api/v1/coverage/divisions/")
            assert "scheme=fisher_jenks" in asked and "value=coverage" in asked
            collection = m.fetch(asked)
            legend = m.legend()
            assert set(legend) == {"divisions", "points"}  # the layers that are on
            assert legend["divisions"]["title"] == "示范户覆盖率"
            assert_legend_is_the_classification(legend["divisions"], collection["classification"])
            assert_polygons_have_their_class_colour(m, collection)
            # Fitted to two small townships, the view is close: the seven visits are points, and nothing is clustered.
            assert page.evaluate("window.nongjiMap.getZoom()") >= 13
            m.wait("document.querySelectorAll('path.visit-point').length === 7")
            assert page.locator(".cluster").count() == 0
            assert m.asked("/api/v1/coverage/hexagons/") == []  # hexagons and clusters are off
            m.screenshot("web-map-townships")

            # Click-through: the township's figures, under the layer switcher, not over it.
            page.locator("path.division").first.click()
            page.locator("#details").wait_for(state="visible")
            assert "双江街道" in page.locator("#details-title").inner_text()
            cells = page.locator("#details-body td")
            figures = dict(zip(cells.all_inner_texts()[::2], cells.all_inner_texts()[1::2], strict=True))
            assert figures["服务次数"] == "5"
            assert figures["分级"] in [c["label"] for c in collection["classification"]["classes"]]
            assert "division=500235001000" in page.locator("#details-export").get_attribute("href")
            switcher, details = m.rect(".leaflet-control-layers"), m.rect("#details")
            assert details[1] >= switcher[3]  # below it
            m.screenshot("web-map-details")

            # County zoom: no points (the legend says to zoom in), until the counts per cell are turned on.
            m.set_view(30.945, 108.705, 10)
            m.wait("document.querySelectorAll('path.visit-point').length === 0")
            assert "13" in m.legend()["points"]["rows"][0]["label"] + page.locator(".legend-hint").inner_text()
            assert page.locator(".cluster").count() == 0
            m.toggle_layer("H3 六边形")
            m.toggle_layer("服务次数聚合")
            m.wait("document.querySelector('.cluster') && document.querySelector('path.hexagon')")
            assert sum(int(t) for t in page.locator(".cluster").all_inner_texts()) == 7
            hexagons = m.fetch(m.asked("/api/v1/coverage/hexagons/")[-1])
            assert "resolution=7" in m.asked("/api/v1/coverage/hexagons/")[-1]
            legend = m.legend()
            assert set(legend) == {"divisions", "hexagons", "clusters", "points"}
            assert_legend_is_the_classification(legend["hexagons"], hexagons["classification"])
            assert sum(int(r["count"]) for r in legend["hexagons"]["rows"]) == page.locator("path.hexagon").count()
            assert legend["clusters"]["rows"] and legend["points"]["rows"]
            m.screenshot("web-map-all-layers")

            # Village level: the township's figures close, names return when zoomed in.
            page.select_option("select[name=level]", "village")
            m.wait("document.body.dataset.divisions === '3'")
            assert page.locator("#details").is_hidden()
            assert m.labels() == []  # village names only from zoom 12
            m.set_view(30.945, 108.71, 14)
            m.wait("document.body.dataset.labels === '3'")
            assert sorted(label["text"] for label in m.labels()) == ["杏家湾社区", "青龙社区", "黄金包社区"]
            m.wait("document.querySelectorAll('path.visit-point').length === 7")
            legend = m.legend()
            assert "未走访" in [r["label"] for r in legend["divisions"]["rows"]]  # 黄金包社区 had no visit
            m.screenshot("web-map-villages")
            m.check_clean()
        finally:
            m.browser.close()


def test_browser_page_in_english(chromium, browser_world, live_server):
    from playwright.sync_api import sync_playwright

    _, cookie = browser_world
    with sync_playwright() as playwright:
        m = MapPage(playwright, chromium, live_server, cookie, locale="en-US")
        try:
            m.wait("document.body.dataset.labels === '2'")
            assert "Service coverage map" in m.page.locator("h1").inner_text()
            legend = m.legend()
            assert legend["divisions"]["title"] == "Coverage of model households"
            assert legend["points"]["title"] == "Visits"
            overlays = m.page.locator(".leaflet-control-layers-overlays label").all_inner_texts()
            assert [o.strip() for o in overlays] == [
                "Townships / villages (classed)",
                "Names",
                "H3 hexagons (visits)",
                "Visits per cell (counts)",
                "Visit points (from zoom 13)",
            ]
            assert m.page.locator("#status").inner_text() == "2 townships, 7 visits"
            m.screenshot("web-map-english")
            m.check_clean()
        finally:
            m.browser.close()


def test_browser_asks_the_api_for_gcj02_when_drawing_on_amap_tiles(chromium, browser_world, live_server):
    from playwright.sync_api import sync_playwright

    _, cookie = browser_world
    with sync_playwright() as playwright:
        m = MapPage(playwright, chromium, live_server, cookie, "/map/?crs=gcj02")
        try:
            m.wait("document.body.dataset.divisions === '2'")
            collection = m.fetch(m.asked("/api/v1/coverage/divisions/")[0])
            # The fitted view is at close zoom: the seven visits are drawn, in GCJ-02 as well.
            m.wait("document.querySelectorAll('path.visit-point').length === 7")
            west = m.page.evaluate("window.nongjiMap.getBounds().getWest()")
            m.screenshot("web-map-gcj02")
            m.check_clean()
        finally:
            m.browser.close()
    requests = m.requests
    assert all("crs=gcj02" in url for url in requests if "/api/v1/coverage/" in url or "visits.geojson" in url)
    assert any("visits.geojson" in url for url in requests)
    # The townships arrive shifted by the GCJ-02 offset (~500 m here), and the map is fitted to them.
    lons = [x for f in collection["features"] for ring in f["geometry"]["coordinates"] for x, _ in ring]
    expected_west, _ = wgs84_to_gcj02(108.69, 30.92)
    assert min(lons) == pytest.approx(expected_west, abs=1e-5)
    assert min(lons) - 108.69 > 0.003
    assert west < min(lons)
    label_lon = collection["features"][0]["properties"]["label_lon"]
    assert label_lon - 108.71 > 0.003  # the name's point is shifted too


def test_browser_shows_the_demo_county_readably_at_first_sight(chromium, transactional_db, live_server):
    """The real county outline with its 42 townships and a year of visits: every name that is shown stands apart,
    nearly all are shown, and the legend has the PNG's classes with "not visited" and "no households" apart."""
    from playwright.sync_api import sync_playwright

    from agri.models import User

    call_command("seed_demo", verbosity=0)
    cookie = session_cookie(User.objects.get(username="demo-viewer"))
    with sync_playwright() as playwright:
        m = MapPage(playwright, chromium, live_server, cookie)
        try:
            m.wait("document.body.dataset.divisions === '42' && Number(document.body.dataset.labels) > 0")
            labels = m.labels()
            assert len(labels) >= 36
            assert not [(a["text"], b["text"]) for i, a in enumerate(labels) for b in labels[i + 1 :] if overlaps(a, b)]
            box = m.rect("#map")
            assert all(box[0] <= x["left"] and x["right"] <= box[2] and box[1] <= x["top"] for x in labels)
            collection = m.fetch(m.asked("/api/v1/coverage/divisions/")[0])
            legend = m.legend()
            assert_legend_is_the_classification(legend["divisions"], collection["classification"])
            assert_polygons_have_their_class_colour(m, collection)
            rows = [r["label"] for r in legend["divisions"]["rows"]]
            assert len(rows) >= 4 and "未走访" in rows and "无示范户" in rows
            assert m.page.locator(".cluster").count() == 0 and m.page.locator("path.visit-point").count() == 0
            m.screenshot("web-map-demo-county")
            m.page.select_option("select[name=level]", "village")
            m.wait("document.body.dataset.divisions === '478'")
            m.screenshot("web-map-demo-villages")
            m.check_clean()
        finally:
            m.browser.close()
