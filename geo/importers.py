"""Read official division boundaries (GeoJSON, zipped Shapefile, GeoPackage) into ``DivisionRow``s.

County natural-resources bureaus deliver CGCS2000 (EPSG:4490) Shapefiles, often with GBK-encoded
attributes; boundaries copied from Chinese web maps are GCJ-02 (Amap, Tencent, DataV) or BD-09
(Baidu), which no file declares and PROJ does not know. So:

- the source CRS is the file's own, unless ``crs`` overrides it: any CRS pyproj knows (EPSG:4490,
  EPSG:4326, a CGCS2000 Gauss-Kruger zone such as EPSG:4547, ...), or ``gcj02``/``bd09``, which are
  converted with the public formulas in :mod:`geo.crs`. A file without a CRS needs ``crs``;
- Shapefile attributes are decoded as the ``.cpg`` file says, or as ``encoding`` says. A Shapefile
  without ``.cpg`` whose names come out as Latin-1 mojibake is refused with a hint, rather than
  imported garbled.

Everything ends up in WGS-84, as polygons made valid here (``division_upsert_many`` then measures
and simplifies them). Codes are normalised to 12 digits and checked against the level and parent.
"""

import codecs
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyogrio.raw
import shapely
from django.db.models import TextField
from django.db.models.functions import Cast
from pyogrio.errors import DataLayerError, DataSourceError
from pyproj import CRS
from pyproj.exceptions import CRSError

from geo.codes import PARENT_LEVEL, PREFIX_LENGTH, Level, code_errors, full_code
from geo.crs import bd09_to_wgs84, gcj02_to_wgs84, transform_geometry
from geo.geometry import area_km2
from geo.models import AdminDivision
from geo.services import DivisionRow

CRS_ALIASES = {"wgs84": "EPSG:4326", "cgcs2000": "EPSG:4490"}
# Web-map systems: longitude/latitude offset by formula, converted vertex by vertex.
WEB_MAP_CRS = {"gcj02": gcj02_to_wgs84, "bd09": bd09_to_wgs84}
CODE_LENGTHS = (2, 4, 6, 9, 12)
MAX_REPORTED_ERRORS = 10
# Overlaps smaller than this share of the smaller division are slivers between outlines of two sources, not errors.
OVERLAP_TOLERANCE = 0.001
_DIGITS = re.compile(r"[0-9]+", re.ASCII)
# Characters that GBK/UTF-8 Chinese text turns into when a DBF is read as ISO-8859-1.
_MOJIBAKE = re.compile(r"[\u0080-\u00ff]")
# What the divisions table holds: names of at most AdminDivision.name's length, with no control character (which no
# XML export, and for NUL no PostgreSQL text, can carry).
NAME_MAX_LENGTH = AdminDivision._meta.get_field("name").max_length
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class DivisionImportError(ValueError):
    """The file or the options cannot be imported; the message says why, for the person running it."""


@dataclass
class DivisionFile:
    """What to read from a boundary file, and how to interpret it."""

    path: str | Path
    level: str
    code_field: str = "code"
    name_field: str = "name"
    parent_code: str | None = None
    crs: str | None = None
    encoding: str | None = None
    layer: str | None = None


