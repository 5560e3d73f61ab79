"""The documentation's links: every relative link in README.md and docs/*.md leads to a file of the repository, and
every anchor into a Markdown file to one of its headings.

`make docs` (MkDocs, strict) checks the links inside docs/ as the site renders them; README.md is not part of the
site, so this test checks both as GitHub renders them: heading anchors are GitHub's slugs, which mkdocs.yml's
``toc.slugify`` (pymdownx.slugs, lowercase) reproduces for the site.
"""

import re
import unicodedata
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("**/*.md"))]
README_MAX_LINES = 200
EXTERNAL_SCHEMES = ("http", "https", "mailto")

FENCE = re.compile(r"^ *(`{3,}|~{3,})")
ATX_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
SETEXT_UNDERLINE = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
CODE_SPAN = re.compile(r"(`+)(.+?)(?<!`)\1(?!`)", re.DOTALL)
# [text](destination "title") and ![alt](destination): text may hold one level of brackets; the destination is
# <anything but >> or has no spaces.
INLINE_LINK = re.compile(
    r"!?\[((?:[^\[\]\\]|\\.|\[[^\[\]]*\])*)\]"  # [text]
    r"\(\s*(<[^<>\n]*>|[^\s()<>]+)(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)"  # (destination "title")
)
REFERENCE_DEFINITION = re.compile(r"^ {0,3}\[[^\]]+\]:\s*(<[^<>\n]*>|\S+)")
HTML_ANCHOR = re.compile(r"<a\s[^>]*\b(?:name|id)=[\"']([^\"']+)[\"']", re.IGNORECASE)
HTML_TAG = re.compile(r"<[^>]+>")
# The categories that GitHub keeps in a heading's anchor (Ruby's \p{Word}): letters, marks, decimal and letter
# numbers, connector punctuation. Everything else but "-" and " " is dropped; CJK characters are letters (Lo).
SLUG_CATEGORIES = {"Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd", "Nl", "Pc"}


def github_slug(text: str) -> str:
    """The anchor GitHub gives a heading whose rendered text is ``text``: lowercase, punctuation and symbols
    dropped (except "-" and "_"), each space a "-"."""
    kept = (ch for ch in text.strip().lower() if ch in "- " or unicodedata.category(ch) in SLUG_CATEGORIES)
    return "".join(kept).replace(" ", "-")


def heading_text(markdown: str) -> str:
    """The rendered text of a heading's inline Markdown: code spans keep their content verbatim; links and images
    give their text; emphasis markers and HTML tags go."""
    parts = []
    last = 0
    for match in CODE_SPAN.finditer(markdown):
        parts.append(_plain_inline(markdown[last : match.start()]))
        parts.append(match.group(2).strip() if match.group(2).strip() else match.group(2))
        last = match.end()
    parts.append(_plain_inline(markdown[last:]))
    return "".join(parts)


def _plain_inline(text: str) -> str:
    text = INLINE_LINK.sub(lambda m: m.group(1), text)
    text = HTML_TAG.sub("", text)
    text = re.sub(r"\*+|~~", "", text)
    text = re.sub(r"(?<!\w)_+|_+(?!\w)", "", text)  # "_" delimits emphasis only at a word's edge
    return re.sub(r"\\(.)", r"\1", text)


