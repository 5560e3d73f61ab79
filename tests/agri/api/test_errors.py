"""One error shape everywhere: {"code", "message", "fields"}, with the message in the caller's language."""

import pytest

from agri.models import ModelHousehold


def test_validation_errors_list_each_field_with_code(world, clients):
    response = clients["worker"].post(
        "/api/v1/model-households/", {"lat": 120, "lon": "abc"}, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert body["message"] == "The request contains invalid data."
    assert body["fields"]["lat"] == [{"code": "max_value", "message": "Ensure this value is less than or equal to 90."}]
    assert body["fields"]["lon"][0]["code"] == "invalid"
    assert body["fields"]["head_name"][0]["code"] == "required"
    assert body["fields"]["village_code"][0]["code"] == "required"
    assert ModelHousehold.objects.count() == 4


@pytest.mark.parametrize(
    ("language", "message"),
    [("zh-hans", "请求包含无效数据。"), ("en", "The request contains invalid data."), (None, "请求包含无效数据。")],
)
def test_message_follows_accept_language_and_defaults_to_chinese(world, clients, language, message):
    headers = {"HTTP_ACCEPT_LANGUAGE": language} if language else {}
    response = clients["worker"].post("/api/v1/model-households/", {}, **headers)
    assert response.status_code == 400
    assert response.json()["message"] == message


def test_nan_coordinates_are_rejected(world, clients):
    response = clients["worker"].post(
        "/api/v1/model-households/",
        '{"head_name": "x", "lat": NaN, "lon": 108.7, "village_code": "500235001001"}',
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json()["code"] in {"invalid", "parse_error"}


def test_malformed_json_is_400_parse_error(world, clients):
    response = clients["worker"].post("/api/v1/model-households/", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


def test_unknown_object_is_404_in_error_shape(world, clients):
    response = clients["admin"].get("/api/v1/stations/999999/", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 404
    body = response.json()
    assert body["code"] == "not_found"
    assert body["fields"] == {}
    assert body["message"]


def test_method_not_allowed_is_405_in_error_shape(world, clients):
    response = clients["admin"].delete(f"/api/v1/field-schools/{world['FS1'].pk}/")
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"


@pytest.mark.parametrize("key", ["-7736178749762347991040", "9223372036854775808"])
@pytest.mark.parametrize("name", ["bases", "stations"])
def test_out_of_range_key_in_multiple_choice_filter_is_400(world, clients, name, key):
    """A key beyond 64 bits in a repeatable filter is an unknown choice, not a driver overflow."""
    known = world["S1"].pk if name == "stations" else world["B1"].pk
    response = clients["admin"].get(
        f"/api/v1/tech-commissioners/?{name}={known}&{name}={key}", HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert body["fields"][name][0]["code"] == "invalid_choice"
    assert key in body["fields"][name][0]["message"]


def test_in_range_keys_in_multiple_choice_filter_still_filter(world, clients):
    response = clients["admin"].get(f"/api/v1/tech-commissioners/?stations={world['S1'].pk}")
    assert response.status_code == 200
    assert [row["id"] for row in response.json()["results"]] == [world["C1"].pk]


def test_a_list_builds_its_filter_set_only_when_the_query_names_a_filter(world, clients, monkeypatch):
    """The backend skips django-filter's form for an unfiltered list; a named filter, even empty or invalid,
    still goes through it."""
    from agri.api.filters import ExtensionWorkerFilterSet

    built = []
    init = ExtensionWorkerFilterSet.__init__

    def spy(self, *args, **kwargs):
        built.append(kwargs.get("data"))
        init(self, *args, **kwargs)

    monkeypatch.setattr(ExtensionWorkerFilterSet, "__init__", spy)
    every = clients["admin"].get("/api/v1/extension-workers/?page_size=50&ordering=name")
    assert every.status_code == 200 and every.json()["count"] == 3
    assert built == []
    one = clients["admin"].get(f"/api/v1/extension-workers/?expert={world['E1'].pk}")
    assert one.status_code == 200 and {w["id"] for w in one.json()["results"]} <= {world["W1"].pk, world["W2"].pk}
    assert len(built) == 1
    bad = clients["admin"].get("/api/v1/extension-workers/?expert=abc")
    assert bad.status_code == 400 and bad.json()["fields"]["expert"][0]["code"] == "invalid_choice"
    assert len(built) == 2


@pytest.mark.parametrize(
    ("body", "content_type", "zh", "en"),
    [
        (
            "{not json",
            "application/json",
            "请求体不是有效的 JSON（第 1 行第 2 列）。",
            "The body is not valid JSON (line 1, column 2).",
        ),
        (
            '{"a": 1,\n "b": }',
            "application/json",
            "请求体不是有效的 JSON（第 2 行第 7 列）。",
            "The body is not valid JSON (line 2, column 7).",
        ),
        (
            '{"lat": NaN}',
            "application/json",
            "请求体不是有效的 JSON（第 1 行第 9 列）。",
            "The body is not valid JSON (line 1, column 9).",
        ),
        (
            "--x\r\nbroken",
            "multipart/form-data",
            "请求体不是有效的 multipart/form-data。",
            "The body is not valid multipart/form-data.",
        ),
    ],
)
def test_a_body_that_does_not_parse_is_a_parse_error_in_the_callers_language(
    world, clients, body, content_type, zh, en
):
    for language, message in (("zh-hans", zh), ("en", en)):
        response = clients["worker"].post(
            "/api/v1/model-households/", body, content_type=content_type, HTTP_ACCEPT_LANGUAGE=language
        )
        assert response.status_code == 400, response.content
        assert response.json() == {"code": "parse_error", "message": message, "fields": {}}


def test_a_body_that_is_not_text_in_its_declared_charset_is_a_parse_error_in_the_callers_language(world, clients):
    messages = {"zh-hans": "请求体不是有效的 us-ascii 文本。", "en": "The body is not valid us-ascii text."}
    for language, message in messages.items():
        response = clients["worker"].post(
            "/api/v1/model-households/",
            '{"head_name": "陈大富"}'.encode(),
            content_type="application/json; charset=us-ascii",
            HTTP_ACCEPT_LANGUAGE=language,
        )
        assert response.status_code == 400
        assert response.json() == {"code": "parse_error", "message": message, "fields": {}}


def test_the_json_parser_names_a_charset_it_does_not_know():
    """Django drops an unknown charset from the request before DRF parses; a parser given one still answers a
    parse_error in the active language."""
    import io

    from django.utils import translation
    from rest_framework.exceptions import ParseError

    from agri.api.renderers import JSONParser

    with translation.override("zh-hans"), pytest.raises(ParseError) as raised:
        JSONParser().parse(io.BytesIO(b"{}"), parser_context={"encoding": "x-nonesuch"})
    assert raised.value.get_codes() == "parse_error"
    assert str(raised.value.detail) == "请求体的字符集 x-nonesuch 无法识别。"
