"""The one table: scenario, database, scale, median and min-max over the runs, the limit measured in the same run,
the ratio to it, the target and whether it was met. Targets are issue 6's."""

import re
from statistics import median

LABELS = {
    "sync_ingest": "batch sync ingest",
    "post_load": "single visit POST under load",
    "post_p99": "single visit POST p99 latency",
    "post_inprocess": "single visit POST, CPU per request",
    "photo_pipeline": "photo pipeline (12 MP JPEG)",
    "coverage_township": "coverage by township (1 year)",
    "coverage_township_scaling": "coverage by township t(large)/t(small)",
    "coverage_county": "coverage by county (1 year)",
    "coverage_hexagons": "hexagons r7 (1 year)",
    "indicators_monthly": "the year month by month (dashboard)",
    "rollup_rows_daily": "daily rollup rows",
    "rollup_rows_monthly": "monthly rollup rows (3 tables)",
    "list_page": "list page (page_size=100)",
    "pull_sync": "pull sync (cursor pages of 1,000)",
    "sync_feed": "sync feed (GET /sync/, pages of 1,000)",
    "export_geojson": "GeoJSON export (streamed)",
    "export_rss": "GeoJSON export peak RSS growth",
    "point_assignment": "point assignment (STRtree)",
    "storage": "storage per visit (with indexes, rollup)",
    "startup": "worker start (setup + URLconf)",
    "list_province": "list first page, province account",
    "list_county": "list first page, county account",
    "list_worker": "list first page, worker",
    "list_expert": "list first page, expert",
    "coverage_township_province": "coverage by township, province (1 year)",
    "coverage_county_province": "coverage by county, province (1 year)",
    "coverage_hexagons_province": "hexagons r7, province (1 year)",
    "coverage_township_county": "coverage by township, county (1 year)",
    "coverage_county_county": "coverage by county, county (1 year)",
    "coverage_hexagons_county": "hexagons r7, county (1 year)",
    "rows_visits": "rows: visits",
    "rows_change_log": "rows: change log",
    "rows_visitrollup": "rows: daily visit rollup",
    "rows_divisionmonth": "rows: monthly division rollup",
    "rows_hexmonth": "rows: monthly hexagon rollup",
    "rows_presencemonth": "rows: monthly presence rows",
}
# The province scale's targets (issue 15): each read at most 50 ms median at 10M visits.
PROVINCE_TARGETS = [
    name
    for name in LABELS
    if name.startswith(("list_", "coverage_")) and name.endswith(("_province", "_county", "_worker", "_expert"))
]


def _with_scaling(labels: dict) -> dict:
    """The labels, each province read followed by its t(10M)/t(1M) row."""
    out = {}
    for name, text in labels.items():
        out[name] = text
        if name in PROVINCE_TARGETS:
            out[f"{name}_scaling"] = f"{text} t(10M)/t(1M)"
    return out


LABELS = _with_scaling(LABELS)
ORDER = list(LABELS)


def scale_label(n: int) -> str:
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n == 0:
        return "-"  # not a data set (worker start)
    if n == 1:
        return "1 photo"
    if n >= 1000 and n % 1000 == 0:
        return f"{n // 1000}k"
    return f"{n:,}"


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit in ("visits/s", "req/s"):
        return f"{value:,.0f}/s"
    if unit == "ms":
        return f"{value:.2f} ms" if value < 10 else f"{value:,.0f} ms"
    if unit == "s":
        return f"{value:.2f} s" if value < 10 else f"{value:.1f} s"
    if unit == "MB":
        return f"{value if value > 0 else 0.0:.1f} MB"  # RSS can end a hair below where it started
    if unit == "B":
        return f"{value:,.0f} B"
    if unit == "rows":
        return f"{value:,.0f}"
    if unit == "x":
        return f"{value:.2f}x"
    if unit == "rows":
        return f"{value:,.0f}"
    return f"{value:g} {unit}"


