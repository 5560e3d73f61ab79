"""geo.exports: every format read back with pyogrio gives the rows, types and Chinese text that went in."""

import json
import tempfile
import zipfile
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import pyogrio
import pytest
import shapely

from geo.exports import DBF_TEXT_BYTES, Field, Layer, geojson_stream, kml_stream, write_file
from tests.support import assert_gdal_opens_cleanly

LAYER = Layer(
    "sites",
    (
        Field("name"),
        Field("count_total", "int", shp="count"),
        Field("share", "float"),
        Field("active", "bool"),
        Field("seen_at", "datetime"),
        Field("day", "date"),
        Field("notes"),
    ),
    "Point",
    title="name",
)
POLYGONS = Layer("areas", (Field("code"), Field("name")), "MultiPolygon", title="name")
SEEN = datetime(2025, 3, 14, 1, 30, tzinfo=UTC)  # 09:30 in Asia/Shanghai


def row(i: int) -> dict:
    return {
        "name": f"双江街道{i}号",
        "count_total": None if i == 0 else i,
        "share": None if i == 1 else i / 4,
        "active": None if i == 2 else i % 2 == 0,
        "seen_at": None if i == 3 else SEEN,
        "day": date(2025, 3, 14),
        "notes": "柑橘溃疡病 & <防治>" if i % 2 else "",
    }


def chunks(n: int, size: int):
    """``n`` rows in chunks of ``size``: points along a line."""
    for start in range(0, n, size):
        ids = range(start, min(n, start + size))
        yield [row(i) for i in ids], [shapely.Point(108.7 + i / 1000, 30.9) for i in ids]


