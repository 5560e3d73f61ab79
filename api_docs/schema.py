"""Every OpenAPI customisation of the project: summaries, tags and request/response examples.

Summaries are derived from the model's name and the action unless a view sets one with
``extend_schema``. Examples are looked up by schema component name (or by operationId for
responses without a component) in the data files of api_docs/examples/, so each resource's
example lives there once and serves every operation.
"""

import contextlib
import functools
import gettext
import inspect
import json
import re
import threading
from pathlib import Path

from django.utils.translation import gettext_lazy as _
from drf_spectacular import openapi
from drf_spectacular.contrib.knox_auth_token import KnoxTokenScheme
from drf_spectacular.drainage import get_override
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.plumbing import build_basic_type, force_instance, is_patched_serializer, is_serializer
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample
from rest_framework import serializers
from rest_framework.permissions import SAFE_METHODS, AllowAny

from agri.api.base import ConditionalGetMixin
from agri.api.network_serializers import MaskedPersonalDataMixin
from agri.api.throttling import WriteRateThrottle
from agri.privacy import MASKED_FIELDS

# Each summary with "a" and with "an" before the model's English name: the English article depends on it.
VERBS = {
    "list": (_("List %(plural)s"), _("List %(plural)s")),
    "retrieve": (_("Get one %(name)s"), _("Get one %(name)s")),
    "create": (_("Create a %(name)s"), _("Create an %(name)s")),
    "update": (_("Replace a %(name)s"), _("Replace an %(name)s")),
    "partial_update": (_("Update fields of a %(name)s"), _("Update fields of an %(name)s")),
    "destroy": (_("Delete a %(name)s"), _("Delete an %(name)s")),
}

# Request and response examples are data: one JSON file per schema component in api_docs/examples/, named after it
# (``IndustryRequest.json`` for a request body, ``Industry.json`` for a response), and one per operation whose JSON
# response has no component, in api_docs/examples/operations/ and named after its operationId. The tests in
# tests/api_docs/test_examples.py check them both ways: each file validates against its schema and is shown, and
# every JSON request body and success response has one.
EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"


def load_examples(directory: Path = EXAMPLES_DIR) -> dict[str, object]:
    """Each example file's path under ``directory`` without ``.json`` (``Industry``, ``operations/<id>``) -> value."""
    return {
        path.relative_to(directory).with_suffix("").as_posix(): json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(directory.rglob("*.json"))
    }


EXAMPLES = load_examples()


def _json_success(key) -> bool:
    """Whether a key of a ``{status: serializer}`` or ``{(status, media type): serializer}`` map is a JSON success."""
    if isinstance(key, tuple):
        status, media_type = key
        return str(status).startswith("2") and media_type == "application/json"
    return str(key).startswith("2")


class FieldErrorSerializer(serializers.Serializer):
    code = serializers.CharField(
        help_text=_("Machine-readable reason, e.g. `required`, `max_value`, `does_not_exist`.")
    )
    message = serializers.CharField(help_text=_("The reason in the caller's language."))


class ErrorSerializer(serializers.Serializer):
    """Every error of the API: a machine-readable `code`, a `message` in the caller's language and the `fields` at
    fault."""

    code = serializers.CharField(help_text=_("Machine-readable and stable, e.g. `invalid`, `not_found`, `throttled`."))
    message = serializers.CharField(help_text=_("Follows `Accept-Language` (zh-hans or en)."))
    fields = serializers.DictField(
        child=serializers.ListField(child=FieldErrorSerializer()),
        help_text=_("Each offending field (a dotted path for nested items) with its reasons; empty otherwise."),
    )


