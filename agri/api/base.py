"""Base views and mixins that the resource modules (``*_views.py``) share.

- :class:`ScopedModelViewSet`: every queryset is the model's ``visible_to(user)``.
- :class:`ClientRecordMixin`: create by a client-generated id (idempotent), soft delete, pulls with tombstones.
- :class:`IfMatchMixin`: optimistic locking of edits with ``If-Match``.
- :class:`QueryAPIView` and :class:`FileView`: reads whose query is a serializer, and reads that answer a file;
  their errors are the API's JSON whatever format was asked for.
"""

from rest_framework import status, viewsets
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from agri import errors
from agri.api.exceptions import PreconditionRequired
from agri.api.pagination import PullablePagination, SyncCursorPagination, is_pull
from agri.api.permissions import ADMIN, IsBureauStaff
from agri.api.renderers import DownloadRenderer, JSONRenderer, QueryFormatNegotiation
from agri.services.records import CREATED, record_create_once, record_soft_delete


class ScopedModelViewSet(viewsets.ModelViewSet):
    """Every queryset is the model's ``visible_to(user)``: out-of-scope rows answer 404, never 403."""

    write_roles = {"*": ADMIN}

    def get_queryset(self):
        queryset = self.optimize(self.queryset.visible_to(self.request.user))
        # Meta.ordering is ignored once a GROUP BY annotation is added; pagination needs a stable order.
        return queryset if queryset.ordered else queryset.order_by(*(queryset.model._meta.ordering or ["pk"]))

    def optimize(self, queryset):
        return queryset

    def stored(self, pk):
        """The row as lists show it (with its annotations, e.g. counts), for write responses."""
        return self.get_queryset().get(pk=pk)

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        self.perform_create(serializer)
        return Response(self.get_serializer(self.stored(serializer.instance.pk)).data, status=status.HTTP_201_CREATED)

    def update(self, request, *args, **kwargs):
        partial = kwargs.pop("partial", False)
        serializer = self.get_serializer(self.get_object(), data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        self.perform_update(serializer)
        return Response(self.get_serializer(self.stored(serializer.instance.pk)).data)


class ClientRecordMixin:
    """Records that phones create offline (households, farmers):

    - POST with a client-generated ``id``: a replay of the same data returns the stored record (200); different
      data under the same id is a 409 and leaves the stored record untouched (``agri.services.records``);
    - ``?updated_since=`` turns the list into a pull: cursor pages in change order, deleted rows included as
      tombstones (``deleted: true``); otherwise only live rows are listed;
    - DELETE keeps a tombstone.
    """

    pagination_class = PullablePagination

    def get_queryset(self):
        queryset = super().get_queryset()
        return queryset if is_pull(self) else queryset.filter(deleted_at__isnull=True)

    @property
    def paginator(self):
        if not hasattr(self, "_paginator"):
            self._paginator = SyncCursorPagination() if is_pull(self) else super().paginator
        return self._paginator

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        outcome, record = record_create_once(model=self.queryset.model, data=serializer.validated_data)
        code = status.HTTP_201_CREATED if outcome == CREATED else status.HTTP_200_OK
        return Response(self.get_serializer(self.get_queryset().get(pk=record.pk)).data, status=code)

    def perform_destroy(self, instance):
        record_soft_delete(record=instance)


class IfMatchMixin:
    """Edits carry ``If-Match`` with the record's ETag: missing is a 428 where required, stale a 412."""

    def expected_version(self, record, *, required: bool) -> int | None:
        header = self.request.headers.get("If-Match")
        if not header:
            if required:
                raise PreconditionRequired()
            return None
        if header.strip() not in (record.etag, "*"):
            raise errors.StaleVersion()
        return record.version


class JSONErrorsMixin:
    """Errors are the API's JSON whatever format was asked for; so is data for a format the view writes itself
    (an OPTIONS answer with ``?format=csv``)."""

    def finalize_response(self, request, response, *args, **kwargs):
        downloading = isinstance(getattr(request, "accepted_renderer", None), DownloadRenderer)
        if isinstance(response, Response) and (response.status_code >= 400 or downloading):
            request.accepted_renderer = JSONRenderer()
            request.accepted_media_type = JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)


class QueryAPIView(JSONErrorsMixin, GenericAPIView):
    """A read whose query string is validated by ``query_serializer_class`` (400 with the fields at fault)."""

    pagination_class = None
    filter_backends = []
    content_negotiation_class = QueryFormatNegotiation
    query_serializer_class = None

    def query(self) -> dict:
        return validated_query(self.query_serializer_class, self.request)


class FileView(JSONErrorsMixin, GenericAPIView):
    """A GET for bureau staff that answers with a file (the view writes it)."""

    permission_classes = [IsBureauStaff]
    pagination_class = None
    serializer_class = None
    query_serializer_class = None

    def query(self) -> dict:
        return validated_query(self.query_serializer_class, self.request)


def validated_query(serializer_class, request) -> dict:
    serializer = serializer_class(data=request.query_params)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data