def read_division_rows(source: DivisionFile) -> list[DivisionRow]:
    """The file's features as division rows in WGS-84, one per code (parts sharing a code are merged).

    Raises :class:`DivisionImportError` with every problem found (up to ``MAX_REPORTED_ERRORS`` rows).
    """
    if source.level not in Level.values:
        raise DivisionImportError(f"Unknown level {source.level!r}: use one of {', '.join(Level.values)}.")
    frame = _read_frame(source)
    broken = _geometry_problems(frame)
    if broken:
        # Left out of the reprojection and its bounds check; reported below with their feature numbers.
        frame.loc[frame.index[list(broken)], "geometry"] = None
    geometries = _to_wgs84(frame, source.crs)
    codes = [normalise_code(value) for value in frame[source.code_field].tolist()]
    names = frame[source.name_field].astype("string").str.strip()
    parents, orphans = _parents(codes, source.level, source.parent_code)
    errors = []
    for i, (code, name, geometry) in enumerate(zip(codes, names, geometries, strict=True)):
        row = f"feature {i + 1}"
        if code is None:
            value = frame[source.code_field].iloc[i]
            errors.append(f"{row}: {source.code_field}={value!r} is not a 2-, 4-, 6-, 9- or 12-digit division code")
            continue
        row = f"{row} ({code})"
        if pd.isna(name) or not name:
            errors.append(f"{row}: {source.name_field} is empty")
        elif len(name) > NAME_MAX_LENGTH:
            errors.append(f"{row}: {source.name_field} is longer than {NAME_MAX_LENGTH} characters")
        elif _CONTROL.search(name):
            errors.append(f"{row}: {source.name_field} holds a control character (U+0000-U+001F, U+007F-U+009F)")
        if code in orphans:
            parent_level = PARENT_LEVEL[source.level]
            errors.append(
                f"{row}: its parent {parent_level} {orphans[code]} is not in the database: import the "
                f"{parent_level} level first, or pass --parent-code"
            )
            continue
        parent_code, parent_level = parents[code]
        errors += [f"{row}: {message}" for message in code_errors(code, source.level, parent_code, parent_level)]
        if i in broken:
            errors.append(f"{row}: {broken[i]}")
        elif geometry is None or geometry.is_empty:
            errors.append(f"{row}: has no geometry")
        elif not isinstance(geometry, shapely.Polygon | shapely.MultiPolygon):
            errors.append(f"{row}: geometry is a {geometry.geom_type}; a division needs a (multi)polygon")
    _raise(errors)
    return _merge_by_code(codes, names, geometries, parents, source.level)


def _read_frame(source: DivisionFile) -> pd.DataFrame:
    path = Path(source.path)
    if not path.exists():
        raise DivisionImportError(f"{path}: no such file.")
    if source.encoding:
        try:
            codecs.lookup(source.encoding)
        except LookupError:
            raise DivisionImportError(f"Unknown encoding {source.encoding!r} (try GBK or UTF-8).") from None
    try:
        layers = [name for name, _ in pyogrio.list_layers(path)]
        if source.layer is None and len(layers) > 1:
            raise DivisionImportError(
                f"{path} has {len(layers)} layers ({', '.join(layers)}): choose one with --layer."
            )
        if source.layer is not None and source.layer not in layers:
            raise DivisionImportError(f"{path} has no layer {source.layer!r}; its layers: {', '.join(layers)}.")
        info = pyogrio.read_info(path, layer=source.layer, encoding=source.encoding)
    except (DataSourceError, DataLayerError) as exc:
        raise DivisionImportError(f"Cannot read {path} as GeoJSON, Shapefile (zipped) or GeoPackage: {exc}") from exc
    fields = list(info["fields"])
    missing = [f for f in (source.code_field, source.name_field) if f not in fields]
    if missing:
        raise DivisionImportError(
            f"{path} has no field {' or '.join(repr(m) for m in missing)}; its fields: {', '.join(fields) or 'none'}."
        )
    if not info["features"]:
        raise DivisionImportError(f"{path} has no features.")
    columns = list(dict.fromkeys([source.code_field, source.name_field]))
    with warnings.catch_warnings():
        # GDAL reports recoverable oddities (e.g. non-conformant dates in unused fields, a ring left open) as
        # RuntimeWarnings.
        warnings.simplefilter("ignore", RuntimeWarning)
        meta, _fids, wkb, values = pyogrio.raw.read(path, layer=source.layer, encoding=source.encoding, columns=columns)
    # The geometry is decoded here rather than by read_dataframe, which raises on the first one GEOS refuses (a ring
    # that is not closed, too few points) and names no feature: those come out as None, and the WKB is kept to say
    # what is wrong with each.
    wkb = np.asarray(wkb if wkb is not None else [None] * len(values[0]), dtype=object)
    with np.errstate(invalid="ignore"):  # NaN coordinates: reported per feature by _geometry_problems
        geometries = shapely.from_wkb(wkb, on_invalid="ignore")
    frame = gpd.GeoDataFrame(dict(zip(meta["fields"], values, strict=True)), geometry=geometries, crs=meta["crs"])
    frame.attrs["wkb"] = wkb
    if info["driver"] == "ESRI Shapefile" and not source.encoding and info["encoding"] == "ISO-8859-1":
        names = frame[source.name_field].astype("string").fillna("")
        if names.str.contains(_MOJIBAKE).any():
            raise DivisionImportError(
                f"{path}: the names look garbled ({names[names.str.contains(_MOJIBAKE)].iloc[0]!r}) because no .cpg "
                "file says how the attributes are encoded. Pass --encoding GBK (or the file's encoding)."
            )
    return frame


