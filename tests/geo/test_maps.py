"""geo.maps: the choropleth PNG decodes, its Chinese text has real glyphs (no tofu), and it has its legend classes,
scale bar and north arrow."""

import io
import warnings
from pathlib import Path

import numpy as np
import pytest
import shapely
from matplotlib import get_data_path
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties, findfont
from matplotlib.ft2font import FT2Font
from matplotlib_scalebar.scalebar import ScaleBar
from PIL import Image
from pyproj import Geod

from geo.classes import UNVISITED_COLOUR, classify_features
from geo.demo import township_records
from geo.geometry import to_geojson
from geo.maps import (
    CJK_FONT_FILE,
    MISSING_COLOR,
    ChoroplethSpec,
    NothingToDraw,
    choropleth_figure,
    cjk_font,
    render_choropleth,
)

TITLE = "云阳县各乡镇示范户走访覆盖率"
UNASSIGNED = chr(0x10FFFD)  # a private-use code point that no font maps
LAST_RESORT = FontProperties(fname=Path(get_data_path()) / "fonts" / "ttf" / "LastResortHE-Regular.ttf")


def grid_features(values, names=None) -> list[dict]:
    """Square divisions side by side near Yunyang, one per value."""
    names = names or [r["name"] for r in township_records()[: len(values)]]
    return [
        {
            "name": name,
            "coverage": value,
            "geometry": to_geojson(shapely.box(108.5 + i * 0.05, 30.8, 108.55 + i * 0.05, 30.85)),
        }
        for i, (name, value) in enumerate(zip(names, values, strict=True))
    ]


def raster(text: str, font: FontProperties) -> np.ndarray:
    """``text`` drawn by matplotlib's Agg renderer, as an RGBA array."""
    figure = Figure(figsize=(6, 1), dpi=100)
    canvas = FigureCanvasAgg(figure)
    figure.text(0.02, 0.2, text, fontproperties=font, fontsize=36)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba()).copy()


def missing_glyph_warnings(caught) -> list[str]:
    return [str(w.message) for w in caught if "missing from font" in str(w.message)]


# --- tofu ---------------------------------------------------------------------------------------


def test_the_project_font_is_noto_sans_cjk_from_mplfonts():
    assert CJK_FONT_FILE.is_file() and "mplfonts" in CJK_FONT_FILE.parts
    assert FT2Font(str(CJK_FONT_FILE)).family_name == "Noto Sans CJK SC"
    assert cjk_font().get_name() == "Noto Sans CJK SC"


def test_font_maps_every_character_of_titles_names_and_legends():
    font = FT2Font(str(CJK_FONT_FILE))
    texts = [
        TITLE,
        "服务次数走访示范户数开展服务的农技推广人员科技特派员覆盖率无数据人数",
        "注：边界为合成示意，非官方边界。制图：农技",
    ]
    texts += [r["name"] for r in township_records()]
    missing = {c for text in texts for c in text if font.get_char_index(ord(c)) == 0}
    assert missing == set()
    assert font.get_char_index(ord(UNASSIGNED)) == 0  # the check can fail


def test_chinese_renders_as_glyphs_not_the_missing_glyph_box():
    # matplotlib draws a character that its font lacks with its last-resort font: a box naming the character's
    # block (for CJK, a boxed 字). That box is the "tofu" the map must not show.
    font = cjk_font()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        chinese = raster(TITLE, font)
        tofu = raster(TITLE, LAST_RESORT)
    assert missing_glyph_warnings(caught) == []
    ink = chinese[..., :3].min(axis=2) < 128
    assert ink.sum() > 2000  # the glyphs are drawn...
    assert not np.array_equal(chinese, tofu)  # ...and they are not the missing-glyph boxes
    for char in "云阳县乡镇覆盖率":
        assert not np.array_equal(raster(char, font), raster(char, LAST_RESORT))