def prose_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) of everything outside fenced code blocks."""
    out = []
    fence = None  # the opening fence of the code block we are in
    for number, line in enumerate(text.splitlines(), start=1):
        if fence is None:
            match = FENCE.match(line)
            if match:
                fence = match.group(1)
            else:
                out.append((number, line))
        elif set(line.strip()) == {fence[0]} and len(line.strip()) >= len(fence):
            fence = None
    return out


def anchors(path: Path) -> set[str]:
    """Every anchor GitHub gives the headings of a Markdown file (repeats get -1, -2, ...), and explicit HTML ones."""
    found: set[str] = set()
    seen: dict[str, int] = {}
    lines = prose_lines(path.read_text(encoding="utf-8"))
    for index, (number, line) in enumerate(lines):
        found.update(HTML_ANCHOR.findall(line))
        match = ATX_HEADING.match(line)
        title = (match.group(2) or "") if match else None
        if title is None and index + 1 < len(lines):
            next_number, next_line = lines[index + 1]
            if (
                next_number == number + 1
                and SETEXT_UNDERLINE.match(next_line)
                and line.strip()
                and not re.match(r"^ {0,3}([-*+]|\d+[.)])\s|^ {0,3}\|", line)
            ):
                title = line
        if title is None:
            continue
        slug = github_slug(heading_text(title))
        if slug in seen:
            seen[slug] += 1
            slug = f"{slug}-{seen[slug]}"
        else:
            seen[slug] = 0
        found.add(slug)
    return found


def links(path: Path) -> list[tuple[int, str]]:
    """(line number, destination) of every Markdown link and image outside code blocks and code spans."""
    out = []
    for number, line in prose_lines(path.read_text(encoding="utf-8")):
        line = CODE_SPAN.sub(lambda m: " " * len(m.group(0)), line)
        destinations = [m.group(2) for m in INLINE_LINK.finditer(line)]
        destinations += REFERENCE_DEFINITION.findall(line)
        out += [(number, d[1:-1] if d.startswith("<") else d) for d in destinations]
    return out


def link_problem(source: Path, destination: str, anchor_cache: dict) -> str | None:
    """Why ``destination``, written in ``source``, leads nowhere; None when it resolves."""
    parts = urlsplit(destination)
    if parts.scheme:
        return None if parts.scheme in EXTERNAL_SCHEMES else f"unexpected scheme {parts.scheme!r}"
    if parts.netloc:
        return "a link to another host without a scheme"
    path = unquote(parts.path)
    if not path:
        target = source
    elif path.startswith("/"):
        target = (ROOT / path.lstrip("/")).resolve()
    else:
        target = (source.parent / path).resolve()
    if not target.is_relative_to(ROOT):
        return f"{target} is outside the repository"
    if not target.exists():
        return f"{target.relative_to(ROOT)} does not exist"
    fragment = unquote(parts.fragment)
    if fragment and target.is_file() and target.suffix == ".md":
        if target not in anchor_cache:
            anchor_cache[target] = anchors(target)
        if fragment not in anchor_cache[target]:
            return f"{target.relative_to(ROOT)} has no heading with the anchor #{fragment}"
    return None


@pytest.mark.parametrize("path", DOC_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(path):
    cache: dict = {}
    found = links(path)
    problems = [
        f"{path.relative_to(ROOT)}:{number}: ({destination}) {problem}"
        for number, destination in found
        if (problem := link_problem(path, destination, cache))
    ]
    assert not problems, "broken links:\n" + "\n".join(problems)


def test_readme_is_short():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) < README_MAX_LINES, f"README.md has {len(lines)} lines: move the detail into docs/"


def test_docs_have_links_to_check():
    """The parser finds the links it is meant to check (a regex that matches nothing would pass everything)."""
    readme = links(ROOT / "README.md")
    assert "docs/api.md" in [destination for _, destination in readme]
    assert len(readme) >= 5


@pytest.mark.parametrize(
    ("heading", "slug"),
    [
        ("Two commands", "two-commands"),
        ("Coverage, gaps and the plan's indicators", "coverage-gaps-and-the-plans-indicators"),
        ("Personal data (PIPL)", "personal-data-pipl"),
        ("The web map's browser test", "the-web-maps-browser-test"),
        ("`make` targets", "make-targets"),
        ("`PHOTO_ROOT` and `__init__.py`", "photo_root-and-__init__py"),
        ("A visit, from sync to rollup", "a-visit-from-sync-to-rollup"),
        ("Nongji 农技", "nongji-农技"),
        ("数据来源：云阳县（重庆）", "数据来源云阳县重庆"),
        ("Re-run at 1M on a quiet machine", "re-run-at-1m-on-a-quiet-machine"),
        ("Targets: met, or why not", "targets-met-or-why-not"),
        ("A — B", "a--b"),
        ("**Bold** and _emphasis_ in [a link](x.md)", "bold-and-emphasis-in-a-link"),
        ("x² ½", "x-"),
        ("Ünïcode Straße", "ünïcode-straße"),
    ],
)
def test_github_slug(heading, slug):
    assert github_slug(heading_text(heading)) == slug


def test_repeated_headings_are_numbered(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Notes\n\n## Notes\n\n```sh\n# Notes\n```\n\nSetext\n------\n\n## Notes\n", encoding="utf-8")
    assert anchors(page) == {"notes", "notes-1", "notes-2", "setext"}


# A division code in an example's query string: the examples run against the demo (`make run`), so each names one of
# its divisions, as a 12-digit code or a jurisdiction's significant digits (500235124 for 鱼泉镇).
DIVISION_PARAMETER = re.compile(r"\b(division|parent|within|village_code)=\"?([0-9]+)")


def demo_division_codes() -> set[str]:
    from geo.demo import COUNTY_CODE, township_records, village_records

    return {"500000000000", "500200000000", COUNTY_CODE} | {r["code"] for r in township_records() + village_records()}


def test_the_examples_division_codes_are_divisions_of_the_demo():
    from geo.codes import JURISDICTION_LENGTHS, full_code

    known = demo_division_codes()
    found, wrong = [], []
    for path in DOC_FILES:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            for name, code in DIVISION_PARAMETER.findall(line):
                found.append(code)
                if len(code) not in JURISDICTION_LENGTHS or full_code(code) not in known:
                    wrong.append(f"{path.relative_to(ROOT)}:{number}: {name}={code}")
    assert len(found) >= 3  # the photo and household exports, the divisions list
    assert wrong == []