def save(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def read_file(tmp_path, fmt, layer=LAYER, n=7, size=3):
    if fmt == "geojson":
        return save(tmp_path, "x.geojson", b"".join(geojson_stream(layer, chunks(n, size))))
    if fmt == "kml":
        return save(tmp_path, "x.kml", b"".join(kml_stream(layer, chunks(n, size))))
    with write_file(layer, chunks(n, size), fmt) as fh:
        return save(tmp_path, f"x.{'zip' if fmt == 'shp' else fmt}", fh.read())


@pytest.mark.parametrize("fmt", ["geojson", "gpkg", "shp", "kml"])
def test_rows_written_in_chunks_read_back_intact(tmp_path, fmt):
    path = read_file(tmp_path, fmt, n=7, size=3)
    frame = pyogrio.read_dataframe(path)
    names = frame["Name" if fmt == "kml" else "name"].tolist()
    assert names == [f"双江街道{i}号" for i in range(7)]
    assert frame.geometry.x.round(6).tolist() == [round(108.7 + i / 1000, 6) for i in range(7)]
    assert frame.geometry.y.tolist() == [30.9] * 7
    count = frame["count" if fmt == "shp" else "count_total"]
    assert pd.isna(count[0]) and count[1:].astype(int).tolist() == [1, 2, 3, 4, 5, 6]
    assert pd.isna(frame["share"][1]) and frame["share"][4] == 1.0
    assert pd.isna(frame["active"][2]) and bool(frame["active"][4]) and not bool(frame["active"][5])
    notes = frame["notes"].fillna("").tolist()
    assert notes[1] == "柑橘溃疡病 & <防治>" and notes[3] == "柑橘溃疡病 & <防治>"
    seen = frame["seen_at"]
    assert pd.isna(seen[3])
    assert pd.Timestamp(seen[0]) == pd.Timestamp("2025-03-14T09:30:00+08:00")
    if fmt != "gpkg":  # ISO 8601 in Asia/Shanghai (GeoJSON readers parse it back into a time)
        assert pd.Timestamp(seen[0]).utcoffset().total_seconds() == 8 * 3600
    assert str(frame["day"][0])[:10] == "2025-03-14"


def test_geojson_is_one_valid_feature_collection(tmp_path):
    data = json.loads(b"".join(geojson_stream(LAYER, chunks(5, 2))))
    assert data["type"] == "FeatureCollection" and data["name"] == "sites"
    assert len(data["features"]) == 5
    first = data["features"][0]
    assert first["geometry"] == {"type": "Point", "coordinates": [108.7, 30.9]}
    assert first["properties"]["count_total"] is None and first["properties"]["seen_at"] == "2025-03-14T09:30:00+08:00"
    assert data["features"][1]["properties"]["active"] is False


def test_shapefile_zip_has_utf8_cpg_and_short_field_names(tmp_path):
    path = read_file(tmp_path, "shp")
    with zipfile.ZipFile(path) as archive:
        assert sorted(archive.namelist()) == ["sites.cpg", "sites.dbf", "sites.prj", "sites.shp", "sites.shx"]
        assert archive.read("sites.cpg").decode().strip() == "UTF-8"
        dbf = archive.read("sites.dbf")
    assert "双江街道0号".encode() in dbf
    info = pyogrio.read_info(path)
    assert info["encoding"] == "UTF-8" and info["crs"] == "EPSG:4326"
    assert list(info["fields"]) == ["name", "count", "share", "active", "seen_at", "day", "notes"]


def test_shapefile_cuts_long_text_at_a_character_boundary(tmp_path):
    long_row = {**row(0), "notes": "长" * 200}  # 600 bytes of UTF-8
    with write_file(LAYER, [([long_row], [shapely.Point(108.7, 30.9)])], "shp") as fh:
        path = save(tmp_path, "long.zip", fh.read())
    notes = pyogrio.read_dataframe(path)["notes"][0]
    assert notes == "长" * (DBF_TEXT_BYTES // 3)
    with write_file(LAYER, [([long_row], [shapely.Point(108.7, 30.9)])], "gpkg") as fh:
        path = save(tmp_path, "long.gpkg", fh.read())
    assert pyogrio.read_dataframe(path)["notes"][0] == "长" * 200


def test_geopackage_has_typed_columns_in_one_layer(tmp_path):
    path = read_file(tmp_path, "gpkg")
    assert [name for name, _ in pyogrio.list_layers(path)] == ["sites"]
    info = pyogrio.read_info(path)
    types = dict(zip(info["fields"], info["ogr_types"], strict=True))
    assert types["count_total"] == "OFTInteger64" and types["share"] == "OFTReal"
    assert types["seen_at"] == "OFTDateTime" and types["name"] == "OFTString"
    assert info["geometry_type"] == "Point" and info["crs"] == "EPSG:4326"


@pytest.mark.parametrize("fmt", ["geojson", "gpkg", "shp", "kml"])
def test_empty_export_is_a_valid_empty_layer(tmp_path, fmt):
    assert_gdal_opens_cleanly(read_file(tmp_path, fmt, n=0))
    path = read_file(tmp_path, fmt, n=0)
    assert len(pyogrio.read_dataframe(path)) == 0
    if fmt in ("gpkg", "shp"):
        assert "name" in list(pyogrio.read_info(path)["fields"])


@pytest.mark.parametrize("fmt", ["geojson", "gpkg", "shp", "kml"])
def test_polygons_with_holes_and_null_geometry(tmp_path, fmt):
    holed = shapely.Polygon(
        [(108.7, 30.9), (108.8, 30.9), (108.8, 31.0), (108.7, 31.0)],
        holes=[[(108.72, 30.92), (108.74, 30.92), (108.74, 30.94), (108.72, 30.94)]],
    )
    parts = shapely.MultiPolygon([shapely.box(109.0, 31.0, 109.1, 31.1), shapely.box(109.2, 31.0, 109.3, 31.1)])
    rows = [
        {"code": "500235001000", "name": "双江街道"},
        {"code": "2", "name": "青龙街道"},
        {"code": "3", "name": "无"},
    ]
    data = [(rows, [holed, parts, None])]
    if fmt in ("geojson", "kml"):
        stream = geojson_stream if fmt == "geojson" else kml_stream
        path = save(tmp_path, f"p.{fmt}", b"".join(stream(POLYGONS, data)))
    else:
        with write_file(POLYGONS, data, fmt) as fh:
            path = save(tmp_path, f"p.{'zip' if fmt == 'shp' else fmt}", fh.read())
    frame = pyogrio.read_dataframe(path)
    assert len(frame) == 3
    assert frame.geometry[0].area == pytest.approx(holed.area)
    assert frame.geometry[1].area == pytest.approx(parts.area)
    assert frame.geometry[2] is None or frame.geometry[2].is_empty


def test_file_exports_leave_no_temporary_files():
    before = set(Path(tempfile.gettempdir()).glob("nongji-export-*"))
    with write_file(LAYER, chunks(3, 2), "shp") as fh:
        assert fh.read(4) == b"PK\x03\x04"
    with write_file(LAYER, chunks(3, 2), "gpkg") as fh:
        assert fh.read(16) == b"SQLite format 3\x00"
    # Only what this test made counts: another process on the machine may start or finish an export meanwhile.
    assert set(Path(tempfile.gettempdir()).glob("nongji-export-*")) - before == set()


def test_xml_control_characters_do_not_break_kml(tmp_path):
    bad = {**row(1), "notes": "坏\x01字符"}
    path = save(tmp_path, "c.kml", b"".join(kml_stream(LAYER, [([bad], [shapely.Point(108.7, 30.9)])])))
    assert pyogrio.read_dataframe(path)["notes"][0] == "坏字符"


@pytest.mark.parametrize("fmt", ["geojson", "gpkg", "shp", "kml"])
@pytest.mark.parametrize("layer", [LAYER, POLYGONS], ids=["points", "polygons"])
def test_gdal_opens_every_export_without_a_warning(tmp_path, fmt, layer):
    if layer is POLYGONS:
        square = shapely.MultiPolygon([shapely.box(108.7, 30.9, 108.8, 31.0)])
        parts = [([{"code": "500235001000", "name": "双江街道"}], [square])]
        path = (
            save(tmp_path, "x.geojson", b"".join(geojson_stream(layer, parts)))
            if fmt == "geojson"
            else save(tmp_path, "x.kml", b"".join(kml_stream(layer, parts)))
            if fmt == "kml"
            else None
        )
        if path is None:
            with write_file(layer, parts, fmt) as fh:
                path = save(tmp_path, f"x.{'zip' if fmt == 'shp' else fmt}", fh.read())
    else:
        path = read_file(tmp_path, fmt)
    assert_gdal_opens_cleanly(path)