def test_the_same_check_catches_tofu_in_a_font_without_chinese():
    dejavu = FontProperties(fname=findfont("DejaVu Sans"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        chinese = raster("云阳县", dejavu)
    assert len(missing_glyph_warnings(caught)) == 3
    assert np.array_equal(chinese, raster("云阳县", LAST_RESORT))


def test_rendering_the_map_draws_every_glyph_and_the_png_decodes():
    features = grid_features([0.1, 0.35, 0.6, None, 0.9, 0.2])
    spec = ChoroplethSpec(
        title=TITLE,
        legend_title="覆盖率",
        subtitle="2025-01-01 至 2025-12-31 · 产业：柑橘",
        footnote="注：边界为合成示意，非官方边界。",
        percent=True,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        png = render_choropleth(features, "coverage", spec)
    assert missing_glyph_warnings(caught) == []
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.size == (1200, 1200)
    image.load()
    pixels = np.asarray(image.convert("RGB"))
    # The title band at the top has dark text on white.
    assert (pixels[:80].min(axis=2) < 100).sum() > 500


# --- map elements ----------------------------------------------------------------------------------


def texts_of(figure) -> list[str]:
    return [t.get_text() for t in figure.findobj(lambda a: hasattr(a, "get_text")) if t.get_text()]


def test_legend_lists_the_fisher_jenks_classes_and_no_data():
    values = [0.0, 0.05, 0.1, 0.8, 0.9, 1.0, None]
    spec = ChoroplethSpec(title=TITLE, legend_title="覆盖率", percent=True, classes=2)
    figure = choropleth_figure(grid_features(values), "coverage", spec)
    ax = figure.axes[0]
    legend = ax.get_legend()
    assert legend.get_title().get_text() == "覆盖率"
    assert [t.get_text() for t in legend.get_texts()] == ["0–10%", "11–100%", "无数据"]
    # Each class's polygons are filled with its legend colour; the missing one is grey and hatched.
    patches = legend.get_patches()
    collections = ax.collections
    assert len(collections) == 3
    for collection, patch in zip(collections, patches, strict=True):
        assert np.allclose(collection.get_facecolor()[0], patch.get_facecolor())
    assert len(collections[0].get_paths()) == 3 and len(collections[1].get_paths()) == 3
    assert collections[2].get_hatch() == "///"
    assert np.allclose(
        collections[2].get_facecolor()[0][:3], [int(MISSING_COLOR[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    )


def test_map_has_title_names_scale_bar_and_north_arrow():
    features = grid_features([1, 5, 9, 30])
    spec = ChoroplethSpec(title=TITLE, legend_title="服务次数", subtitle="全部日期", footnote="制图：农技")
    figure = choropleth_figure(features, "coverage", spec)
    ax = figure.axes[0]
    texts = texts_of(figure)
    assert TITLE in texts and "全部日期" in texts and "制图：农技" in texts
    assert all(f["name"] in texts for f in features)
    scale_bars = [a for a in ax.artists if isinstance(a, ScaleBar)]
    assert len(scale_bars) == 1 and scale_bars[0].dx == 1 and scale_bars[0].units == "m"
    arrows = [t for t in ax.texts if t.get_text() == "N" and t.arrow_patch is not None]
    assert len(arrows) == 1
    (x0, y0), (x1, y1) = arrows[0].xy, arrows[0].xyann
    assert x0 == x1 and y0 > y1  # pointing straight up
    # Drawn in metres (UTM 49N), so the scale bar's one unit per metre is true: a square's bottom edge is as long
    # as on the ellipsoid (4.78 km), to within the projection's scale error.
    corners = ax.collections[0].get_paths()[0].vertices
    edges = np.hypot(*np.diff(corners, axis=0).T)
    bottom = Geod(ellps="WGS84").line_length([108.5, 108.55], [30.8, 30.8])
    assert bottom == pytest.approx(4780, rel=0.01)
    assert min(edges) == pytest.approx(bottom, rel=0.002)


def test_labels_are_left_out_for_many_divisions_unless_asked():
    many = grid_features(list(range(90)), names=[f"村{i}" for i in range(90)])
    assert "村0" not in texts_of(choropleth_figure(many, "coverage", ChoroplethSpec(title="t", legend_title="l")))
    assert "村0" in texts_of(
        choropleth_figure(many, "coverage", ChoroplethSpec(title="t", legend_title="l", labels=True))
    )


def test_one_distinct_value_gives_one_class_from_the_floor():
    figure = choropleth_figure(grid_features([3, 3, 3]), "coverage", ChoroplethSpec(title="t", legend_title="l"))
    assert [t.get_text() for t in figure.axes[0].get_legend().get_texts()] == ["1–3"]


def test_never_visited_divisions_have_their_own_hatched_class_whatever_their_value():
    features = grid_features([0.0, 0.1, 1.0, 0.2, None])
    for feature, visits in zip(features, [0, 3, 8, 2, 0], strict=True):
        feature["visits"] = visits
    spec = ChoroplethSpec(title="t", legend_title="l", percent=True, classes=2, missing_label="无示范户")
    ax = choropleth_figure(features, "coverage", spec).axes[0]
    # The unvisited 0% and the unvisited division without households are "not visited", the others values.
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["0–20%", "21–100%", "未走访"]
    unvisited = ax.collections[2]
    assert unvisited.get_hatch() == "\\\\\\" and len(unvisited.get_paths()) == 2
    assert np.allclose(
        unvisited.get_facecolor()[0][:3], [int(UNVISITED_COLOUR[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    )


def test_names_have_a_white_halo_and_stay_readable_on_the_darkest_class():
    features = grid_features([0.1, 0.2, 1.0])
    spec = ChoroplethSpec(title="t", legend_title="l", percent=True, classes=2, dpi=200)
    figure = choropleth_figure(features, "coverage", spec)
    ax = figure.axes[0]
    darkest = ax.collections[-1].get_facecolor()[0][:3]
    assert sum(darkest) < 1.0  # the last class is dark green
    name = next(t for t in ax.texts if t.get_text() == features[2]["name"])
    (halo,) = name.get_path_effects()
    assert halo._gc["foreground"] == "white" and halo._gc["linewidth"] >= 2
    # In the picture: around the name on the dark square, white pixels (the halo) next to dark ones (the text).
    figure.canvas.draw()
    box = name.get_window_extent()
    pixels = np.asarray(figure.canvas.buffer_rgba())[..., :3].astype(int)
    height = pixels.shape[0]
    patch = pixels[int(height - box.y1) : int(height - box.y0), int(box.x0) : int(box.x1)]
    assert (patch.min(axis=2) > 240).sum() > 50 and (patch.max(axis=2) < 80).sum() > 20


def test_the_map_draws_the_classification_it_is_given():
    features = grid_features([0.1, 0.4, 0.9])
    for feature in features:
        feature["visits"] = 1
    given = classify_features(features, "coverage", scheme="equal_interval", k=3, percent=True)
    spec = ChoroplethSpec(title="t", legend_title="l", scheme="quantiles", classes=2, classification=given)
    ax = choropleth_figure(features, "coverage", spec).axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [c.label for c in given.classes]
    assert [to_hex(p.get_facecolor()) for p in ax.get_legend().get_patches()] == [c.colour for c in given.classes]


def test_divisions_without_boundary_are_left_out_and_none_at_all_is_an_error():
    features = grid_features([0.2, 0.4])
    features.append({"name": "无边界镇", "coverage": 0.5, "geometry": None})
    assert "无边界镇" not in texts_of(
        choropleth_figure(features, "coverage", ChoroplethSpec(title="t", legend_title="l"))
    )
    with pytest.raises(NothingToDraw):
        render_choropleth([{"name": "x", "coverage": 1, "geometry": None}], "coverage", ChoroplethSpec("t", "l"))
