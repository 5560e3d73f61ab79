"""GIS exports of point and polygon layers: GeoJSON, KML, GeoPackage and zipped Shapefile, in WGS-84.

Rows arrive as an iterable of chunks, each ``(rows, geometries)``: a list of property dicts and a
sequence of shapely geometries of the same length (``None`` for a row without geometry). Nothing
here holds more than one chunk:

- GeoJSON and KML are text, produced chunk by chunk for a streamed response;
- GeoPackage and Shapefile cannot be streamed while they are written, so each chunk is appended to
  a file in a private temporary directory with pyogrio; the finished file (the Shapefile's parts
  zipped, with a ``.cpg`` saying UTF-8) is returned open and already unlinked, so it disappears
  when the response closes it, whatever happens.

Values: datetimes are ISO 8601 in ``TIME_ZONE`` (Asia/Shanghai) in GeoJSON, KML and Shapefile, and
typed DateTime columns in UTC in GeoPackage (as the format requires); dates are ``YYYY-MM-DD`` text.
A Shapefile stores at most 254 bytes of text per value (the DBF limit), so longer texts are cut
there, at a character boundary, and field names are at most 10 characters (``Field.shp``).
"""

import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, BinaryIO
from xml.sax.saxutils import escape, quoteattr

import numpy as np
import orjson
import shapely
from django.utils import timezone

if TYPE_CHECKING:  # imported where files are written: loading them costs every process about half a second
    import geopandas as gpd
    import pandas as pd

FORMATS = ("geojson", "gpkg", "shp", "kml")
MEDIA_TYPES = {
    "geojson": "application/geo+json",
    "gpkg": "application/geopackage+sqlite3",
    "shp": "application/zip",
    "kml": "application/vnd.google-earth.kml+xml",
}
EXTENSIONS = {"geojson": "geojson", "gpkg": "gpkg", "shp": "zip", "kml": "kml"}
KINDS = ("str", "int", "float", "bool", "datetime", "date")
DBF_TEXT_BYTES = 254
_KML_TYPES = {"str": "string", "int": "int", "float": "double", "bool": "bool", "datetime": "string", "date": "string"}
_XML_INVALID = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")

Chunk = tuple[list[dict], list]


@dataclass(frozen=True)
class Field:
    """An attribute column: its name, its kind (one of ``KINDS``) and, if longer than 10, its Shapefile name."""

    name: str
    kind: str = "str"
    shp: str | None = None

    @property
    def shp_name(self) -> str:
        return self.shp or self.name


@dataclass(frozen=True)
class Layer:
    """What an export holds: its name (layer and file name), columns, geometry type and KML title field."""

    name: str
    fields: tuple[Field, ...]
    geometry_type: str  # "Point" or "MultiPolygon"
    title: str | None = None

    def __post_init__(self):
        assert all(f.kind in KINDS and len(f.shp_name) <= 10 for f in self.fields), self.name


# --- text formats, streamed ----------------------------------------------------------------------


def geojson_stream(layer: Layer, chunks: Iterable[Chunk]) -> Iterator[bytes]:
    """An RFC 7946 FeatureCollection of ``layer``'s columns, one chunk of features at a time."""
    convert = _converters(layer, json=True)

    def features():
        for rows, geometries in chunks:
            properties = [
                {name: None if (v := row.get(name)) is None else fn(v) for name, fn in convert} for row in rows
            ]
            yield properties, geometries, None

    return feature_collection_stream(features(), name=layer.name)


def feature_collection_stream(chunks: Iterable[tuple[list[dict], list, list | None]], name: str | None = None):
    """An RFC 7946 FeatureCollection, streamed: each chunk is ``(properties, geometries, ids)``, lists of the same
    length; ``ids`` may be ``None`` (features without an id). Geometries are shapely geometries, or GeoJSON dicts
    (points built from columns: one orjson call writes the whole chunk); ``None`` for none. Properties must
    already be JSON types."""
    yield (
        b'{"type":"FeatureCollection",' + (b'"name":' + orjson.dumps(name) + b"," if name else b"") + b'"features":[\n'
    )
    first = True
    for properties, geometries, ids in chunks:
        if not properties:
            continue
        if all(g is None or isinstance(g, dict) for g in geometries):
            features = [
                {"type": "Feature", **({"id": ids[i]} if ids is not None else {}), "geometry": g, "properties": p}
                for i, (p, g) in enumerate(zip(properties, geometries, strict=True))
            ]
            part = orjson.dumps(features)[1:-1]  # the list's brackets dropped: chunks join into one array
        else:
            geojson = shapely.to_geojson(np.asarray(geometries, dtype=object)).tolist()
            part = b",\n".join(
                b'{"type":"Feature",'
                + (b'"id":' + orjson.dumps(ids[i]) + b"," if ids is not None else b"")
                + b'"geometry":'
                + (geometry.encode() if geometry is not None else b"null")
                + b',"properties":'
                + orjson.dumps(props)
                + b"}"
                for i, (props, geometry) in enumerate(zip(properties, geojson, strict=True))
            )
        yield (b"" if first else b",\n") + part
        first = False
    yield b"\n]}\n"