def judge(r: dict) -> tuple[float | None, str, bool | None]:
    """(ratio, target, met) for one result. Ratios are stated the way the issue states each target."""
    name, values, limit = r["scenario"], r["values"], r["limit"]
    m = median(values) if values else None
    lm = median(limit) if limit else None
    if m is None:
        return None, "-", None
    if name == "sync_ingest":
        ratio = lm / m  # how many times slower than bulk_create
        if r["db"] == "sqlite":
            return ratio, ">=3,000/s; ratio <=5", m >= 3000 and ratio <= 5
        return ratio, "ratio <=5", ratio <= 5
    if name == "post_load":
        ratio = m / lm
        return ratio, "ratio >=0.3", ratio >= 0.3
    if name == "post_p99":
        return m / lm, "p99 <100 ms", m < 100
    if name == "photo_pipeline":
        return m / lm, "ratio <=1.5", m / lm <= 1.5
    if name in ("coverage_township", "coverage_county", "coverage_hexagons", "indicators_monthly"):
        return m / lm, "<=150 ms", m <= 150
    if name == "coverage_township_scaling":
        return None, "<=1.5", m <= 1.5
    if name == "list_page":
        return m / lm, "ratio <=4", m / lm <= 4
    if name in PROVINCE_TARGETS:
        return (m / lm if lm else None), "<=50 ms", m <= 50
    if name.removesuffix("_scaling") in PROVINCE_TARGETS:
        return None, "<=1.3", m <= 1.3
    if name in ("pull_sync", "sync_feed"):
        return lm / m, ">=20,000/s or ratio <=1.5", m >= 20_000 or lm / m <= 1.5
    if name == "export_geojson":
        return m / lm, "ratio <=3", m / lm <= 3
    if name == "export_rss":
        return None, "<100 MB", m < 100
    if name == "point_assignment":
        return m / lm, "ratio <=1.2", m / lm <= 1.2
    return (m / lm if lm else None), "-", None


def _features(note: str) -> int | None:
    """The features a read answered, as the province scenario's note gives them (``..., 924 features``)."""
    found = re.search(r"([\d,]+) features", note)
    return int(found.group(1).replace(",", "")) if found else None


def derived(results: list[dict]) -> list[dict]:
    """Cross-scale rows, per database: the time at the larger scale over the smaller one, for the coverage by
    township and for each of the province's reads (``<scenario>_scaling``)."""
    out = []
    by_key: dict = {}
    for r in results:
        if (r["scenario"] == "coverage_township" or r["scenario"] in PROVINCE_TARGETS) and r["values"]:
            by_key.setdefault((r["scenario"], r["db"]), []).append(r)
    for (scenario, db), rows in by_key.items():
        if len(rows) < 2:
            continue
        rows.sort(key=lambda r: r["scale"])
        small, large = rows[0], rows[-1]
        ratio = median(large["values"]) / median(small["values"])
        note = f"{scale_label(large['scale'])} over {scale_label(small['scale'])}"
        sizes = [_features(r.get("note") or "") for r in (small, large)]
        if all(sizes) and sizes[0] != sizes[1]:
            # An answer that grew (more cells visited) costs more to send: the time per feature tells the two apart.
            grown = sizes[1] / sizes[0]
            note += f"; the answer {sizes[0]:,} -> {sizes[1]:,} features (x{grown:.2f})"
            note += f", per feature x{ratio / grown:.2f}"
        out.append(
            {
                "scenario": f"{scenario}_scaling",
                "db": db,
                "scale": large["scale"],
                "unit": "x",
                "values": [ratio],
                "limit": None,
                "limit_label": "",
                "note": note,
                "extra": {},
            }
        )
    return out


def render(results: list[dict]) -> str:
    rows = results + derived(results)
    rows.sort(key=lambda r: (ORDER.index(r["scenario"]) if r["scenario"] in ORDER else 99, r["db"], r["scale"]))
    header = ["scenario", "db", "scale", "median", "min-max", "limit (median)", "ratio", "target", "result"]
    table = [header]
    notes = []
    for r in rows:
        unit, values = r["unit"], r["values"]
        ratio, target, met = judge(r)
        if values:
            span = f"{fmt(min(values), unit)} - {fmt(max(values), unit)}" if len(values) > 1 else "-"
            limit = fmt(median(r["limit"]), unit) if r["limit"] else "-"
            result = "met" if met else ("MISSED" if met is False else "-")
            cells = [fmt(median(values), unit), span, limit, f"{ratio:.2f}" if ratio is not None else "-"]
        else:
            cells, target, result = ["-", "-", "-", "-"], "-", r["note"] or "not run"
        label = LABELS.get(r["scenario"], r["scenario"])
        table.append([label, r["db"], scale_label(r["scale"]), *cells, target, result])
        if values:
            load = r.get("extra", {}).get("load")
            note = "; ".join(x for x in (r["note"], f"load average {load[0]}-{load[1]}" if load else "") if x)
            notes.append(f"- {label} ({r['db']}, {scale_label(r['scale'])}): {note}")
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    lines = [" | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in table]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    runs = max((len(r["values"]) for r in results if r["unit"] != "x"), default=0)
    lines.append("")
    lines.append(f"median and min-max over {runs} runs; limit = the physical limit measured in the same runs.")
    lines.extend(notes)
    return "\n".join(lines)


def render_markdown(results: list[dict]) -> str:
    """The same table as Markdown (for docs/performance.md)."""
    text = render(results).splitlines()
    table_lines = [line for line in text if " | " in line]
    md = []
    for i, line in enumerate(table_lines):
        cells = [c.strip() for c in line.split(" | ")]
        md.append("| " + " | ".join(cells) + " |")
        if i == 0:
            md.append("|" + "---|" * len(cells))
    return "\n".join(md)