# Error statuses every operation may answer, by what the operation takes (see AutoSchema._error_statuses).
ERROR_DESCRIPTIONS = {
    "400": _("Invalid parameters or body: `fields` says which and why."),
    "401": _(
        "No token (`not_authenticated`), or a refused one: `token_expired`, `token_revoked` or `token_invalid`. "
        "Log in again."
    ),
    "403": _("The caller's role may not do this."),
    "404": _("No such record within the caller's jurisdiction (or no such page)."),
    "409": _("The record conflicts with a stored one, or is still referenced by others."),
    "413": _("The request body is too large."),
    "415": _("The body's media type is not accepted here."),
    "429": _("Too many requests: retry later (see `Retry-After`)."),
    "503": _(
        "The database or the shared cache does not answer just now (`retry_later`): nothing was kept; send the same "
        "request again after `Retry-After` seconds."
    ),
}

# Parameters whose filter or view gives no description of their own, by name.
PARAMETER_DESCRIPTIONS = {
    "active": _("Only records that are active (true) or inactive (false)."),
    "base": _("Only records of this demonstration base (its id)."),
    "bases": _("Only commissioners serving this demonstration base (its id); repeat for several."),
    "boundary_synthetic": _("Only divisions whose boundary is (true) or is not (false) an approximation."),
    "code": _("The record's code."),
    "commissioner": _("Only visits by this tech commissioner (its id)."),
    "county": _("Only experts of this county (its division code)."),
    "date_from": _("Only visits on or after this date (Asia/Shanghai)."),
    "date_to": _("Only visits on or before this date (Asia/Shanghai)."),
    "expert": _("Only records of this expert (its id)."),
    "farmer": _("Only visits to this farmer (its id)."),
    "flag": _("Only visits with this quality flag."),
    "flagged": _("Only visits with (true) or without (false) a quality flag."),
    "format": _("The answer's format."),
    "home_township": _("Only workers whose home township has this division code."),
    "household": _("Only records of this model household (its id)."),
    "id": _("The record's id."),
    "If-Match": _("The record's ETag: when sent, a record changed since is not changed (412)."),
    "in_service_year": _("Only commissioners in service in this year."),
    "incomplete": _("Only visits that miss (true) or have (false) a required detail."),
    "industry": _("Only records of this industry (its code)."),
    "kind": _("Only visits of this kind."),
    "level": _("Only divisions of this level."),
    "host_type": _("Only stations with this type of host."),
    "affiliation_type": _("Only commissioners with this type of affiliation."),
    "is_township_based": _("Only workers based in a township (true) or not (false)."),
    "parent": _("Only the divisions directly under this one (its code)."),
    "radius_km": _("The radius around `near`, in km (default 1)."),
    "station": _("Only records of this station (its id)."),
    "status": _("Only records with this status."),
    "stations": _("Only commissioners serving this station (its id); repeat for several."),
    "token_key": _("The device token's key, as the device list gives it."),
    "updated_since": _(
        "A pull: only records changed at or after this time (ISO 8601), oldest first, with the ones deleted since."
    ),
    "village": _("Only records in this village (its division code)."),
    "visit_id": _("The visit's id."),
    "worker": _("Only records of this extension worker (its id)."),
}


NO_NUL_PATTERN = "^[^\\u0000]*$"


def decimal_pattern(max_digits: int | None, decimal_places: int | None, *, empty: bool = False) -> str:
    """What DRF's DecimalField takes as a JSON string: at least one digit (or "", which a nullable one takes as
    null). drf-spectacular's own pattern makes every digit optional, so that "-" and "." match it, which the server
    refuses."""
    places = decimal_places
    whole = max_digits - (places or 0) if max_digits is not None else None
    integer = rf"\d{{1,{whole}}}" if whole else r"\d+"
    if places == 0:
        number = rf"-?{integer}"
    else:
        some, any_ = (rf"\d{{1,{places}}}", rf"\d{{0,{places}}}") if places else (r"\d+", r"\d*")
        number = rf"-?(?:{integer}(?:\.{any_})?|\.{some})"
    return rf"^(?:{number})?$" if empty else rf"^{number}$"


