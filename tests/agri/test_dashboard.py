"""The bureau's plan dashboard (/dashboard/): session login and roles, the page in Chinese and English, each piece's
export, query counts, and a real headless Chromium drawing it (Debian's, through the ``chromium`` fixture: skipped
without it unless ``REQUIRE_BROWSER=1``). As in the web-map test, every database read and write happens before the
browser starts."""

import json
import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from PIL import Image

from tests import factories as f
from tests.agri.map_support import artifacts_dir, map_world, open_page, push, visit
from tests.support import build_world, login

STATUS_ZH = {"under": "未达标", "met": "达标", "over": "超出"}


def page_config(response) -> dict:
    match = re.search(
        r'<script id="dashboard-config" type="application/json">(.*?)</script>', response.content.decode()
    )
    return json.loads(match.group(1))


def at(year: int, month: int, day: int, hour: int = 10) -> str:
    return f"{year}-{month:02d}-{day:02d}T{hour:02d}:00:00+08:00"


def push_last_year(world, clients) -> int:
    """Last year's visits: H1 (双江街道) three times and H2 (青龙街道) once, a training by W1 in a village of 双江街道,
    a new variety, and a training by the commissioner at base B1. H3 (双江街道) had none: 青龙街道 covers all its
    households, 双江街道 half. Returns the year."""
    year = timezone.localdate().year - 1
    h2 = {"household": str(world["H2"].pk), "lat": 30.93}
    push(
        clients["worker"],
        [
            visit(world, started_at=at(year, 3, 2), ended_at=None),
            visit(world, kind="diagnosis", started_at=at(year, 3, 20), ended_at=None),
            visit(world, kind="new_variety", introduced=["沃柑"], started_at=at(year, 5, 6), ended_at=None),
            visit(
                world,
                kind="training",
                participants=30,
                household=None,
                village="500235001003",
                started_at=at(year, 6, 9),
                ended_at=None,
            ),
        ],
    )
    push(clients["worker2"], [visit(world, started_at=at(year, 4, 15), ended_at=None, **h2)])
    push(
        clients["commissioner"],
        [
            visit(
                world,
                kind="training",
                participants=12,
                household=None,
                base=world["B1"].pk,
                started_at=at(year, 7, 8),
                ended_at=None,
            )
        ],
    )
    return year


# --- the page, without a browser ------------------------------------------------------------------


