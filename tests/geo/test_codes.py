"""Tests for geo.codes: 12-digit statistical division codes, with real Yunyang County (云阳县) codes."""

import pytest
from django.utils import translation

from geo.codes import Level, code_errors, full_code, is_jurisdiction, significant_prefix

PROVINCE = "500000000000"  # 重庆市
CITY = "500200000000"  # 县 (Chongqing's county-level grouping)
COUNTY = "500235000000"  # 云阳县
TOWNSHIP = "500235001000"  # 双江街道
OTHER_TOWNSHIP = "500235002000"  # 青龙街道
VILLAGE = "500235001001"  # 杏家湾社区, under 双江街道

LENGTH_MESSAGE = "A division code has exactly 12 digits."


@pytest.fixture(autouse=True)
def english():
    # The project's default language is zh-hans; the assertions below compare English source messages.
    with translation.override("en"):
        yield


# --- code_errors --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "level", "parent_code", "parent_level"),
    [
        (PROVINCE, Level.PROVINCE, None, None),
        (CITY, Level.CITY, PROVINCE, Level.PROVINCE),
        (COUNTY, Level.COUNTY, CITY, Level.CITY),
        (TOWNSHIP, Level.TOWNSHIP, COUNTY, Level.COUNTY),
        (VILLAGE, Level.VILLAGE, TOWNSHIP, Level.TOWNSHIP),
        ("500235001003", Level.VILLAGE, TOWNSHIP, Level.TOWNSHIP),
    ],
    ids=["province", "city", "county", "township", "village", "second-village"],
)
def test_code_errors_accepts_valid_code_under_its_parent(code, level, parent_code, parent_level):
    assert code_errors(code, level, parent_code, parent_level) == []


def test_code_errors_accepts_plain_string_levels():
    assert code_errors(VILLAGE, "village", TOWNSHIP, "township") == []


def test_code_errors_skips_parent_checks_without_a_parent():
    assert code_errors(VILLAGE, Level.VILLAGE, None, None) == []
    # Both parent fields are needed for the parent checks.
    assert code_errors(VILLAGE, Level.VILLAGE, COUNTY, None) == []
    assert code_errors(VILLAGE, Level.VILLAGE, None, Level.COUNTY) == []


@pytest.mark.parametrize(
    "code",
    ["50023500100", "5002350010011", "500235", "", None],
    ids=["11-digits", "13-digits", "6-digit-prefix", "empty", "none"],
)
def test_code_errors_rejects_wrong_length_with_only_the_length_message(code):
    assert code_errors(code, Level.VILLAGE, TOWNSHIP, Level.TOWNSHIP) == [LENGTH_MESSAGE]


@pytest.mark.parametrize(
    "code",
    ["50023500100a", "500235 01001", "-50023500100", "5002350010.1", "50023500100_"],
    ids=["letter", "space", "sign", "dot", "underscore"],
)
def test_code_errors_rejects_non_digits(code):
    assert code_errors(code, Level.VILLAGE, TOWNSHIP, Level.TOWNSHIP) == [LENGTH_MESSAGE]


def test_code_errors_rejects_township_code_with_non_zero_village_digits():
    errors = code_errors(VILLAGE, Level.TOWNSHIP, COUNTY, Level.COUNTY)
    assert errors == ["A township code ends in zeros after its first 9 digits."]


@pytest.mark.parametrize(
    ("code", "level", "n"),
    [
        ("500100000000", Level.PROVINCE, 2),
        ("500235000000", Level.CITY, 4),
        ("500235001000", Level.COUNTY, 6),
    ],
)
def test_code_errors_zeros_rule_applies_at_every_level(code, level, n):
    errors = code_errors(code, level, None, None)
    assert errors == [f"A {Level(level).label} code ends in zeros after its first {n} digits."]


def test_code_errors_rejects_wrong_parent_prefix():
    # 500235001001 lies under 双江街道 (500235001), not 青龙街道 (500235002).
    errors = code_errors(VILLAGE, Level.VILLAGE, OTHER_TOWNSHIP, Level.TOWNSHIP)
    assert errors == ["The code must start with its parent's prefix 500235002."]


def test_code_errors_rejects_township_in_another_county():
    errors = code_errors(TOWNSHIP, Level.TOWNSHIP, "500236000000", Level.COUNTY)
    assert errors == ["The code must start with its parent's prefix 500236."]