def kml_stream(layer: Layer, chunks: Iterable[Chunk]) -> Iterator[bytes]:
    """KML 2.2 with the attributes as typed ``SchemaData``, as GDAL writes and reads it."""
    schema_id = quoteattr(layer.name)
    head = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<kml xmlns="http://www.opengis.net/kml/2.2"><Document>',
        f"<name>{escape(layer.name)}</name>",
        f"<Schema name={schema_id} id={schema_id}>",
        *(
            f'<SimpleField name={quoteattr(f.name)} type="{_KML_TYPES[f.kind]}"/>'
            for f in layer.fields
            if f.name != "id"
        ),
        "</Schema>",
        f"<Folder><name>{escape(layer.name)}</name>",
    ]
    yield ("\n".join(head) + "\n").encode()
    schema_url = quoteattr("#" + layer.name)
    convert = [(name, f"<SimpleData name={quoteattr(name)}>", fn) for name, fn in _converters(layer) if name != "id"]
    for rows, geometries in chunks:
        out = []
        for row, geometry in zip(rows, geometries, strict=True):
            title = row.get(layer.title) if layer.title else None
            data = "".join(
                f"{tag}{_xml(fn(value))}</SimpleData>"
                for name, tag, fn in convert
                if (value := row.get(name)) is not None
            )
            # As GDAL does, an "id" attribute is the Placemark's id (readers map it back to an "id" field).
            placemark_id = row.get("id")
            out.append(
                ("<Placemark>" if placemark_id is None else f"<Placemark id={quoteattr(_xml(str(placemark_id)))}>")
                + (f"<name>{_xml(str(title))}</name>" if title is not None else "")
                + f"<ExtendedData><SchemaData schemaUrl={schema_url}>{data}</SchemaData></ExtendedData>"
                + _kml_geometry(geometry)
                + "</Placemark>\n"
            )
        if out:
            yield "".join(out).encode()
    yield b"</Folder></Document></kml>\n"


def _xml(text: str) -> str:
    return escape(_XML_INVALID.sub("", text))


def _kml_geometry(geometry) -> str:
    if geometry is None or geometry.is_empty:
        return ""
    if isinstance(geometry, shapely.Point):
        return f"<Point><coordinates>{geometry.x:.7f},{geometry.y:.7f}</coordinates></Point>"
    if isinstance(geometry, shapely.Polygon):
        rings = [f"<outerBoundaryIs>{_kml_ring(geometry.exterior)}</outerBoundaryIs>"]
        rings += [f"<innerBoundaryIs>{_kml_ring(ring)}</innerBoundaryIs>" for ring in geometry.interiors]
        return "<Polygon>" + "".join(rings) + "</Polygon>"
    if hasattr(geometry, "geoms"):
        return "<MultiGeometry>" + "".join(_kml_geometry(part) for part in geometry.geoms) + "</MultiGeometry>"
    raise ValueError(f"KML export does not handle {geometry.geom_type}")


def _kml_ring(ring) -> str:
    coordinates = " ".join(f"{x:.7f},{y:.7f}" for x, y in shapely.get_coordinates(ring))
    return f"<LinearRing><coordinates>{coordinates}</coordinates></LinearRing>"


def _converters(layer: Layer, json: bool = False) -> list[tuple]:
    """``(field name, function)`` turning each non-null value into GeoJSON (``json``) or text (KML, Shapefile)."""
    zone = timezone.get_default_timezone()  # looked up once: timezone.localtime() per value is slow

    def moment(value):
        return value.astimezone(zone).isoformat() if isinstance(value, datetime) else str(value)

    def day(value):
        return value.isoformat() if isinstance(value, date) else str(value)

    def same(value):
        return value

    def flag(value):
        return "1" if value else "0"

    by_kind = {"datetime": moment, "date": day, "bool": same if json else flag}
    return [(f.name, by_kind.get(f.kind, same if json else str)) for f in layer.fields]


