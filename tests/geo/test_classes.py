"""geo.classes: the map classes the PNG and the web map share. Edges in whole units that never overlap, no class of
a single value, "not visited" and "missing" apart, and every value in the class whose range holds it."""

import numpy as np
import pytest
from django.utils import translation

from geo.classes import MISSING, MISSING_COLOUR, UNVISITED, UNVISITED_COLOUR, classify, classify_features

# Township coverage of the Yunyang demo: most townships fully covered, a few below, some without households.
DEMO_COVERAGE = [0.857, 0.9, 0.9, 0.9, 0.941, 0.941, 0.947, 0.967] + [1.0] * 30


def ranges(classification) -> list[tuple[float, float]]:
    return [(c.lower, c.upper) for c in classification.classes if c.lower is not None]


def assert_well_formed(classification, values, percent: bool):
    """Edges contiguous in whole units and disjoint; no single-value class unless there is one class; every value
    (rounded to the units) inside its class's range; counts right."""
    scale = 100 if percent else 1
    bounds = [(round(lo * scale), round(up * scale)) for lo, up in ranges(classification)]
    for (_, up), (lo, _) in zip(bounds, bounds[1:], strict=False):
        assert lo == up + 1
    if len(bounds) > 1:
        assert all(lo < up for lo, up in bounds)
    by_key = {c.key: c for c in classification.classes}
    for value, key in zip(values, classification.members, strict=True):
        cls = by_key[key]
        if cls.lower is not None:
            assert cls.lower * scale <= np.floor(value * scale + 0.5) <= cls.upper * scale
    for cls in classification.classes:
        assert cls.count == classification.members.count(cls.key)


@pytest.mark.parametrize("scheme", ["fisher_jenks", "quantiles", "equal_interval"])
def test_demo_coverage_classes_have_whole_percent_edges_that_do_not_overlap(scheme):
    c = classify(DEMO_COVERAGE, scheme=scheme, k=5, percent=True)
    assert_well_formed(c, DEMO_COVERAGE, percent=True)
    assert c.classes[0].label.startswith("0–") and c.classes[-1].label.endswith("–100%")
    assert all("%" in x.label and "." not in x.label for x in c.classes)


def test_fisher_jenks_on_the_demo_coverage():
    c = classify(DEMO_COVERAGE, scheme="fisher_jenks", k=5, percent=True)
    assert [(x.label, x.count) for x in c.classes] == [
        ("0–86%", 1),
        ("87–90%", 3),
        ("91–95%", 3),
        ("96–97%", 1),
        ("98–100%", 30),
    ]
    assert c.classes[0].lower == 0 and c.classes[0].upper == pytest.approx(0.86)


def test_counts_start_at_one_and_large_edges_have_two_significant_digits():
    values = [1] * 20 + [2, 3, 4, 6, 9, 14, 23, 41, 137, 412, 1377]
    c = classify(values, k=5)
    assert_well_formed(c, values, percent=False)
    assert c.classes[0].lower == 1
    assert all(u < 100 or u == max(values) or u % 10 == 0 for _, u in ranges(c))
    assert c.classes[-1].label.endswith("–1,377")


def test_a_single_unit_class_is_merged_into_a_neighbour():
    # Equal intervals of 1..10 into 9 classes would be nine single values; pairs instead.
    c = classify(list(range(1, 11)), scheme="equal_interval", k=9)
    assert [x.label for x in c.classes] == ["1–2", "3–4", "5–6", "7–8", "9–10"]
    # The last class at 100% alone joins the one below it.
    c = classify([0.2, 0.5, 0.99, 1.0], scheme="fisher_jenks", k=4, percent=True)
    assert_well_formed(c, [0.2, 0.5, 0.99, 1.0], percent=True)
    assert all(x.lower < x.upper for x in c.classes)


def test_one_value_is_one_class_from_the_floor():
    assert [x.label for x in classify([3, 3, 3]).classes] == ["1–3"]
    assert [x.label for x in classify([0.4, 0.4], percent=True).classes] == ["0–40%"]
    # Only when the value is the floor itself is the class a single value: there is nothing else to show.
    assert [x.label for x in classify([0, 0]).classes] == ["0"]


@translation.override("en")
def test_not_visited_and_missing_are_classes_of_their_own():
    values = [0.0, 0.3, None, 0.0, 1.0, None]
    unvisited = [True, False, True, False, False, False]
    c = classify(values, k=2, percent=True, unvisited=unvisited, labels={MISSING: "No households"})
    keys = [x.key for x in c.classes]
    assert keys[-2:] == [UNVISITED, MISSING]
    assert c.members[0] == UNVISITED and c.members[2] == UNVISITED  # not visited wins over no value
    assert c.members[5] == MISSING and c.members[3] != UNVISITED  # a visited 0% is a value
    special = {x.key: x for x in c.classes[-2:]}
    assert special[UNVISITED].colour == UNVISITED_COLOUR and special[UNVISITED].label == "Not visited"
    assert special[MISSING].colour == MISSING_COLOUR and special[MISSING].label == "No households"
    assert (special[UNVISITED].count, special[MISSING].count) == (2, 1)
    # Special classes appear only when they occur.
    assert [x.key for x in classify([1, 2, 3]).classes if x.lower is None] == []


def test_colours_run_light_to_dark_and_differ():
    c = classify(list(range(1, 50)), k=5)
    colours = [x.colour for x in c.classes]
    assert len(set(colours)) == 5 and all(len(x) == 7 and x.startswith("#") for x in colours)
    lightness = [sum(int(x[i : i + 2], 16) for i in (1, 3, 5)) for x in colours]
    assert lightness == sorted(lightness, reverse=True)


def test_classify_features_takes_unvisited_from_the_visits():
    features = [
        {"coverage": 0.0, "visits": 0},
        {"coverage": 0.5, "visits": 2},
        {"coverage": None, "visits": 4},
        {"coverage": 0.9, "visits": 7},
    ]
    c = classify_features(features, "coverage", k=2, percent=True)
    assert c.members[0] == UNVISITED and c.members[2] == MISSING
    assert c.as_dict()["classes"][0] == {
        "key": "1",
        "label": c.classes[0].label,
        "colour": c.classes[0].colour,
        "count": 1,
        "lower": 0.0,
        "upper": c.classes[0].upper,
    }


def test_an_unknown_scheme_is_refused():
    with pytest.raises(ValueError):
        classify([1, 2], scheme="natural")


def test_fisher_jenks_breaks_are_mapclassifys():
    import warnings

    import mapclassify

    # Counts under 100 (whole numbers: no bound is rounded) spread enough that no class is a single value.
    values = np.minimum(np.floor(np.random.default_rng(7).gamma(2, 8, 300)) + 1, 99)
    for k in (3, 5, 7):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = mapclassify.FisherJenks(values, k=k).bins
        c = classify(values.tolist(), scheme="fisher_jenks", k=k)
        snapped = sorted({int(b) for b in expected if b < values.max()} | {int(values.max())})
        assert [int(round(x.upper)) for x in c.classes] == snapped


def test_many_values_fall_back_to_quantiles():
    values = list(range(1, 6002))
    c = classify(values, scheme="fisher_jenks", k=4)
    assert [x.upper for x in c.classes] == [1500, 3000, 4500, 6001]