def test_anonymous_visitor_is_sent_to_login(db, client):
    response = client.get("/dashboard/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/dashboard/"


@pytest.mark.parametrize("role", ["worker", "expert", "commissioner", "station"])
def test_field_roles_get_403(world, client, role):
    client.force_login(world.users[role])
    assert client.get("/dashboard/").status_code == 403


def test_page_in_chinese_with_packaged_plotly_and_the_year_asked(world, client):
    client.force_login(world.users["viewer"])
    response = client.get("/dashboard/")
    assert response.status_code == 200
    html = response.content.decode()
    assert '<html lang="zh-hans">' in html
    assert "专栏3 指标完成情况" in html and "各乡镇示范户走访覆盖率" in html and "近 90 天无服务" in html
    assert 'href="/map/"' in html
    scripts = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', html)
    assert "/static/plotly/plotly.min.js" in scripts and "/static/agri/dashboard.js" in scripts
    assert [s for s in scripts if re.match(r"^(https?:)?//", s)] == []  # no CDN
    for asset in ("/static/plotly/plotly.min.js", "/static/agri/dashboard.js", "/static/agri/dashboard.css"):
        assert b"".join(client.get(asset).streaming_content)
    config = page_config(response)
    year = timezone.localdate().year
    assert config["year"] == year and config["language"] == "zh-hans"
    assert config["api"]["indicators"] == f"/api/v1/indicators/?year={year}"
    assert config["api"]["monthly"] == f"/api/v1/indicators/monthly/?year={year}"
    assert config["text"]["status"] == {"under": "未达标", "met": "达标", "over": "超出"}

    assert page_config(client.get("/dashboard/?year=2023"))["year"] == 2023
    for wrong in ("abc", "1990", str(year + 1)):
        assert page_config(client.get("/dashboard/", {"year": wrong}))["year"] == year


def test_page_in_english_for_an_english_browser(world, client):
    client.force_login(world.users["admin"])
    response = client.get("/dashboard/", HTTP_ACCEPT_LANGUAGE="en")
    html = response.content.decode()
    assert '<html lang="en">' in html
    assert "The plan's indicators (专栏3) against their targets" in html and "No visit in the last 90 days" in html
    config = page_config(response)
    assert config["language"] == "en"
    assert config["text"]["status"] == {"under": "under", "met": "met", "over": "over"}


def test_every_piece_links_an_export_that_downloads(world, client):
    """The page's export links, followed with the page's own session: each answers its file."""
    client.force_login(world.users["admin"])
    html = client.get("/dashboard/?year=2024").content.decode()
    links = [href.replace("&amp;", "&") for href in re.findall(r'<p class="exports">.*?</p>', html, re.S)]
    hrefs = sorted({h for block in links for h in re.findall(r'href="([^"]+)"', block)})
    expected_types = {
        "/api/v1/indicators/?year=2024&format=xlsx": "spreadsheetml",
        "/api/v1/indicators/?year=2024&format=csv": "text/csv",
        "/api/v1/indicators/monthly/?year=2024&format=xlsx": "spreadsheetml",
        "/api/v1/indicators/monthly/?year=2024&format=csv": "text/csv",
        "/api/v1/exports/coverage/?format=gpkg&level=township&date_from=2024-01-01&date_to=2024-12-31": "geopackage",
        "/api/v1/exports/coverage/?format=geojson&level=township&date_from=2024-01-01&date_to=2024-12-31": "geo+json",
        "/api/v1/coverage/map.png?level=township&date_from=2024-01-01&date_to=2024-12-31": "image/png",
        "/api/v1/coverage/gaps/?days=90&format=geojson": "geo+json",
        "/api/v1/coverage/gaps/?days=90&format=xlsx": "spreadsheetml",
        "/api/v1/coverage/gaps/?days=90&format=csv": "text/csv",
    }
    assert hrefs == sorted(expected_types)


@pytest.mark.parametrize("href, content_type", [
    ("/api/v1/indicators/?year=2024&format=xlsx", "spreadsheetml"),
    ("/api/v1/indicators/monthly/?year=2024&format=csv", "text/csv"),
    ("/api/v1/exports/coverage/?format=geojson&level=township&date_from=2024-01-01&date_to=2024-12-31", "geo+json"),
    ("/api/v1/coverage/gaps/?days=90&format=geojson", "geo+json"),
    ("/api/v1/coverage/gaps/?days=90&format=csv", "text/csv"),
])  # fmt: skip
def test_export_links_answer_files_to_the_session(mapped_world, client, href, content_type):
    client.force_login(mapped_world.users["viewer"])
    response = client.get(href)
    assert response.status_code == 200, response.content
    assert content_type in response["Content-Type"]


@pytest.mark.parametrize("n_visits", [10, 300])
def test_page_and_its_data_query_counts_do_not_depend_on_the_number_of_visits(
    mapped_world, clients, n_visits, django_assert_num_queries
):
    started = (timezone.localtime() - timedelta(hours=3)).isoformat()
    push(clients["worker"], [visit(mapped_world, started_at=started) for _ in range(n_visits)])
    client = Client()
    client.force_login(mapped_world.users["admin"])
    with django_assert_num_queries(3):  # session, user, the jurisdiction's name
        response = client.get("/dashboard/")
    assert response.status_code == 200
    api = page_config(response)["api"]
    # Each data request the page makes, with the session: its selector's queries plus the session and the user.
    # The coverage map (this year, whole months) reads the monthly tables: one query more than the daily rollup.
    budgets = {"indicators": 2 + 32, "monthly": 2 + 4, "coverage": 2 + 4, "gaps": 2 + 2}
    bodies = {}
    for name, queries in budgets.items():
        with django_assert_num_queries(queries):
            answer = client.get(api[name])
        assert answer.status_code == 200, (name, answer.content)
        bodies[name] = answer.json()
    assert bodies["monthly"]["total"]["visits"] == n_visits
    assert sum(ft["properties"]["visits"] for ft in bodies["coverage"]["features"]) == n_visits


# --- a real browser -----------------------------------------------------------------------------------

WAIT_MS = 90_000  # generous: CI runs Chromium, the live server and the suite on two cores


@pytest.fixture
def dashboard_world(transactional_db, settings):
    """The world with township and village boxes, last year's visits, a bureau admin's session cookie, and what the
    API says for last year (read before the browser starts). Bases may number one at most: the county's two are
    "over"."""
    settings.NETWORK_TARGETS = {**settings.NETWORK_TARGETS, "bases_min": 1, "bases_max": 1}
    world = map_world(build_world())
    year = push_last_year(world, {name: login(world.users[name]) for name in ("worker", "worker2", "commissioner")})
    session = Client()
    session.force_login(world.users["admin"])
    indicators = session.get("/api/v1/indicators/", {"year": year}).json()["indicators"]
    return {"year": year, "cookie": session.cookies[settings.SESSION_COOKIE_NAME].value, "indicators": indicators}


def bars_top_to_bottom(page, chart: str) -> list[tuple[str, float]]:
    """The horizontal bars of a chart as drawn: (label on the axis, bar width in pixels), from the top down."""
    ticks = page.eval_on_selector_all(
        f"#{chart} .yaxislayer-above .ytick text",
        "els => els.map(e => [e.textContent, e.getBoundingClientRect().top + e.getBoundingClientRect().height / 2])",
    )
    bars = page.eval_on_selector_all(
        f"#{chart} .barlayer .point path",
        "els => els.map(e => [e.getBoundingClientRect().top + e.getBoundingClientRect().height / 2,"
        " e.getBoundingClientRect().width])",
    )
    labels = [name for name, _ in sorted(ticks, key=lambda t: t[1])]
    widths = [width for _, width in sorted(bars)]
    assert len(labels) == len(widths)
    return list(zip(labels, widths, strict=True))


def open_dashboard(playwright, chromium, live_server, world, locale):
    browser, page, log = open_page(
        playwright,
        chromium,
        live_server,
        world["cookie"],
        f"/dashboard/?year={world['year']}",
        viewport=(1400, 900),
        locale=locale,
    )
    page.wait_for_function("document.body.dataset.ready", timeout=WAIT_MS)
    return browser, page, log


def test_browser_shows_the_indicators_charts_sorted_townships_and_gaps(
    chromium, dashboard_world, live_server, tmp_path
):
    from playwright.sync_api import sync_playwright

    world = dashboard_world
    year = world["year"]
    expected = {i["code"]: i for i in world["indicators"]}
    shot = artifacts_dir() / "dashboard-zh.png"
    shot.unlink(missing_ok=True)
    with sync_playwright() as playwright:
        browser, page, log = open_dashboard(playwright, chromium, live_server, world, "zh-CN")
        try:
            assert page.evaluate("document.body.dataset.ready") == "true"
            assert page.locator("#status").inner_text() == f"{year} 年数据，截至 {timezone.localdate().isoformat()}。"
            # The indicators, in the plan's words, with their states.
            rows = page.locator("#indicator-table tbody tr")
            assert rows.count() == 13
            shown = {}
            for i in range(13):
                row = rows.nth(i)
                cells = row.locator("td").all_inner_texts()
                shown[row.get_attribute("data-code")] = (cells[0], cells[3])
            for code, indicator in expected.items():
                name, state = shown[code]
                assert name.startswith(indicator["name"])
                assert state == STATUS_ZH.get(indicator["status"], "—")
            assert shown["bases"][1] == "超出"  # two bases, one at most
            assert shown["field_schools"][1] == "达标"  # one school per base
            assert shown["village_visits"][1] == "未达标"  # six visits against 360
            assert shown["training_attendance"][1] == "—"  # no target
            # The chart of each indicator's share of its target: one bar per indicator with a target.
            with_target = [i for i in expected.values() if i["target"] and i["value"] is not None]
            assert page.locator("#indicator-chart .barlayer .point path").count() == len(with_target)

            # Month by month: visits and trainings bars for twelve months, the running total and the target.
            assert page.locator("#trend-chart .barlayer .trace").count() == 2
            assert page.locator("#trend-chart .barlayer .point path").count() == 2 * 12
            assert page.locator("#trend-chart .scatterlayer .trace").count() == 2
            assert page.locator("#trend-chart .xtick text").all_text_contents()[:3] == ["1月", "2月", "3月"]
            assert page.locator("#people-chart .scatterlayer .trace").count() == 2
            assert page.locator("#workers-active").inner_text() == "2 / 3"  # W1, W2 of W1-W3
            assert page.locator("#commissioners-active").inner_text().startswith("1 / 2（目标 ≥ 40）")

            # Coverage by township, best first: 青龙街道 visited its one household, 双江街道 one of two.
            bars = bars_top_to_bottom(page, "coverage-chart")
            assert [name for name, _ in bars] == ["青龙街道", "双江街道"]
            assert bars[0][1] == pytest.approx(2 * bars[1][1], rel=0.02)
            assert page.locator("#coverage-chart .barlayer .point text").all_text_contents() == ["100%", "50%"]

            # Nothing was visited in the last 90 days: the three households and Yunyang's three villages.
            assert page.locator("#gap-households-count").inner_text() == "(3)"
            assert page.locator("#gap-villages-count").inner_text() == "(3)"
            villages = page.locator("#gap-villages tbody tr td:first-child").all_inner_texts()
            assert sorted(villages) == sorted(["杏家湾社区", "黄金包社区", "青龙社区"])
            assert "双江街道" in page.locator("#gap-villages tbody").inner_text()  # township names from coverage

            # Each piece has its export links.
            assert page.locator("section .exports a").count() == 2 + 2 + 2 + 3 + 3
            page.screenshot(path=str(shot))
        finally:
            browser.close()
    assert Image.open(shot).size == (1400, 900)
    assert log.outside == [] and all(url.startswith(live_server.url) for url in log.requests)
    assert f"{live_server.url}/static/plotly/plotly.min.js" in log.requests
    for path in (
        f"/api/v1/indicators/?year={year}",
        f"/api/v1/indicators/monthly/?year={year}",
        f"/api/v1/coverage/divisions/?level=township&date_from={year}-01-01&date_to={year}-12-31",
        "/api/v1/coverage/gaps/?days=90",
    ):
        assert live_server.url + path in log.requests
    assert log.console_errors == [] and log.page_errors == []


def test_browser_shows_english_to_an_english_browser(chromium, dashboard_world, live_server):
    from playwright.sync_api import sync_playwright

    world = dashboard_world
    shot = artifacts_dir() / "dashboard-en.png"
    shot.unlink(missing_ok=True)
    with sync_playwright() as playwright:
        browser, page, log = open_dashboard(playwright, chromium, live_server, world, "en-US")
        try:
            assert page.evaluate("document.body.dataset.ready") == "true"
            assert "Extension plan dashboard" in page.locator("h1").inner_text()
            row = page.locator("#indicator-table tbody tr[data-code=bases]")
            assert row.locator("td").all_inner_texts()[0] == "Demonstration bases"
            assert row.locator(".status").inner_text() == "over"
            assert page.locator("#trend-chart .xtick text").all_text_contents()[:3] == ["Jan", "Feb", "Mar"]
            assert [name for name, _ in bars_top_to_bottom(page, "coverage-chart")] == ["青龙街道", "双江街道"]
            page.screenshot(path=str(shot))
        finally:
            browser.close()
    assert Image.open(shot).size == (1400, 900)
    assert log.outside == [] and log.console_errors == [] and log.page_errors == []


def test_login_form_leads_to_the_dashboard(world, client):
    response = client.post("/accounts/login/", {"username": "viewer", "password": f.PASSWORD, "next": "/dashboard/"})
    assert response.status_code == 302 and response["Location"] == "/dashboard/"
    assert client.get("/dashboard/").status_code == 200