@pytest.mark.parametrize(
    ("code", "level", "parent_code", "parent_level", "message"),
    [
        (VILLAGE, Level.VILLAGE, COUNTY, Level.COUNTY, "The parent of a village must be a township."),
        (TOWNSHIP, Level.TOWNSHIP, CITY, Level.CITY, "The parent of a township must be a county."),
        (COUNTY, Level.COUNTY, PROVINCE, Level.PROVINCE, "The parent of a county must be a city."),
        (CITY, Level.CITY, TOWNSHIP, Level.TOWNSHIP, "The parent of a city must be a province."),
    ],
    ids=["village-under-county", "township-under-city", "county-under-province", "city-under-township"],
)
def test_code_errors_rejects_wrong_parent_level(code, level, parent_code, parent_level, message):
    assert code_errors(code, level, parent_code, parent_level) == [message]


def test_code_errors_wrong_parent_level_is_reported_instead_of_prefix():
    # A village under a county of another prefix: the level error is the one reported.
    errors = code_errors(VILLAGE, Level.VILLAGE, "500236000000", Level.COUNTY)
    assert errors == ["The parent of a village must be a township."]


def test_code_errors_reports_zeros_and_prefix_problems_together():
    errors = code_errors(VILLAGE, Level.TOWNSHIP, "500236000000", Level.COUNTY)
    assert errors == [
        "A township code ends in zeros after its first 9 digits.",
        "The code must start with its parent's prefix 500236.",
    ]


def test_code_errors_messages_render_as_strings():
    errors = code_errors(VILLAGE, Level.TOWNSHIP, "500236000000", Level.COUNTY) + code_errors(
        "1", Level.VILLAGE, None, None
    )
    assert len(errors) == 3
    assert all(isinstance(str(e), str) and str(e) for e in errors)


def test_code_errors_messages_are_translated_to_chinese():
    # The length message is returned lazily, so it is rendered inside the override.
    with translation.override("zh-hans"):
        messages = [
            str(e)
            for e in code_errors("123", Level.VILLAGE, None, None)
            + code_errors(VILLAGE, Level.TOWNSHIP, "500236000000", Level.COUNTY)
            + code_errors(VILLAGE, Level.VILLAGE, COUNTY, Level.COUNTY)
        ]
    assert messages == [
        "区划代码必须为 12 位数字。",
        "乡级代码在前 9 位之后必须全为 0。",
        "代码必须以上级区划前缀 500236 开头。",
        "村的上级必须是乡级。",
    ]


# --- significant_prefix / full_code -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (PROVINCE, "50"),
        (CITY, "5002"),
        (COUNTY, "500235"),
        (TOWNSHIP, "500235001"),
        (VILLAGE, "500235001001"),
        ("500235101000", "500235101"),
        ("500235100000", "500235100"),  # a township whose own digits end in zeros keeps them
        ("500230000000", "500230"),
    ],
)
def test_significant_prefix_strips_trailing_level_zeros(code, expected):
    assert significant_prefix(code) == expected


@pytest.mark.parametrize("code", ["", "50", "5002", "500235", "500235001", "50023500100"])
def test_significant_prefix_returns_non_12_digit_codes_unchanged(code):
    assert significant_prefix(code) == code


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("50", PROVINCE),
        ("5002", CITY),
        ("500235", COUNTY),
        ("500235001", TOWNSHIP),
        (VILLAGE, VILLAGE),
        ("", "000000000000"),
    ],
)
def test_full_code_pads_with_zeros_to_12_digits(code, expected):
    assert full_code(code) == expected
    assert len(full_code(code)) == 12


@pytest.mark.parametrize("code", [PROVINCE, CITY, COUNTY, TOWNSHIP, VILLAGE, "500235101000"])
def test_full_code_inverts_significant_prefix(code):
    assert full_code(significant_prefix(code)) == code


# --- is_jurisdiction ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["", "50", "5002", "500235", "500235001", "500235001001"])
def test_is_jurisdiction_accepts_everywhere_and_level_prefixes(value):
    assert is_jurisdiction(value) is True


@pytest.mark.parametrize(
    "value",
    ["5", "500", "50023", "5002350", "50023500", "5002350010", "50023500100", "5002350010010"],
)
def test_is_jurisdiction_rejects_lengths_that_are_not_a_level(value):
    assert is_jurisdiction(value) is False


@pytest.mark.parametrize("value", ["50023a", " 50023", "-50023", "5002.3", "50 235", "5002350010a1"])
def test_is_jurisdiction_rejects_non_digits(value):
    assert is_jurisdiction(value) is False


def test_codes_and_jurisdictions_take_ascii_digits_only():
    assert code_errors("５００２３５００１００１", "village", None, None) != []
    assert code_errors("500235001001\n", "village", None, None) != []
    assert not is_jurisdiction("５００２３５")
    assert not is_jurisdiction("50023²")
    assert is_jurisdiction("500235")
