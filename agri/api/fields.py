from collections.abc import Mapping

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail, ValidationError
from rest_framework.utils import html

from agri.models.base import BIGINT_MAX
from agri.selectors.scope import visible_rows
from agri.validators import validate_single_line, validate_text
from geo.models import AdminDivision


def scoped_choices(queryset, user):
    """The rows a writable relation offers and accepts: those ``user`` may read, and of client records only the live
    ones (no new links to a tombstone)."""
    queryset = visible_rows(queryset, user)
    if any(f.name == "deleted_at" for f in queryset.model._meta.concrete_fields):
        queryset = queryset.filter(deleted_at__isnull=True)
    return queryset


class ScopedRelationsMixin:
    """Every writable relation of the serializer (a select of the browsable API's forms, an id in a body) holds only
    the rows the caller may read (:func:`scoped_choices`): an out-of-scope id gets the same "does not exist" error as
    a missing one, and a form never lists another county's rows. A field whose ``get_queryset`` applies a rule of its
    own says so with ``scopes_itself``."""

    def get_fields(self):
        fields = super().get_fields()
        user = getattr(self.context.get("request"), "user", None)
        for field in fields.values():
            related = getattr(field, "child_relation", field)
            if (
                isinstance(related, serializers.RelatedField)
                and not related.read_only
                and related.queryset is not None
                and not getattr(related, "scopes_itself", False)
            ):
                related.queryset = scoped_choices(related.queryset, user)
        return fields


class DivisionCodeField(serializers.PrimaryKeyRelatedField):
    """A 12-digit division code of a given level, inside the caller's jurisdiction (not its ancestors: a record is
    placed inside it)."""

    scopes_itself = True

    def __init__(self, level: str, **kwargs):
        self.level = level
        kwargs.setdefault("queryset", AdminDivision.objects.all())
        super().__init__(**kwargs)

    def get_queryset(self):
        request = self.context.get("request")
        jurisdiction = request.user.jurisdiction if request and request.user.is_authenticated else ""
        return AdminDivision.objects.filter(level=self.level).within(jurisdiction)

    def to_representation(self, value):
        return value.pk if hasattr(value, "pk") else value

    def use_pk_only_optimization(self):
        return True


def unmatchable(value) -> bool:
    """A key no row can have, which a database refuses to even compare: text with U+0000 (PostgreSQL cannot hold
    it) or an integer beyond 64 bits (out of range for PostgreSQL's bigint, an OverflowError for SQLite)."""
    if isinstance(value, str):
        return "\x00" in value or (value.isascii() and value.isdigit() and int(value) > BIGINT_MAX)
    return isinstance(value, int) and not isinstance(value, bool) and not -BIGINT_MAX <= value <= BIGINT_MAX


def json_type(field) -> str | None:
    """The JSON type a writable field takes in a JSON body, as the schema documents it (None: any, or not checked
    here because DRF's own parsing already refuses other types, as for dates and times)."""
    declared = getattr(field, "json_type", None)
    if declared:
        return declared
    if isinstance(field, serializers.BooleanField):
        return "boolean"
    if isinstance(field, serializers.IntegerField):
        return "integer"
    if isinstance(field, serializers.FloatField):
        return "number"
    if isinstance(field, serializers.CharField | serializers.UUIDField | serializers.DecimalField):
        return "string"  # decimals are documented (and answered) as strings, e.g. "320.00"
    if isinstance(field, serializers.MultipleChoiceField | serializers.ListField | serializers.ManyRelatedField):
        return "array"
    if isinstance(field, serializers.ChoiceField):
        kinds = {type(key) for key in field.choices}
        return "integer" if kinds == {int} else "string" if kinds == {str} else None
    if isinstance(field, serializers.SlugRelatedField):
        return "string"
    if isinstance(field, serializers.PrimaryKeyRelatedField):
        queryset = field.get_queryset() if field.queryset is None else field.queryset
        pk = queryset.model._meta.pk
        return "integer" if pk.get_internal_type() in ("AutoField", "BigAutoField", "IntegerField") else "string"
    if isinstance(field, serializers.ListSerializer):
        return "array"
    if isinstance(field, serializers.Serializer):
        return "object"
    return None


def json_type_matches(kind: str, value) -> bool:
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        if isinstance(value, float):
            return value.is_integer()
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return not isinstance(value, bool) and isinstance(value, int | float)
    if kind == "string":
        return isinstance(value, str)
    if kind == "array":
        return isinstance(value, list)
    if kind == "object":
        return isinstance(value, Mapping)
    return True


def _wrong_type(field, value, first: str | None = None):
    """The field's own (translated) message for a value of the wrong type."""
    name = type(value).__name__
    for key in (first, "incorrect_type", "not_a_list", "invalid", "invalid_choice"):
        if key in field.error_messages:
            try:
                field.fail(
                    key,
                    data_type=name,
                    input_type=name,
                    datatype=name,
                    input=value,
                    format="ISO 8601",
                    pk_value=value,
                    slug_name=getattr(field, "slug_field", ""),
                    value=value,
                )
            except ValidationError as exc:
                return exc.detail
    return [ErrorDetail(str(serializers.Field.default_error_messages["invalid"]), code="invalid")]


