"""Divisions for the demo, from the real data bundled in ``geo/data``.

Yunyang County (云阳县): the county outline is real (DataV.GeoAtlas, GCJ-02, converted here to WGS-84); the 42
township and 478 village names and codes are the official statistical ones. Township and village *boundaries* are
not public, so they are synthesised: a Voronoi partition of the real outline, relaxed to even sizes, clipped to it and
flagged ``boundary_synthetic``.

Other Chongqing districts and counties (``seed_demo --counties N``): the outline is real (DataV.GeoAtlas's simplified
province map), but their townships and villages are invented: numbered names, codes and Voronoi cells, flagged
``fictional`` as well as ``boundary_synthetic``.
"""

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import shape

from geo.codes import Level, full_code
from geo.crs import gcj02_to_wgs84, transform_geometry
from geo.geometry import random_points_in, voronoi_partition
from geo.services import DivisionRow

DATA_DIR = Path(__file__).resolve().parent / "data"
COUNTY_CODE = "500235000000"
SEED = 500235
PROVINCE_CODE = "500000000000"
# Chongqing's statistical "cities": 5001 its districts (市辖区), 5002 its counties (县).
CITY_NAMES = {"5001": "市辖区", "5002": "县"}


def county_outline_wgs84():
    """The real county boundary, converted from GCJ-02 to WGS-84."""
    with open(DATA_DIR / "yunyang_county_500235_gcj02.geojson", encoding="utf-8") as fh:
        feature = json.load(fh)["features"][0]
    return shapely.make_valid(transform_geometry(shape(feature["geometry"]), gcj02_to_wgs84))


def township_records() -> list[dict]:
    with open(DATA_DIR / "yunyang_townships.csv", encoding="utf-8") as fh:
        return [{"code": full_code(r["code"]), "name": r["name"]} for r in csv.DictReader(fh)]


def village_records() -> list[dict]:
    with open(DATA_DIR / "yunyang_villages_2021.csv", encoding="utf-8") as fh:
        return [
            {"code": r["village_code"], "name": r["village_name"], "township": full_code(r["township_code"])}
            for r in csv.DictReader(fh)
        ]


def yunyang_divisions(progress=None) -> list[DivisionRow]:
    """All division rows for the demo: province, city group, county, 42 townships, 478 villages."""
    rng = np.random.default_rng(SEED)
    outline = county_outline_wgs84()
    rows = [
        DivisionRow(PROVINCE_CODE, "重庆市", Level.PROVINCE),
        DivisionRow("500200000000", "县", Level.CITY, PROVINCE_CODE),
        DivisionRow(COUNTY_CODE, "云阳县", Level.COUNTY, "500200000000", outline),
    ]
    townships = township_records()
    seeds = random_points_in(outline, len(townships), rng)
    cells, _ = voronoi_partition(outline, seeds, relax=6)
    villages_by_township: dict[str, list[dict]] = {}
    for village in village_records():
        villages_by_township.setdefault(village["township"], []).append(village)
    for township, cell in zip(townships, cells, strict=True):
        rows.append(DivisionRow(township["code"], township["name"], Level.TOWNSHIP, COUNTY_CODE, cell, True))
        villages = villages_by_township.get(township["code"], [])
        if villages:
            village_seeds = random_points_in(cell, len(villages), rng)
            village_cells, _ = voronoi_partition(cell, village_seeds, relax=2)
            for village, village_cell in zip(villages, village_cells, strict=True):
                rows.append(
                    DivisionRow(village["code"], village["name"], Level.VILLAGE, township["code"], village_cell, True)
                )
        if progress:
            progress(1)
    return rows


@dataclass(frozen=True)
class District:
    """A district or county of Chongqing other than Yunyang, with its real outline (WGS-84)."""

    code: str  # 12 digits
    name: str
    outline: object


def other_districts(limit: int | None = None) -> list[District]:
    """Chongqing's districts and counties but Yunyang, nearest to Yunyang first (so that the first few are its
    neighbours, in both of Chongqing's "cities"), from the simplified province map converted to WGS-84.

    The simplified outlines overlap the detailed Yunyang outline (and each other) by slivers: each outline here is
    what is left of it once those stored before it are taken away, so no point lies in two counties.
    """
    with open(DATA_DIR / "chongqing_districts_500000_gcj02.geojson", encoding="utf-8") as fh:
        features = json.load(fh)["features"]
    yunyang = county_outline_wgs84()
    centre = yunyang.centroid
    districts = []
    for feature in features:
        code = full_code(str(feature["properties"]["adcode"]))
        if code == COUNTY_CODE:
            continue
        outline = shapely.make_valid(transform_geometry(shape(feature["geometry"]), gcj02_to_wgs84))
        districts.append((outline.centroid.distance(centre), code, feature["properties"]["name"], outline))
    districts.sort(key=lambda d: (d[0], d[1]))
    taken = yunyang
    out = []
    for _distance, code, name, outline in districts[:limit]:
        own = shapely.make_valid(outline.difference(taken))
        own = shapely.union_all([p for p in shapely.get_parts(own) if p.geom_type == "Polygon"])
        taken = shapely.union(taken, own)
        out.append(District(code, name, own))
    return out


def synthetic_county_divisions(district: District, townships: int, villages: int) -> list[DivisionRow]:
    """The city above ``district``, the district with its real outline, and ``townships`` invented townships of
    ``villages`` invented villages each: numbered names (``万州区模拟01镇``, ``…01村``), codes 001…, Voronoi cells
    of the outline. Deterministic for a district."""
    rng = np.random.default_rng(int(district.code[:6]))
    city = full_code(district.code[:4])
    prefix = district.code[:6]
    rows = [
        DivisionRow(city, CITY_NAMES.get(district.code[:4], district.code[:4]), Level.CITY, PROVINCE_CODE),
        DivisionRow(district.code, district.name, Level.COUNTY, city, district.outline),
    ]
    seeds = random_points_in(district.outline, townships, rng)
    cells, _ = voronoi_partition(district.outline, seeds, relax=3)
    for t, cell in enumerate(cells, start=1):
        township_code = full_code(f"{prefix}{t:03d}")
        township_name = f"{district.name}模拟{t:02d}镇"
        rows.append(DivisionRow(township_code, township_name, Level.TOWNSHIP, district.code, cell, True, True))
        village_seeds = random_points_in(cell, villages, rng)
        village_cells, _ = voronoi_partition(cell, village_seeds, relax=1)
        for v, village_cell in enumerate(village_cells, start=1):
            rows.append(
                DivisionRow(
                    f"{prefix}{t:03d}{v:03d}",
                    f"{township_name}{v:02d}村",
                    Level.VILLAGE,
                    township_code,
                    village_cell,
                    True,
                    True,
                )
            )
    return rows
