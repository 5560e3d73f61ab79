"""Map classes: the one classification that the PNG maps (``geo.maps``) and the web map (through the coverage API)
both draw, so that a division has the same class, colour and legend label in both.

- The class breaks come from jenkspy (Fisher-Jenks, exact, in C) or mapclassify (quantiles, equal intervals) and
  are then snapped to the units a person reads: whole numbers for counts (two significant digits from 100 up),
  whole percents for shares.
- Classes are ranges of those units that never share an edge: ``1–3``, ``4–10``, ``11–25`` visits; ``0–11%``,
  ``12–29%``. A value belongs to the class that holds it once rounded to the same units. The first class starts
  at the domain's floor (0%, or 1 visit) rather than at the smallest value.
- No class holds a single value: such a class is merged into its neighbour (unless every value is the same).
- Divisions with no visit in the period are their own class ("not visited"), whatever their value, and so are
  divisions whose value is undefined (coverage without households: "missing").
"""

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from django.utils.translation import gettext_lazy as _

SCHEMES = {"fisher_jenks": "FisherJenks", "quantiles": "Quantiles", "equal_interval": "EqualInterval"}
# Fisher-Jenks is exact and quadratic in the number of values: jenkspy takes 0.5 ms for 478 values, 0.3 s for 5,000
# (mapclassify's pure-Python version, without numba, 0.7 s and minutes). Above this many values quantiles are used.
FISHER_JENKS_MAX = 5000
UNVISITED = "unvisited"
MISSING = "missing"
UNVISITED_COLOUR = "#f4a582"  # warm, apart from the sequential greens (and the hexagons' purples); hatched on the PNG
MISSING_COLOUR = "#d9d9d9"
SPECIAL_LABELS = {UNVISITED: _("Not visited"), MISSING: _("No data")}


@dataclass(frozen=True)
class MapClass:
    """One legend entry. ``lower``/``upper`` are inclusive bounds in the values' units (shares 0-1 for percent
    classifications); None for the special classes."""

    key: str
    label: str
    colour: str
    count: int
    lower: float | None = None
    upper: float | None = None


@dataclass(frozen=True)
class Classification:
    """The legend (``classes``: value classes in ascending order, then the special ones that occur) and the class
    key of each classified value, in input order."""

    classes: list[MapClass]
    members: list[str]
    scheme: str
    percent: bool = False
    colour_of: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "colour_of", {c.key: c.colour for c in self.classes})

    def as_dict(self) -> dict:
        """The legend as JSON-ready data (what the coverage API returns)."""
        return {
            "scheme": self.scheme,
            "percent": self.percent,
            "classes": [
                {
                    "key": c.key,
                    "label": c.label,
                    "colour": c.colour,
                    "count": c.count,
                    "lower": c.lower,
                    "upper": c.upper,
                }
                for c in self.classes
            ],
        }


def classify(
    values: Sequence[float | None],
    *,
    scheme: str = "fisher_jenks",
    k: int = 5,
    percent: bool = False,
    unvisited: Sequence[bool] | None = None,
    cmap: str = "YlGn",
    labels: dict[str, str] | None = None,
) -> Classification:
    """Class ``values`` (counts, or shares 0-1 with ``percent``) into at most ``k`` classes by ``scheme``.

    ``unvisited`` marks values whose division had no visit: they form the "not visited" class; None values form the
    "missing" class. ``labels`` overrides the special classes' labels (``{"missing": "No households"}``).
    """
    if scheme not in SCHEMES:
        raise ValueError(f"unknown scheme {scheme!r}")
    raw = np.array([np.nan if v is None else float(v) for v in values], dtype=float)
    off = np.zeros(len(raw), dtype=bool) if unvisited is None else np.asarray(unvisited, dtype=bool)
    missing = np.isnan(raw) & ~off
    valued = ~np.isnan(raw) & ~off
    scale = 100 if percent else 1
    units = np.floor(raw[valued] * scale + 0.5).astype(np.int64)  # half up, as a person rounds

    members = np.full(len(raw), "", dtype=object)
    classes: list[MapClass] = []
    if units.size:
        floor = 0 if percent else min(1, int(units.min()))
        uppers = _breaks(units, scheme, k, floor)
        lowers = [floor] + [u + 1 for u in uppers[:-1]]
        index = np.searchsorted(np.array(uppers), units, side="left")
        palette = _palette(cmap, len(uppers))
        for i, (lower, upper) in enumerate(zip(lowers, uppers, strict=True)):
            members[np.flatnonzero(valued)[index == i]] = str(i + 1)
            classes.append(
                MapClass(
                    key=str(i + 1),
                    label=_range_label(lower, upper, percent),
                    colour=palette[i],
                    count=int((index == i).sum()),
                    lower=lower / scale,
                    upper=upper / scale,
                )
            )
    names = {key: str(label) for key, label in {**SPECIAL_LABELS, **(labels or {})}.items()}
    for key, mask, colour in ((UNVISITED, off, UNVISITED_COLOUR), (MISSING, missing, MISSING_COLOUR)):
        if mask.any():
            members[mask] = key
            classes.append(MapClass(key=key, label=names[key], colour=colour, count=int(mask.sum())))
    return Classification(classes=classes, members=members.tolist(), scheme=scheme, percent=percent)