def _geometry_problems(frame) -> dict[int, str]:
    """``{feature index: what is wrong}`` for geometries that cannot be imported as they are: WKB that GEOS cannot
    read (a ring that is not closed, too few points), and coordinates that are not finite numbers (NaN, infinity),
    which no reprojection, validity repair or area can work with."""
    geometries = frame.geometry.values
    wkb = frame.attrs["wkb"]
    problems: dict[int, str] = {}
    unreadable = np.flatnonzero(pd.notna(wkb) & shapely.is_missing(np.asarray(geometries, dtype=object)))
    for i in unreadable[:MAX_REPORTED_ERRORS]:  # only to word the message: GEOS says what it refused
        try:
            with np.errstate(invalid="ignore"):
                shapely.from_wkb(wkb[i])
            reason = "GEOS refused it"
        except (shapely.errors.GEOSException, shapely.errors.ShapelyError) as exc:
            reason = str(exc).removeprefix("IllegalArgumentException: ")
        problems[int(i)] = f"the geometry cannot be read ({reason}); close every ring and give it at least 4 points"
    for i in unreadable[MAX_REPORTED_ERRORS:]:
        problems[int(i)] = "the geometry cannot be read"
    coordinates, index = shapely.get_coordinates(np.asarray(geometries, dtype=object), return_index=True)
    for i in np.unique(index[~np.isfinite(coordinates).all(axis=1)]):
        problems[int(i)] = "has coordinates that are not numbers (NaN or infinite)"
    return problems


def _to_wgs84(frame, crs_option: str | None) -> np.ndarray:
    """The frame's geometries in WGS-84 (lon, lat), as a numpy array of shapely geometries."""
    geometries = frame.geometry
    if crs_option is None:
        if geometries.crs is None:
            raise DivisionImportError(
                "The file does not say which coordinate reference system it uses (a Shapefile without .prj?): "
                "pass --crs EPSG:4490 (CGCS2000), EPSG:4326, gcj02 or bd09."
            )
        declared = geometries.crs
    else:
        key = crs_option.strip().lower()
        if key in WEB_MAP_CRS:
            values = np.asarray(geometries.values, dtype=object)
            _check_lon_lat(values, crs_option)
            return transform_geometry(values, WEB_MAP_CRS[key])
        try:
            declared = CRS.from_user_input(CRS_ALIASES.get(key, crs_option.strip()))
        except CRSError:
            raise DivisionImportError(
                f"Unknown CRS {crs_option!r}: use EPSG:4490 (CGCS2000), EPSG:4326, another EPSG code, gcj02 or bd09."
            ) from None
    try:
        projected = geometries.set_crs(declared, allow_override=True).to_crs("EPSG:4326")
    except CRSError as exc:
        raise DivisionImportError(f"Cannot reproject from {declared.to_string()} to WGS-84: {exc}") from exc
    values = np.asarray(projected.values, dtype=object)
    _check_lon_lat(values, declared.to_string())
    return values


def _check_lon_lat(values: np.ndarray, crs_name: str) -> None:
    present = values[~shapely.is_missing(values) & ~shapely.is_empty(values)]  # an empty one has NaN bounds
    if not present.size:
        return
    min_x, min_y, max_x, max_y = shapely.total_bounds(present)
    if not (np.isfinite([min_x, min_y, max_x, max_y]).all() and -180 <= min_x and max_x <= 180 and -90 <= min_y):
        raise DivisionImportError(
            f"Coordinates ({min_x:.6g}, {min_y:.6g}) to ({max_x:.6g}, {max_y:.6g}) are not longitude/latitude in "
            f"{crs_name}: is --crs right?"
        )
    if max_y > 90:
        raise DivisionImportError(f"Latitudes up to {max_y:.6g} in {crs_name}: is --crs right?")


