"""Choropleth maps as PNG, drawn with geopandas and matplotlib's Agg canvas (no pyplot, no display).

- Classes come from ``geo.classes`` (the classification the web map gets from the coverage API too): value
  classes with edges that do not overlap, plus "not visited" and "missing" (no data) classes; a legend lists them.
- Division names have a white halo, so that they stay readable on the darkest class.
- Chinese text is set in Noto Sans CJK SC, the font file the ``mplfonts`` package ships: it is registered with
  matplotlib's font manager and passed explicitly to every text artist, so no global rcParams change and no
  system font is needed. (Text in DejaVu Sans, matplotlib's default, would be tofu boxes.)
- Divisions are drawn in their UTM zone (pyproj, via ``estimate_utm_crs``), where one unit is one metre, so the
  scale bar (``matplotlib-scalebar``) is true and grid north is within a degree or two of true north, which is
  where the north arrow points.
"""

import io
import threading
from dataclasses import dataclass
from functools import cache
from importlib.util import find_spec
from pathlib import Path

import geopandas as gpd
from matplotlib import font_manager, patheffects
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.patches import Patch
from matplotlib_scalebar.scalebar import ScaleBar

from geo.classes import MISSING, MISSING_COLOUR, SCHEMES, UNVISITED, Classification, MapClass, classify_features
from geo.geometry import from_geojson

# The font file inside the mplfonts package (found without importing it: its __init__ loads matplotlib's pyplot).
CJK_FONT_FILE = Path(find_spec("mplfonts").origin).parent / "fonts" / "NotoSansCJKsc-Regular.otf"
__all__ = ["SCHEMES", "ChoroplethSpec", "NothingToDraw", "choropleth_figure", "render_choropleth"]
MISSING_COLOR = MISSING_COLOUR
HATCHES = {UNVISITED: "\\\\\\", MISSING: "///"}
EDGE = "#4d4d4d"
# Labels stay legible up to about this many divisions on an A4-sized map.
MAX_LABELS = 80
# matplotlib is not thread-safe; a threaded server renders one map at a time per process.
_LOCK = threading.Lock()


class NothingToDraw(ValueError):
    """None of the divisions has a boundary."""


@cache
def cjk_font() -> FontProperties:
    """Noto Sans CJK SC from the mplfonts package, registered with matplotlib's font manager once per process."""
    font_manager.fontManager.addfont(str(CJK_FONT_FILE))
    return FontProperties(fname=CJK_FONT_FILE)


@dataclass
class ChoroplethSpec:
    """What to draw: a value per division, how to class it, and the texts (in Chinese)."""

    title: str
    legend_title: str
    subtitle: str = ""
    footnote: str = ""
    percent: bool = False  # values are shares (0-1), shown as percentages
    scheme: str = "fisher_jenks"
    classes: int = 5
    labels: bool | None = None  # None: label divisions when there are at most MAX_LABELS
    missing_label: str = "无数据"
    unvisited_label: str = "未走访"
    # Classes computed beforehand (by geo.classes, over the features that have a geometry, in order), so that the
    # caller can hand the same legend to another map; None: classed here by scheme and classes.
    classification: Classification | None = None
    cmap: str = "YlGn"
    size_in: tuple[float, float] = (8.0, 8.0)
    dpi: int = 150


def render_choropleth(features: list[dict], value: str, spec: ChoroplethSpec) -> bytes:
    """A PNG of ``features`` (dicts with ``name``, ``value`` and a WGS-84 GeoJSON ``geometry``; optionally ``visits``)
    coloured by ``value``.

    Features without geometry are left out; the classes are those of ``geo.classes.classify_features`` over the
    drawn features: those with 0 ``visits`` are "not visited", values that are None grey as "no data".
    Raises :class:`NothingToDraw` when no feature has a geometry.
    """
    with _LOCK:
        figure = choropleth_figure(features, value, spec)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=spec.dpi, metadata={"Software": None})
    return buffer.getvalue()


def choropleth_figure(features: list[dict], value: str, spec: ChoroplethSpec) -> Figure:
    """The map as a matplotlib Figure on an Agg canvas (see :func:`render_choropleth`)."""
    drawn = [f for f in features if f.get("geometry")]
    if not drawn:
        raise NothingToDraw("no division has a boundary")
    classification = spec.classification or classify_features(
        drawn,
        value,
        scheme=spec.scheme,
        k=spec.classes,
        percent=spec.percent,
        cmap=spec.cmap,
        labels={MISSING: spec.missing_label, UNVISITED: spec.unvisited_label},
    )
    frame = gpd.GeoDataFrame(
        {"name": [f["name"] for f in drawn], "map_class": classification.members},
        geometry=[from_geojson(f["geometry"]) for f in drawn],
        crs="EPSG:4326",
    )
    return _draw(frame.to_crs(frame.estimate_utm_crs()), classification.classes, spec)


def _draw(frame: gpd.GeoDataFrame, classes: list[MapClass], spec: ChoroplethSpec) -> Figure:
    font = cjk_font()
    small = font.copy()
    small.set_size(7)
    figure = Figure(figsize=spec.size_in, dpi=spec.dpi, layout="constrained")
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    ax.set_axis_off()
    ax.set_aspect("equal")

    handles = []
    for entry in classes:
        hatch = HATCHES.get(entry.key)
        members = frame[frame["map_class"] == entry.key]
        if not members.empty:
            members.plot(ax=ax, color=entry.colour, edgecolor=EDGE, linewidth=0.5, hatch=hatch)
        handles.append(Patch(facecolor=entry.colour, edgecolor=EDGE, hatch=hatch, label=entry.label))

    if spec.labels if spec.labels is not None else len(frame) <= MAX_LABELS:
        halo = [patheffects.withStroke(linewidth=2.5, foreground="white")]
        for point, name in zip(frame.geometry.representative_point(), frame["name"], strict=True):
            ax.annotate(
                name,
                (point.x, point.y),
                ha="center",
                va="center",
                fontproperties=small,
                color="#1a1a1a",
                path_effects=halo,
            )

    legend_font = font.copy()
    legend_font.set_size(8)
    legend = ax.legend(
        handles=handles,
        title=spec.legend_title,
        loc="lower left",
        prop=legend_font,
        title_fontproperties=font,
        frameon=True,
        framealpha=0.9,
    )
    legend.get_frame().set_edgecolor("#999999")
    ax.add_artist(
        ScaleBar(
            1, "m", location="lower right", box_alpha=0.8, font_properties={"fname": str(CJK_FONT_FILE), "size": 8}
        )
    )  # UTM: one unit is one metre
    ax.annotate(
        "N",
        xy=(0.95, 0.97),
        xytext=(0.95, 0.86),
        xycoords="axes fraction",
        ha="center",
        va="center",
        fontproperties=font,
        fontsize=14,
        arrowprops={"facecolor": "black", "edgecolor": "black", "width": 5, "headwidth": 14, "headlength": 12},
    )
    title_font = font.copy()
    title_font.set_size(15)
    figure.suptitle(spec.title, fontproperties=title_font)
    if spec.subtitle:
        ax.set_title(spec.subtitle, fontproperties=font, fontsize=9, color="#333333")
    if spec.footnote:  # supxlabel: the constrained layout keeps room for it below the map
        figure.supxlabel(spec.footnote, x=0.01, ha="left", fontproperties=small, color="#555555")
    return figure
