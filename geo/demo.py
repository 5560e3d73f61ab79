"""Yunyang County (云阳县) divisions for the demo, from the real data bundled in ``geo/data``.

The county outline is real (DataV.GeoAtlas, GCJ-02, converted here to WGS-84); the 42 township
and 478 village names and codes are the official statistical ones. Township and village
*boundaries* are not public, so they are synthesised: a Voronoi partition of the real outline,
relaxed to even sizes, clipped to it and flagged ``boundary_synthetic``.
"""

import csv
import json
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
        DivisionRow("500000000000", "重庆市", Level.PROVINCE),
        DivisionRow("500200000000", "县", Level.CITY, "500000000000"),
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