class AutoSchema(openapi.AutoSchema):
    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is not None:
            if not self.view.get_authenticators():
                # No token is read (login, health): drf-spectacular's `[{}]` ("optional") makes client generators
                # ask for an authenticated client.
                operation.pop("security", None)
            self._add_conditional_get(operation)
            self._add_error_responses(operation)
        return operation

    def _add_conditional_get(self, operation) -> None:
        """The GETs that carry an ETag and answer 304 to a current If-None-Match (``ConditionalGetMixin``): one
        record, and a pull page (a list with ``updated_since``)."""
        if self.method != "GET" or not isinstance(self.view, ConditionalGetMixin):
            return
        action = getattr(self.view, "action", None)
        parameters = operation.setdefault("parameters", [])
        if action in self.view.conditional_actions:
            description = str(_("The ETag of an earlier answer: 304 (no body) if the record is unchanged."))
        elif action == "list" and any(p["name"] == "updated_since" for p in parameters):
            description = str(
                _("On a pull (`updated_since`), the ETag of an earlier answer: 304 (no body) if the page is unchanged.")
            )
        else:
            return
        parameters.append(
            {"in": "header", "name": "If-None-Match", "schema": {"type": "string"}, "description": description}
        )
        responses = operation.setdefault("responses", {})
        if "200" in responses:
            responses["200"].setdefault("headers", {})["ETag"] = {
                "schema": {"type": "string"},
                "description": str(
                    _("The answer's ETag (a record's id and version for visits, households and farmers). Pulls only.")
                    if action == "list"
                    else _("The answer's ETag (a record's id and version for visits, households and farmers).")
                ),
            }
        responses["304"] = {"description": str(_("Not modified: the ETag in If-None-Match is current."))}

    def _get_parameters(self):
        parameters = super()._get_parameters()
        for parameter in parameters:
            if not parameter.get("description") and parameter["name"] in PARAMETER_DESCRIPTIONS:
                parameter["description"] = str(PARAMETER_DESCRIPTIONS[parameter["name"]])
            # A title names a generated client's types (`VisitsList类型`): the parameter's name does that.
            parameter.get("schema", {}).pop("title", None)
            # An empty query parameter (`?industry=`, as HTML forms send it) is the same as leaving it out.
            if parameter["in"] == "query" and not parameter.get("required"):
                parameter["allowEmptyValue"] = True
            # No NUL character in the path or the query (agri.middleware.NulCharacterMiddleware).
            schema = parameter.get("schema", {})
            if parameter["in"] in ("query", "path") and schema.get("type") == "string":
                if not ({"pattern", "enum", "format"} & set(schema)):
                    schema["pattern"] = NO_NUL_PATTERN
        return parameters

    def _error_statuses(self, operation) -> list[str]:
        """The error statuses the operation can answer with, derived from what it takes and who may call it."""
        parameters = operation.get("parameters", [])
        has_body = "requestBody" in operation
        public = any(isinstance(permission, AllowAny) for permission in self.view.get_permissions())
        # Every request may meet a database or cache outage (agri.api.exceptions: DatabaseUnavailable).
        codes = {"503"}
        if has_body or any(p["in"] == "query" for p in parameters):
            codes.add("400")
        if self.view.get_authenticators():
            codes.add("401")  # a refused token is a 401 even where no token is needed
        if not public:
            codes.add("403")
        if any(p["in"] == "path" for p in parameters) or any(p["name"] == "page" for p in parameters):
            codes.add("404")
        if self.method == "DELETE" or self._is_create_operation():
            codes.add("409")
        if has_body:
            codes |= {"413", "415"}
        # Writes are throttled per account (WriteRateThrottle); a view may add its own throttle (login).
        own_throttle = any(not isinstance(t, WriteRateThrottle) for t in self.view.get_throttles())
        if self.method not in SAFE_METHODS or own_throttle:
            codes.add("429")
        return sorted(codes)

    def _add_error_responses(self, operation) -> None:
        """Every error of the API has the same JSON body: document it on each status an operation can answer."""
        error = self.resolve_serializer(ErrorSerializer, "response").ref
        responses = operation.setdefault("responses", {})
        codes = set(self._error_statuses(operation)) | {code for code in responses if code[0] in "45"}
        for code in sorted(codes):
            response = responses.setdefault(code, {"description": str(ERROR_DESCRIPTIONS.get(code, ""))})
            if not response.get("content"):
                response["content"] = {"application/json": {"schema": error}}
        operation["responses"] = dict(sorted(responses.items()))

    def _model_names(self):
        queryset = getattr(self.view, "queryset", None)
        if queryset is None:
            return None, None
        meta = queryset.model._meta
        return meta.verbose_name, meta.verbose_name_plural

    def get_summary(self):
        summary = super().get_summary()
        if summary:
            return summary
        action = getattr(self.view, "action", None)
        name, plural = self._model_names()
        if action in VERBS and name:
            # In the schema's language: the model's names are translated.
            summary = VERBS[action][_english(name)[0] in "aeiou"]
            return str(summary) % {"name": name, "plural": plural}
        doc = (self.view.__doc__ or "").strip().splitlines()
        return doc[0].rstrip(".") if doc else None

    def get_description(self):
        """The action's or the view's own docstring: an inherited one (a mixin's) is a note about the code."""
        action = getattr(self.view, "action", None) or self.method.lower()
        for owner in type(self.view).__mro__:
            if action in owner.__dict__:
                if owner is type(self.view) and getattr(owner.__dict__[action], "__doc__", None):
                    return inspect.cleandoc(owner.__dict__[action].__doc__)
                break
        own = type(self.view).__dict__.get("__doc__")
        return inspect.cleandoc(own) if own else ""

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if isinstance(field, serializers.DecimalField) and "pattern" in schema:
            schema["pattern"] = decimal_pattern(field.max_digits, field.decimal_places, empty=field.allow_null)
        return schema

    def _map_basic_serializer(self, serializer, direction):
        schema = super()._map_basic_serializer(serializer, direction)
        # A serializer is described by its own docstring only: drf-spectacular takes the first one of the class
        # hierarchy, so every serializer without one was described by a mixin's note about the code.
        if get_override(serializer, "description") is None:
            own = type(serializer).__dict__.get("__doc__")
            if own:
                schema["description"] = inspect.cleandoc(own)
            else:
                schema.pop("description", None)
        if direction == "response" and isinstance(serializer, MaskedPersonalDataMixin):
            # Answers mask these (138****1234) for callers who may not see them: the input's pattern does not apply.
            for name in MASKED_FIELDS:
                field = schema["properties"].get(name)
                if field is not None:
                    kept = {key: value for key, value in field.items() if key in ("title", "readOnly", "nullable")}
                    schema["properties"][name] = {
                        **kept,
                        "type": "string",
                        "description": str(
                            _("Masked (e.g. `138****1234`) unless the caller is a bureau admin or the record's owner.")
                        ),
                    }
        return schema

    def map_parsers(self):
        # The API's clients send JSON. The form parsers stay for the browsable API's HTML forms, where an empty
        # field means "absent" or null: a semantics a JSON schema cannot state, so they are not documented.
        # Photo uploads take multipart only and keep it.
        parsers = super().map_parsers()
        return ["application/json"] if "application/json" in parsers else parsers

    def get_filter_backends(self):
        # GIS exports answer with a file, not a list, but take the list's filters: document them.
        if getattr(self.view, "schema_list_filters", False):
            return getattr(self.view, "filter_backends", [])
        return super().get_filter_backends()

    def get_examples(self):
        examples = super().get_examples()
        if examples:
            return examples
        out = []
        if self.method in ("POST", "PUT", "PATCH"):
            request_example = EXAMPLES.get(self._example_name(self.get_request_serializer(), "request"))
            if request_example is not None:
                if self.method == "PATCH":
                    request_example = dict(list(request_example.items())[:2])
                out.append(OpenApiExample("request", value=request_example, request_only=True))
        response_example = EXAMPLES.get(self._example_name(self.get_response_serializers(), "response"))
        if response_example is None:
            response_example = EXAMPLES.get(f"operations/{self.get_operation_id()}")
        if response_example is not None:
            # drf-spectacular shows an example without status codes on 200 and 201 only: a 202 (a job) names its own.
            codes = [k[0] if isinstance(k, tuple) else k for k in self._response_map() if _json_success(k)]
            status_codes = [str(c) for c in codes] if any(str(c) not in ("200", "201") for c in codes) else None
            out.append(
                OpenApiExample("response", value=response_example, response_only=True, status_codes=status_codes)
            )
        return out

    def _response_map(self) -> dict:
        responses = self.get_response_serializers()
        return responses if isinstance(responses, dict) else {}

    def _example_name(self, serializer, direction) -> str | None:
        """The component whose example file serves this request or response (a PATCH body: the full one's)."""
        if isinstance(serializer, dict):  # {status: serializer} or {(status, media type): serializer}: the JSON success
            serializer = next((v for k, v in serializer.items() if _json_success(k)), None)
        if not is_serializer(serializer):
            return None
        serializer = force_instance(serializer)
        name = self._get_serializer_name(serializer, direction)
        return name.removeprefix("Patched") if is_patched_serializer(serializer, direction) else name


