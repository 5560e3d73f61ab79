import re

from django import forms
from django.core.paginator import EmptyPage, InvalidPage, PageNotAnInteger
from django.core.paginator import Page as DjangoPage
from django.core.paginator import Paginator as DjangoPaginator
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _
from rest_framework import pagination
from rest_framework.exceptions import NotFound, ValidationError

from agri.api.filters import UtcIsoDateTimeField


class StrictPageSizeMixin:
    """``?page_size=`` must be a whole number of at least 1 (a 400 otherwise, instead of DRF's silent default);
    larger than ``max_page_size`` is capped."""

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if not raw:  # absent, or empty as a form sends it: the default
            return self.page_size
        if not (raw.isascii() and raw.isdigit()) or int(raw) < 1:
            raise ValidationError({self.page_size_query_param: [_("Give a whole number of at least 1.")]})
        return min(int(raw), self.max_page_size)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"]["minimum"] = 1
                most = self.max_page_size
                parameter["description"] = f"Rows per page, at least 1; more than {most} gives {most}."
        return parameters


class PageNumberPagination(StrictPageSizeMixin, pagination.PageNumberPagination):
    """``{"count", "next", "previous", "results"}``; ``?page_size=`` up to 500."""

    page_size_query_param = "page_size"
    max_page_size = 500

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_query_param:
                parameter["schema"]["minimum"] = 1
        return parameters


# What an ISO 8601 time is written with: anything else in a cursor's position (a NUL, a letter) was not put there by
# this server.
POSITION_CHARACTERS = re.compile(r"[0-9T:. Z+-]{10,40}", re.ASCII)


class SyncCursorPagination(StrictPageSizeMixin, pagination.CursorPagination):
    """Stable order for pulling changes to a phone: by ``updated_at``, then id."""

    ordering = ("updated_at", "id")
    page_size = 500
    page_size_query_param = "page_size"
    max_page_size = 1000

    invalid_cursor_message = _("Invalid cursor: start the pull again from its first page.")

    def decode_cursor(self, request):
        """DRF's cursor, whose position (an ``updated_at`` the client hands back) must be a time the database can
        compare: a cursor that does not decode, or whose position is not such a time, is a 400 ``invalid``."""
        try:
            cursor = super().decode_cursor(request)
        except NotFound:
            raise self._invalid() from None
        if cursor is None or cursor.position is None:
            return cursor
        if not POSITION_CHARACTERS.fullmatch(cursor.position):
            raise self._invalid()
        try:
            position = UtcIsoDateTimeField().clean(cursor.position)
        except forms.ValidationError:
            raise self._invalid() from None
        if position is None:
            raise self._invalid()
        return cursor._replace(position=position.isoformat())

    def _invalid(self) -> ValidationError:
        return ValidationError({self.cursor_query_param: [self.invalid_cursor_message]}, code="invalid")

    def paginate_queryset(self, queryset, request, view=None):
        # A pull pages by cursor; a `page` it would ignore is still checked as the list checks it (404 if bad).
        page = request.query_params.get("page")
        if page and not (page.isascii() and page.isdigit() and int(page) >= 1):
            raise NotFound(_("Invalid page."))
        return super().paginate_queryset(queryset, request, view)


def is_pull(view) -> bool:
    """A list with a non-empty ``?updated_since=`` is a pull. An empty one is no filter, as every empty query
    parameter is (the schema says ``allowEmptyValue``): the page-numbered list, whose ``page`` is checked. A phone's
    first pull names the epoch: ``updated_since=1970-01-01T00:00:00Z``."""
    return getattr(view, "action", None) == "list" and bool(view.request.query_params.get("updated_since"))


class PullablePagination(PageNumberPagination):
    """A list that ``?updated_since=`` turns into a pull (``SyncCursorPagination``): documents both page styles."""

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["description"] += " A pull (`?updated_since=`) takes up to 1000."
        cursor = SyncCursorPagination()
        parameters += [
            p for p in cursor.get_schema_operation_parameters(view) if p["name"] == cursor.cursor_query_param
        ]
        return parameters

    def get_paginated_response_schema(self, schema):
        response = super().get_paginated_response_schema(schema)
        response["required"] = ["results"]
        response["properties"]["count"]["description"] = "Rows in all pages; absent from a pull (`?updated_since=`)."
        return response


class CappedPaginator(DjangoPaginator):
    """Django's paginator with a capped count: exact up to ``cap`` rows, counted with a LIMITed subquery
    (``SELECT COUNT(*) FROM (... LIMIT cap + 1)``), so that the count reads at most ``cap + 1`` rows whatever the
    table's size. Past the cap ``count`` and ``num_pages`` are None, and a page is found by reading one row past
    its end: there is a next page when that row exists."""

    def __init__(self, object_list, per_page, cap: int):
        super().__init__(object_list, per_page)
        self.cap = cap

    def counted(self):
        """What the count reads: at most ``cap + 1`` rows of the list, their keys only (so that an index on the
        filtered columns answers it without the table)."""
        return self.object_list.order_by().values("pk")[: self.cap + 1]

    @cached_property
    def count(self) -> int | None:
        counted = self.counted().count()
        return counted if counted <= self.cap else None

    @cached_property
    def num_pages(self) -> int | None:
        return None if self.count is None else super().num_pages

    def validate_number(self, number):
        if self.count is not None:
            return super().validate_number(number)
        try:
            if isinstance(number, float) and not number.is_integer():
                raise ValueError
            number = int(number)
        except (TypeError, ValueError):
            raise PageNotAnInteger(self.error_messages["invalid_page"]) from None
        if number < 1:
            raise EmptyPage(self.error_messages["min_page"])
        return number

    def page(self, number):
        if self.count is not None:
            return super().page(number)
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        rows = list(self.object_list[bottom : bottom + self.per_page + 1])
        if not rows and number > 1:
            raise EmptyPage(self.error_messages["no_results"])
        return CappedPage(rows[: self.per_page], number, self, more=len(rows) > self.per_page)


class CappedPage(DjangoPage):
    def __init__(self, object_list, number, paginator, more: bool):
        super().__init__(object_list, number, paginator)
        self.more = more

    def has_next(self) -> bool:
        return self.more


COUNT_CAP = 10_000


class CappedCountPagination(PullablePagination):
    """The visit list's pages: ``count`` is exact up to ``COUNT_CAP`` visits and null beyond, where ``next`` and
    ``previous`` still page on (docs/api.md, "Lists"). A count of every visible visit would read all of them on
    every page: millions for a province."""

    count_cap = COUNT_CAP

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        page_size = self.get_page_size(request)
        paginator = CappedPaginator(queryset, page_size, self.count_cap)
        page_number = self.get_page_number(request, paginator)
        try:
            self.page = paginator.page(page_number)
        except InvalidPage as exc:
            raise NotFound(self.invalid_page_message.format(page_number=page_number, message=str(exc))) from None
        # The browsable API's page links need the number of pages.
        self.display_page_controls = bool(paginator.num_pages and paginator.num_pages > 1)
        return list(self.page)

    def get_page_number(self, request, paginator):
        number = request.query_params.get(self.page_query_param) or 1
        if number in self.last_page_strings:
            return paginator.num_pages  # None past the cap: a 404, as for any page that is not a number
        return number

    def get_paginated_response_schema(self, schema):
        response = super().get_paginated_response_schema(schema)
        response["properties"]["count"].update(
            nullable=True,
            description=(
                f"Visits in all pages, when there are at most {self.count_cap:,}; null when there are more (follow "
                "`next`, which is null on the last page). Absent from a pull (`?updated_since=`)."
            ),
        )
        return response