# --- file formats, written in chunks -------------------------------------------------------------


def write_file(layer: Layer, chunks: Iterable[Chunk], fmt: str) -> BinaryIO:
    """Write a GeoPackage (``gpkg``) or a zipped Shapefile (``shp``) chunk by chunk; return it open at offset 0.

    The file is already unlinked: closing the handle frees the disk space.
    """
    if fmt not in ("gpkg", "shp"):
        raise ValueError(f"write_file writes gpkg or shp, not {fmt!r}")
    directory = tempfile.mkdtemp(prefix="nongji-export-")
    try:
        if fmt == "gpkg":
            path = os.path.join(directory, f"{layer.name}.gpkg")
            # GeoPackage 1.2: GDAL before 3.7 (QGIS LTR, Debian 12) opens the 1.4 that newer GDAL writes by
            # default with a "may only be partially supported" warning, and 1.4 adds nothing these files use.
            _write_chunks(path, layer, chunks, driver="GPKG", layer_name=layer.name, created={"VERSION": "1.2"})
        else:
            shp = os.path.join(directory, f"{layer.name}.shp")
            _write_chunks(shp, layer, chunks, driver="ESRI Shapefile", encoding="UTF-8")
            path = os.path.join(directory, f"{layer.name}.zip")
            with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
                for suffix in (".shp", ".shx", ".dbf", ".prj", ".cpg"):
                    archive.write(os.path.join(directory, layer.name + suffix), layer.name + suffix)
        return open(path, "rb")  # the response closes it
    finally:
        # On POSIX the open handle keeps the file's data readable after its name is gone.
        shutil.rmtree(directory, ignore_errors=True)


def _write_chunks(
    path: str, layer: Layer, chunks: Iterable[Chunk], layer_name: str | None = None, created=None, **options
) -> None:
    """``created``: the driver's dataset creation options, given when the file is created (not on appends)."""
    import pyogrio

    shapefile = options["driver"] == "ESRI Shapefile"
    if layer_name:
        options["layer"] = layer_name
    written = False
    for rows, geometries in chunks:
        if not rows and written:
            continue
        frame = _frame(layer, rows, geometries, shapefile)
        pyogrio.write_dataframe(
            frame,
            path,
            geometry_type=layer.geometry_type,
            promote_to_multi=layer.geometry_type.startswith("Multi"),
            append=written,
            **({} if written else {"dataset_options": created}),
            **options,
        )
        written = True
    if not written:  # no rows: an empty layer that still has the columns
        frame = _frame(layer, [], [], shapefile)
        pyogrio.write_dataframe(frame, path, geometry_type=layer.geometry_type, dataset_options=created, **options)


def _frame(layer: Layer, rows: list[dict], geometries, shapefile: bool) -> "gpd.GeoDataFrame":
    import geopandas as gpd

    columns = {}
    for f, (_, text) in zip(layer.fields, _converters(layer), strict=True):
        values = [row.get(f.name) for row in rows]
        columns[f.shp_name if shapefile else f.name] = _column(values, f.kind, shapefile, text)
    geometry = gpd.GeoSeries(list(geometries), crs="EPSG:4326") if len(rows) else gpd.GeoSeries([], crs="EPSG:4326")
    return gpd.GeoDataFrame(columns, geometry=geometry, crs="EPSG:4326")


def _column(values: list, kind: str, shapefile: bool, text) -> "pd.Series":
    """A typed column whose dtype does not depend on the values, so every chunk has the same schema."""
    import pandas as pd

    if kind == "int":
        return pd.Series(pd.array(values, dtype="Int64"))
    if kind == "float":
        return pd.Series(pd.array(values, dtype="Float64"))
    if kind == "bool":
        return pd.Series(pd.array(values, dtype="boolean"))
    if kind == "datetime" and not shapefile:
        return pd.Series(pd.to_datetime(values, utc=True), dtype="datetime64[ms, UTC]")
    texts = [None if v is None else text(v) for v in values]
    if shapefile:
        texts = [None if t is None else _dbf_text(t) for t in texts]
    return pd.Series(pd.array(texts, dtype="string"))


def _dbf_text(text: str) -> str:
    data = text.encode()
    return text if len(data) <= DBF_TEXT_BYTES else data[:DBF_TEXT_BYTES].decode(errors="ignore")