def enum_varname(value, index: int) -> str:
    """An identifier for an enum value (`x-enum-varnames`): the value in upper case if it spells one."""
    name = re.sub(r"\W+", "_", str(value)).strip("_").upper() if str(value).isascii() else ""
    if not name or not (name[0].isalpha() or name[0] == "_"):
        name = f"VALUE_{name or index}"
    return name


def _enum_schemas(node):
    if isinstance(node, dict):
        if isinstance(node.get("enum"), list):
            yield node
        for value in node.values():
            yield from _enum_schemas(value)
    elif isinstance(node, list):
        for value in node:
            yield from _enum_schemas(value)


# drf-spectacular's own texts, which it has no zh-hans translation of: ours.
RESPONSE_DESCRIPTIONS = {"": _("Success."), "No response body": _("No response body")}


def translate_response_descriptions(result, generator, request, public):
    """Postprocessing hook: a success without a description of its own, and a 204, say so in the schema's
    language."""
    for item in result.get("paths", {}).values():
        for operation in item.values():
            for response in operation.get("responses", {}).values() if isinstance(operation, dict) else ():
                text = response.get("description")
                if text in RESPONSE_DESCRIPTIONS:
                    response["description"] = str(RESPONSE_DESCRIPTIONS[text])
    return result


# The texts that views and serializers write in English (docstrings, extend_schema's summaries and descriptions), in
# each other language of the schema: a gettext catalogue of its own (domain "schema"), whose messages are the schema's
# texts. `manage.py schema_messages` brings it up to date with the code; tests/api_docs/test_schema.py checks that
# every text of the Chinese schema is Chinese, test_schema_catalogue.py that the catalogue matches the code.
SCHEMA_LOCALE = Path(__file__).resolve().parent / "locale"
TRANSLATED_KEYS = ("summary", "description", "title")
SKIPPED_KEYS = ("example", "examples", "enum", "default", "x-enum-varnames")