def normalise_code(value) -> str | None:
    """A 12-digit code from a 2/4/6/9/12-digit code as text or number (``500235101`` -> ``500235101000``)."""
    if value is None or (isinstance(value, float) and not np.isfinite(value)) or value is pd.NA:
        return None
    if isinstance(value, float | np.floating):
        if not float(value).is_integer():
            return None
        value = int(value)
    text = str(value).strip()
    if not _DIGITS.fullmatch(text) or len(text) not in CODE_LENGTHS:
        return None
    return full_code(text)


def _parents(codes: list[str | None], level: str, parent_option: str | None) -> tuple[dict, dict]:
    """``({code: (parent code, parent level)}, {code: missing parent code})``.

    The parent is ``--parent-code`` or the division named by the code's prefix. Counties and above may start a
    tree: without their parent in the database they are imported at the top. A township or village whose parent
    is missing is an error, reported per feature.
    """
    present = {c for c in codes if c}
    if level == Level.PROVINCE:
        if parent_option:
            raise DivisionImportError("A province has no parent: leave out --parent-code.")
        return dict.fromkeys(present, (None, None)), {}
    if parent_option:
        parent_code = normalise_code(parent_option)
        parent = AdminDivision.objects.filter(code=parent_code).values("code", "level").first() if parent_code else None
        if parent is None:
            raise DivisionImportError(f"--parent-code {parent_option}: no such division in the database.")
        return dict.fromkeys(present, (parent["code"], parent["level"])), {}
    parent_level = PARENT_LEVEL[level]
    wanted = {c: full_code(c[: PREFIX_LENGTH[parent_level]]) for c in present}
    known = dict(
        AdminDivision.objects.filter(code__in=set(wanted.values()), level=parent_level).values_list("code", "level")
    )
    parents = {c: (p, parent_level) if p in known else (None, None) for c, p in wanted.items()}
    orphans = (
        {}
        if level in (Level.PROVINCE, Level.CITY, Level.COUNTY)
        else {c: p for c, p in wanted.items() if p not in known}
    )
    return parents, orphans


def _merge_by_code(codes, names, geometries, parents, level) -> list[DivisionRow]:
    """One row per code: the parts of a division spread over several features are unioned."""
    by_code: dict[str, list[int]] = {}
    for i, code in enumerate(codes):
        by_code.setdefault(code, []).append(i)
    errors, rows = [], []
    for code, indexes in by_code.items():
        row_names = {names.iloc[i] for i in indexes}
        if len(row_names) > 1:
            errors.append(f"features {', '.join(str(i + 1) for i in indexes)} share code {code} but not the name")
            continue
        try:
            parts = shapely.make_valid(geometries[indexes], method="structure", keep_collapsed=False)
            geometry = parts[0] if len(parts) == 1 else shapely.union_all(parts)
        except shapely.errors.GEOSException as exc:
            errors.append(f"feature {indexes[0] + 1} ({code}): the geometry cannot be repaired ({exc})")
            continue
        if geometry.is_empty:
            errors.append(f"feature {indexes[0] + 1} ({code}): the polygon has no area")
            continue
        rows.append(
            DivisionRow(
                code, row_names.pop(), level, parents[code][0], geometry, synthetic=False, features=tuple(indexes)
            )
        )
    _raise(errors)
    return rows