def _breaks(units: np.ndarray, scheme: str, k: int, floor: int) -> list[int]:
    """Inclusive upper bounds (whole units, ascending, the last the largest value) of classes starting at ``floor``
    that each hold a value and span at least two units."""
    distinct = np.unique(units)
    top = int(distinct[-1])
    uppers = [top]
    if len(distinct) >= 2 and k >= 2:
        k = min(k, len(distinct))
        if scheme == "fisher_jenks" and len(units) > FISHER_JENKS_MAX:
            scheme = "quantiles"
        if scheme == "fisher_jenks":
            import jenkspy

            bins = jenkspy.jenks_breaks(units.astype(float), n_classes=k)[1:]
        else:
            # Imported here, not with the module: mapclassify pulls in scikit-learn, seconds that every manage.py
            # command would pay when the URLconf loads.
            import mapclassify

            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", category=UserWarning)  # "not enough unique values"
                bins = getattr(mapclassify, SCHEMES[scheme])(units.astype(float), k=k).bins
        uppers = sorted({n for n in (_nice(b) for b in bins) if floor <= n < top} | {top})
    kept: list[int] = []
    for upper in uppers:  # a class that holds no value goes: the next one starts where it started
        if ((units >= (kept[-1] + 1 if kept else floor)) & (units <= upper)).any():
            kept.append(upper)
    while len(kept) > 1:
        lowers = [floor] + [u + 1 for u in kept[:-1]]
        single = [i for i, (lo, up) in enumerate(zip(lowers, kept, strict=True)) if lo == up]
        if not single:
            break
        # A single-unit class takes in the class above it; the last one is taken in by the class below.
        i = single[0]
        del kept[i if i < len(kept) - 1 else i - 1]
    return kept


def _nice(value: float) -> int:
    """A class bound as a person writes it: a whole number, with two significant digits from 100 up."""
    whole = int(np.floor(value + 0.5))
    if whole < 100:
        return whole
    step = 10 ** (len(str(whole)) - 2)
    return int(np.floor(whole / step + 0.5)) * step


def _range_label(lower: int, upper: int, percent: bool) -> str:
    suffix = "%" if percent else ""
    if lower == upper:  # every value is the same
        return f"{lower:,}{suffix}"
    return f"{lower:,}–{upper:,}{suffix}"


def _palette(cmap: str, n: int) -> list[str]:
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    return [to_hex(colormaps[cmap](x)) for x in np.linspace(0.15, 0.9, n)] if n > 1 else [to_hex(colormaps[cmap](0.5))]


def classify_features(
    features: Sequence[dict],
    value: str,
    *,
    scheme: str = "fisher_jenks",
    k: int = 5,
    percent: bool = False,
    cmap: str = "YlGn",
    labels: dict[str, str] | None = None,
) -> Classification:
    """:func:`classify` of ``feature[value]`` over division features (the coverage rows): those whose ``visits`` is
    0 are "not visited", those whose value is None "missing"."""
    return classify(
        [f[value] for f in features],
        scheme=scheme,
        k=k,
        percent=percent,
        unvisited=[f.get("visits", 1) == 0 for f in features],
        cmap=cmap,
        labels=labels,
    )
