"""What README.md and docs/ say about the demo is what ``seed_demo`` makes: its counts, and the codes the examples
use (the demo worker's township), read from the documents and checked against a seeded demo."""

import re
from collections import Counter
from pathlib import Path

from agri.models import ModelHousehold, Visit
from geo.models import AdminDivision
from tests.support import demo_client

ROOT = Path(__file__).resolve().parents[3]


def number(text: str) -> int:
    return int(text.replace(",", ""))


def stated(path: str, pattern: str) -> list[tuple[str, ...]]:
    # Line breaks are where the text wraps: read them as spaces.
    text = re.sub(r"\s+", " ", (ROOT / path).read_text(encoding="utf-8"))
    found = re.findall(pattern, text, flags=re.DOTALL)
    assert found, f"{path} no longer says {pattern!r}: update this test with the text"
    return [group if isinstance(group, tuple) else (group,) for group in found]


def test_the_docs_state_the_seeded_demos_figures_and_codes(demo_county):
    visits, households = Visit.objects.count(), ModelHousehold.objects.count()
    for (n,) in stated("docs/api.md", r"the demo's ([\d,]+) visits"):
        assert number(n) == visits
    for n_visits, n_households in stated(
        "docs/reliability.md", r"`seed_demo` \(([\d,]+) visits, ([\d,]+) households\)"
    ):
        assert (number(n_visits), number(n_households)) == (visits, households)
    (townships, villages), *_ = stated("docs/api.md", r"the ([\d,]+) townships take [^,]+, the ([\d,]+) villages")
    assert number(townships) == AdminDivision.objects.filter(level="township").count()
    assert number(villages) == AdminDivision.objects.filter(level="village").count()

    # The README's tour: the demo worker's jurisdiction, the villages under it, and its first sync's records.
    worker = demo_client("demo-worker")
    jurisdiction = worker.get("/api/v1/me/").json()["jurisdiction"]
    ((code,),) = stated("README.md", r'divisions/\?parent=([0-9]+)"')
    assert code == jurisdiction
    assert worker.get("/api/v1/divisions/", {"parent": code}).json()["count"] > 0
    items, url = Counter(), "/api/v1/sync/?page_size=500"
    while url:
        body = worker.get(url).json()
        items.update(item["type"] for item in body["results"])
        url = body["next"]
    ((total, listed),) = stated("README.md", r"pages of 500\): ([\d,]+)\s+records \(([^)]*)\)")
    words = {"industries": "industry", "divisions": "division", "base": "base", "households": "household"}
    words |= {"farmers": "farmer", "visits": "visit"}
    said = {words[m[1]]: number(m[0]) for m in re.findall(r"(\d[\d,]*) (\w+)", listed)}
    assert said == dict(items) and number(total) == items.total()