def division_overlaps(rows: list[DivisionRow], tolerance: float = OVERLAP_TOLERANCE) -> list[str]:
    """What the imported ``rows`` overlap, one line each: the stored divisions other than the rows' own ancestors
    and descendants (another county, a sibling township, another township's village...), and each other.

    A pair overlaps when their common area is more than ``tolerance`` (a share, 0.001 = 0.1 %) of the smaller one's:
    outlines drawn from the same survey share their edges exactly, outlines from two sources leave slivers along
    them. Stored divisions with the rows' codes are what the import replaces, and are left out, and so are synthetic
    boundaries (the demo's generated cells), which official ones replace. Vectorised: one
    STRtree query per side, the intersections in one GEOS call.
    """
    if not rows:
        return []
    new_codes = np.array([int(row.code) for row in rows], dtype=np.int64)
    new_geometries = np.array([row.geometry for row in rows], dtype=object)
    new_labels = np.array([_row_label(row) for row in rows], dtype=object)
    stored = pd.DataFrame(
        AdminDivision.objects.filter(boundary__isnull=False, boundary_synthetic=False)
        .annotate(text=Cast("boundary", TextField()))
        .values_list("code", "name", "level", "text"),
        columns=["code", "name", "level", "text"],
    )
    stored["code"] = stored["code"].astype(np.int64)
    stored = stored[~stored["code"].isin(new_codes)]
    with np.errstate(invalid="ignore"):
        stored_geometries = shapely.make_valid(shapely.from_geojson(stored["text"].to_numpy(), on_invalid="ignore"))
    keep = ~shapely.is_missing(stored_geometries) & ~shapely.is_empty(stored_geometries)
    stored, stored_geometries = stored[keep], stored_geometries[keep]
    lines = []
    # Against the stored divisions.
    new_i, stored_j = shapely.STRtree(stored_geometries).query(new_geometries, predicate="intersects")
    level = rows[0].level
    stored_digits = stored["level"].map(PREFIX_LENGTH).to_numpy(dtype=np.int64)[stored_j]
    row_scale = np.int64(10) ** (12 - PREFIX_LENGTH[level])
    stored_scale = np.int64(10) ** (12 - stored_digits)
    ancestor = new_codes[new_i] // stored_scale * stored_scale == stored["code"].to_numpy()[stored_j]
    descendant = stored["code"].to_numpy()[stored_j] // row_scale * row_scale == new_codes[new_i]
    pair = ~ancestor & ~descendant
    new_i, stored_j = new_i[pair], stored_j[pair]
    share, common = _overlap_shares(new_geometries[new_i], stored_geometries[stored_j])
    found = np.flatnonzero(share > tolerance)
    others = (stored["level"] + " " + stored["code"].astype(str).str.zfill(12) + " " + stored["name"]).to_numpy()
    lines += _overlap_lines(new_labels[new_i[found]], others[stored_j[found]], share[found], common[found])
    # Against each other.
    first, second = shapely.STRtree(new_geometries).query(new_geometries, predicate="intersects")
    first, second = first[first < second], second[first < second]
    share, common = _overlap_shares(new_geometries[first], new_geometries[second])
    found = np.flatnonzero(share > tolerance)
    lines += _overlap_lines(new_labels[second[found]], new_labels[first[found]], share[found], common[found])
    return lines


def _row_label(row: DivisionRow) -> str:
    if not row.features:
        return row.code
    plural = "s" if len(row.features) > 1 else ""
    return f"feature{plural} {', '.join(str(i + 1) for i in row.features)} ({row.code})"


def _overlap_shares(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For pairs ``a[k]``, ``b[k]``: their common area as a share of the smaller, and the common parts."""
    common = shapely.intersection(a, b)
    smaller = np.minimum(shapely.area(a), shapely.area(b))
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(smaller > 0, shapely.area(common) / smaller, 0.0)
    return share, common


def _overlap_lines(labels, others, shares, common) -> list[str]:
    order = np.lexsort((others, labels))[:MAX_REPORTED_ERRORS]  # a stable report; only these are measured
    return [
        f"{labels[k]}: overlaps {others[k]} by {area_km2(common[k]):.3g} km² ({shares[k] * 100:.3g}% of the smaller)"
        for k in order
    ] + ([f"... and {len(labels) - len(order)} more overlaps"] if len(labels) > len(order) else [])


def _raise(errors: list[str]) -> None:
    if errors:
        more = len(errors) - MAX_REPORTED_ERRORS
        lines = errors[:MAX_REPORTED_ERRORS] + ([f"... and {more} more"] if more > 0 else [])
        raise DivisionImportError("\n".join(lines))