_catalogue_off = threading.local()


@contextlib.contextmanager
def without_schema_catalogue():
    """Build schemas without the schema's own catalogue (what `manage.py schema_messages` reads)."""
    _catalogue_off.value = True
    try:
        yield
    finally:
        _catalogue_off.value = False


@functools.cache
def schema_catalogue(language: str) -> gettext.NullTranslations:
    from django.utils.translation import to_locale

    return gettext.translation("schema", SCHEMA_LOCALE, languages=[to_locale(language)], fallback=True)


def schema_texts(schema):
    """(the dict, its key) of every summary, description and title of a schema, outside ``info`` (the API's name),
    examples and enums."""
    yield from _texts({key: value for key, value in schema.items() if key != "info"})


def _texts(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key in SKIPPED_KEYS:
                continue
            if key in TRANSLATED_KEYS and isinstance(value, str):
                yield node, key
            else:
                yield from _texts(value)
    elif isinstance(node, list):
        for value in node:
            yield from _texts(value)


CHOICE_LINE = re.compile(r"^\* `([^`]*)` - (.*)$")


def _codes_only(paragraph: str) -> bool:
    """Whether a paragraph is drf-spectacular's list of choices whose labels only repeat their codes."""
    lines = paragraph.strip().splitlines()
    matches = [CHOICE_LINE.match(line) for line in lines]
    if not lines or not all(matches):
        return False
    return all(re.sub(r"[\W_]", "", m[1]).lower() == re.sub(r"[\W_]", "", m[2]).lower() for m in matches)


def drop_codes_only_choice_lists(result, generator, request, public):
    """Postprocessing hook: a list of choices whose labels repeat the codes (`* `visit` - visit`) tells nothing the
    enum does not, in no language: drop it (lists with real labels, `* `proposed` - 申报中`, stay)."""
    for node, key in list(schema_texts(result)):
        if key != "description" or "* `" not in node[key]:
            continue
        kept = [paragraph for paragraph in node[key].split("\n\n") if not _codes_only(paragraph)]
        text = "\n\n".join(kept).strip()
        if text:
            node[key] = text
        elif node.get("in") in ("query", "path", "header") and node.get("name") in PARAMETER_DESCRIPTIONS:
            node[key] = str(PARAMETER_DESCRIPTIONS[node["name"]])
        else:
            del node[key]
    return result


def translate_texts(result, generator, request, public):
    """Postprocessing hook (the last one): the English texts of the code in the schema's language."""
    from django.conf import settings
    from django.utils import translation

    if getattr(_catalogue_off, "value", False):
        return result
    catalogue = schema_catalogue(translation.get_language() or settings.LANGUAGE_CODE)
    for node, key in schema_texts(result):
        if node[key]:
            node[key] = catalogue.gettext(node[key])
    info = result.get("info", {})
    if info.get("description"):
        info["description"] = catalogue.gettext(info["description"])
    return result


def add_enum_varnames(result, generator, request, public):
    """Postprocessing hook: every enum names its values for client generators (`x-enum-varnames`), so that no
    generated identifier depends on a label's language."""
    for schema in _enum_schemas({"paths": result.get("paths", {}), "components": result.get("components", {})}):
        values = [value for value in schema["enum"] if value is not None]
        if values and all(isinstance(value, (str, int)) for value in values):
            schema["x-enum-varnames"] = [enum_varname(value, i) for i, value in enumerate(values)]
    return result


def _english(text: str) -> str:
    """A translatable text in English."""
    from django.utils import translation

    with translation.override("en"):
        return str(text)


class LookupFieldExtension(OpenApiSerializerFieldExtension):
    """Visit payload ids resolved against preloaded rows: document each as the id type it takes."""

    target_class = "agri.api.visit_serializers.LookupField"

    def map_serializer_field(self, auto_schema, direction):
        kind = self.target.kind
        if kind in ("household", "farmer"):
            return build_basic_type(OpenApiTypes.UUID)
        if kind in ("base", "station"):
            return build_basic_type(OpenApiTypes.INT)
        return build_basic_type(OpenApiTypes.STR)


class TokenScheme(KnoxTokenScheme):
    """The OpenAPI security scheme of the API's token authentication: knox's, under the same name."""

    target_class = "agri.api.authentication.TokenAuthentication"