def _item_type(field) -> str | None:
    if isinstance(field, serializers.ManyRelatedField):
        return json_type(field.child_relation)
    if isinstance(field, serializers.ListField):
        return json_type(field.child)
    if isinstance(field, serializers.MultipleChoiceField):
        return json_type(serializers.ChoiceField(choices=field.choices))
    return None


class StrictJSONTypesMixin(ScopedRelationsMixin):
    """The base of every request serializer: its relations are scoped (:class:`ScopedRelationsMixin`), and a JSON
    body must give each field the JSON type the schema documents.

    DRF turns 12 into "12" for a text field, "12" into 12 for a number, "yes" and 1 into true and 5 into a UUID:
    handy for HTML forms, where everything is text, but in JSON it accepts payloads the API documents as invalid.
    Form input (the browsable API) keeps DRF's parsing.

    Text a person types carries no control character (``agri.validators``): one-line values (names, codes) none at
    all, free text (a model's ``TextField``, or a field styled as a textarea) none but tab and line breaks.
    Passwords are left as typed.
    """

    def get_fields(self):
        fields = super().get_fields()
        for field in fields.values():
            if isinstance(field, serializers.ListField) and not field.read_only:
                field = field.child
            if not isinstance(field, serializers.CharField) or field.read_only:
                continue
            style = getattr(field, "style", {})
            if style.get("input_type") == "password":
                continue
            multiline = style.get("base_template") == "textarea.html"
            field.validators.append(validate_text if multiline else validate_single_line)
        return fields

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            self._refuse_unmatchable_keys(data)
            self._refuse_control_characters(data)
        if isinstance(data, Mapping) and not html.is_html_input(data):
            errors = {}
            for field in self._writable_fields:
                value = data.get(field.field_name)
                if value is None:
                    continue
                kind = json_type(field)
                if value == "" and isinstance(field, serializers.RelatedField):
                    # DRF reads "" as null for a relation (an HTML form's empty select); in JSON it names no row.
                    errors[field.field_name] = _wrong_type(field, value, first="does_not_exist")
                elif kind and not json_type_matches(kind, value):
                    errors[field.field_name] = _wrong_type(field, value)
                elif kind == "array" and (item_kind := _item_type(field)):
                    child = getattr(field, "child_relation", None) or getattr(field, "child", None) or field
                    wrong = {
                        index: _wrong_type(child, item)
                        for index, item in enumerate(value)
                        if item is not None and not json_type_matches(item_kind, item)
                    }
                    if wrong:
                        errors[field.field_name] = wrong
            if errors:
                # Report the other fields' errors too, as DRF would: one answer lists every problem.
                try:
                    super().to_internal_value(data)
                except ValidationError as exc:
                    if isinstance(exc.detail, dict):
                        errors = {**exc.detail, **errors}
                raise ValidationError(errors)
        return super().to_internal_value(data)

    def _refuse_control_characters(self, data) -> None:
        """The text validators, on the value as sent: DRF trims whitespace (a tab, U+001F) before its validators
        run, and takes text of whitespace only as blank, so a trailing control character would pass unseen."""
        errors = {}
        for field in self._writable_fields:
            if field.field_name not in data:
                continue
            values = data.getlist(field.field_name) if hasattr(data, "getlist") else data[field.field_name]
            text_field = field.child if isinstance(field, serializers.ListField) else field
            for validator in getattr(text_field, "validators", []):
                if validator not in (validate_single_line, validate_text):
                    continue
                for value in values if isinstance(values, list) else [values]:
                    if isinstance(value, str) and value:
                        try:
                            validator(value)
                        except DjangoValidationError as exc:
                            errors[field.field_name] = [ErrorDetail(exc.message, code=exc.code)]
        if errors:
            raise ValidationError(errors)

    def _refuse_unmatchable_keys(self, data) -> None:
        """A relation given a key no row can have does not exist: answered before any query is made with it."""
        errors = {}
        for field in self._writable_fields:
            related = getattr(field, "child_relation", field)
            if not isinstance(related, serializers.RelatedField) or field.field_name not in data:
                continue
            values = data.getlist(field.field_name) if hasattr(data, "getlist") else data[field.field_name]
            for value in values if isinstance(values, list) else [values]:
                if unmatchable(value):
                    errors[field.field_name] = _wrong_type(related, value, first="does_not_exist")
                    break
        if errors:
            raise ValidationError(errors)


class QuerySerializer(ScopedRelationsMixin, serializers.Serializer):
    """Query parameters validated as a serializer (the API's 400 with the fields at fault). An empty value, as an
    HTML form sends it, counts as not given, so the field's default applies."""

    def to_internal_value(self, data):
        return super().to_internal_value({key: value for key, value in data.items() if value != ""})
