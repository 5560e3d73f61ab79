"""Choropleth maps as PNG, drawn with geopandas and matplotlib's Agg canvas (no pyplot, no display).

- Classes come from mapclassify (Fisher-Jenks by default: exact and deterministic); a legend lists them.
- Chinese text is set in Noto Sans CJK SC, the font file the ``mplfonts`` package ships: it is registered with
  matplotlib's font manager and passed explicitly to every text artist, so no global rcParams change and no
  system font is needed. (Text in DejaVu Sans, matplotlib's default, would be tofu boxes.)
- Divisions are drawn in their UTM zone (pyproj, via ``estimate_utm_crs``), where one unit is one metre, so the
  scale bar (``matplotlib-scalebar``) is true and grid north is within a degree or two of true north, which is
  where the north arrow points.
"""

import io
import threading
import warnings
from dataclasses import dataclass
from functools import cache
from importlib.util import find_spec
from pathlib import Path

import geopandas as gpd
import numpy as np
from matplotlib import colormaps, font_manager
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.patches import Patch
from matplotlib_scalebar.scalebar import ScaleBar

from geo.geometry import from_geojson

# The font file inside the mplfonts package (found without importing it: its __init__ loads matplotlib's pyplot).
CJK_FONT_FILE = Path(find_spec("mplfonts").origin).parent / "fonts" / "NotoSansCJKsc-Regular.otf"
SCHEMES = {"fisher_jenks": "FisherJenks", "quantiles": "Quantiles", "equal_interval": "EqualInterval"}
FISHER_JENKS_MAX = 1000
MISSING_COLOR = "#d9d9d9"
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
    cmap: str = "YlGn"
    size_in: tuple[float, float] = (8.0, 8.0)
    dpi: int = 150


def render_choropleth(features: list[dict], value: str, spec: ChoroplethSpec) -> bytes:
    """A PNG of ``features`` (dicts with ``name``, ``value`` and a WGS-84 GeoJSON ``geometry``) coloured by ``value``.

    Features without geometry are left out; values that are None are drawn grey as "no data".
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
    frame = gpd.GeoDataFrame(
        {
            "name": [f["name"] for f in drawn],
            "value": np.array([np.nan if f[value] is None else float(f[value]) for f in drawn], dtype=float),
        },
        geometry=[from_geojson(f["geometry"]) for f in drawn],
        crs="EPSG:4326",
    )
    return _draw(frame.to_crs(frame.estimate_utm_crs()), spec)


def _draw(frame: gpd.GeoDataFrame, spec: ChoroplethSpec) -> Figure:
    font = cjk_font()
    small = font.copy()
    small.set_size(7)
    figure = Figure(figsize=spec.size_in, dpi=spec.dpi, layout="constrained")
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    ax.set_axis_off()
    ax.set_aspect("equal")

    values = frame["value"]
    present = values.dropna()
    style = {"edgecolor": "#4d4d4d", "linewidth": 0.5}
    handles = []
    if present.nunique() >= 2:
        k = min(spec.classes, int(present.nunique()))
        bins = class_breaks(present.to_numpy(), spec.scheme, k)
        palette = [colormaps[spec.cmap](x) for x in np.linspace(0.15, 0.9, len(bins))]
        classes = np.searchsorted(bins, present.to_numpy(), side="left")
        labels = class_labels(float(present.min()), bins, spec.percent)
        for i, (colour, label) in enumerate(zip(palette, labels, strict=True)):
            members = frame.loc[present.index[classes == i]]
            if not members.empty:
                members.plot(ax=ax, color=colour, **style)
            handles.append(Patch(facecolor=colour, edgecolor="#4d4d4d", label=label))
    else:
        colour = colormaps[spec.cmap](0.5)
        if not present.empty:
            frame.loc[present.index].plot(ax=ax, color=colour, **style)
            (label,) = class_labels(float(present.iloc[0]), np.array([present.iloc[0]]), spec.percent)
            handles.append(Patch(facecolor=colour, edgecolor="#4d4d4d", label=label))
    missing = frame[values.isna()]
    if not missing.empty:
        missing.plot(ax=ax, color=MISSING_COLOR, hatch="///", **style)
        handles.append(Patch(facecolor=MISSING_COLOR, edgecolor="#4d4d4d", hatch="///", label=spec.missing_label))

    if spec.labels if spec.labels is not None else len(frame) <= MAX_LABELS:
        for point, name in zip(frame.geometry.representative_point(), frame["name"], strict=True):
            ax.annotate(name, (point.x, point.y), ha="center", va="center", fontproperties=small, color="#1a1a1a")

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


def class_breaks(values: np.ndarray, scheme: str, k: int) -> np.ndarray:
    """Upper bounds of ``k`` classes of ``values`` by a mapclassify scheme.

    Fisher-Jenks is exact but, without numba, quadratic in pure Python (0.26 s for 478 values, 5.5 s for 2,000),
    so above ``FISHER_JENKS_MAX`` values quantiles are used instead.
    """
    if scheme == "fisher_jenks" and len(values) > FISHER_JENKS_MAX:
        scheme = "quantiles"
    # Imported here, not with the module: mapclassify pulls in scikit-learn, seconds that every manage.py command
    # would pay when the URLconf loads.
    import mapclassify

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Numba not installed", category=UserWarning)
        classifier = getattr(mapclassify, SCHEMES[scheme])(values, k=k)
    return np.asarray(classifier.bins, dtype=float)


def class_labels(lowest: float, bins: np.ndarray, percent: bool) -> list[str]:
    """Legend labels "lower – upper" of classes whose upper bounds are ``bins`` (the first starts at ``lowest``).

    One decimal more when whole numbers (or whole percents) would make neighbouring bounds look alike; a class
    holding a single value is labelled with it alone.
    """
    scale = 100 if percent else 1
    bounds = np.concatenate([[lowest], bins]) * scale
    whole = np.allclose(bounds, np.round(bounds)) or np.all(np.diff(np.round(bounds)) > 0)
    digits = 0 if whole else 1
    suffix = "%" if percent else ""
    text = [f"{b:,.{digits}f}{suffix}" for b in bounds]
    return [text[i + 1] if text[i] == text[i + 1] else f"{text[i]} – {text[i + 1]}" for i in range(len(bins))]
