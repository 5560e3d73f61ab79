"""Base views and mixins that the resource modules (``*_views.py``) share.

- :class:`ScopedModelViewSet`: every queryset is the model's ``visible_to(user)``.
- :class:`ClientRecordMixin`: create by a client-generated id (idempotent), soft delete, pulls with tombstones.
- :class:`IfMatchMixin`: optimistic locking of edits with ``If-Match``.
- :class:`ConditionalGetMixin`: an ETag on every detail and pull page, and 304 for a matching ``If-None-Match``.
- :class:`QueryAPIView` and :class:`FileView`: reads whose query is a serializer, and reads that answer a file;
  their errors are the API's JSON whatever format was asked for.
"""

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status, viewsets
from rest_framework.generics import GenericAPIView
from rest_framework.metadata import SimpleMetadata
from rest_framework.response import Response

from agri import errors
from agri.api.exceptions import PreconditionRequired
from agri.api.pagination import PullablePagination, SyncCursorPagination, is_pull
from agri.api.permissions import ADMIN, IsBureauStaff
from agri.api.renderers import DownloadRenderer, JSONRenderer, QueryFormatNegotiation
from agri.services.records import CREATED, record_create_once, record_soft_delete, record_update


class ConditionalGetMixin:
    """A GET of one record (``conditional_actions``), or of a pull page, carries an ``ETag`` and answers ``304 Not
    Modified`` (no body) when ``If-None-Match`` names it. A view that sets its own ETag (a record's version, for
    ``If-Match``) keeps it; otherwise it is a strong hash of the rendered body. The work is done for every GET by
    ``agri.middleware.ContentETagMiddleware``; this marks the views whose schema documents it (``api_docs``)."""

    conditional_actions = ("retrieve",)


class ScopedModelViewSet(ConditionalGetMixin, viewsets.ModelViewSet):
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


class IfMatchMixin:
    """Edits carry ``If-Match`` with the record's ETag: missing is a 428 where required, stale a 412; ``*`` matches
    the record as read (the write itself still compares its version)."""

    precondition_message = None  # PreconditionRequired's own words unless a resource has its own
    stale_error = errors.StaleVersion

    def expected_version(self, record, *, required: bool) -> int | None:
        header = self.request.headers.get("If-Match")
        if not header:
            if required:
                raise PreconditionRequired(self.precondition_message)
            return None
        if header.strip() not in (record.etag, "*"):
            raise self.stale_error()
        return record.version


class ClientRecordMixin(IfMatchMixin):
    """Records that phones create offline (households, farmers):

    - POST with a client-generated ``id``: a replay of the same data returns the stored record (200); different
      data under the same id, or an id taken by a record the caller may not replay, is a 409 and leaves the stored
      record untouched (``agri.services.records.taken_id_outcome``);
    - ``?updated_since=`` turns the list into a pull: cursor pages in change order, deleted rows included as
      tombstones (``deleted: true``); otherwise only live rows are listed;
    - the detail and every write answer the record's ``ETag`` (its id and version); PATCH and PUT need it in
      ``If-Match`` (428 without, 412 when stale), a DELETE that sends it is refused when stale (412);
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

    def retrieve(self, request, *args, **kwargs):
        record = self.get_object()
        return Response(self.get_serializer(record).data, headers={"ETag": record.etag})

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        outcome, record = record_create_once(
            model=self.queryset.model, data=serializer.validated_data, scope=self.get_queryset()
        )
        code = status.HTTP_201_CREATED if outcome == CREATED else status.HTTP_200_OK
        stored = self.stored(record.pk)
        return Response(self.get_serializer(stored).data, status=code, headers={"ETag": stored.etag})

    def update(self, request, *args, **kwargs):
        partial = kwargs.pop("partial", False)
        if not request.headers.get("If-Match"):  # before the lookup: a missing If-Match is a 428 for any id
            raise PreconditionRequired(self.precondition_message)
        record = self.get_object()
        expected = self.expected_version(record, required=True)
        serializer = self.get_serializer(record, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        record_update(record=record, data=serializer.validated_data, expected_version=expected)
        stored = self.stored(record.pk)
        return Response(self.get_serializer(stored).data, headers={"ETag": stored.etag})

    def destroy(self, request, *args, **kwargs):
        record = self.get_object()
        record_soft_delete(record=record, expected_version=self.expected_version(record, required=False))
        return Response(status=status.HTTP_204_NO_CONTENT)


IF_MATCH_REQUIRED = OpenApiParameter(
    "If-Match",
    {"type": "string", "minLength": 1},
    OpenApiParameter.HEADER,
    required=True,
    description="The record's ETag, as its detail or last write answered it; `*` for the record as it is.",
)
IF_MATCH_OPTIONAL = OpenApiParameter(
    "If-Match",
    {"type": "string"},  # empty is the same as not sent
    OpenApiParameter.HEADER,
    description="The record's ETag: when sent, a record changed since is not deleted (412).",
)
PRECONDITION_RESPONSES = {
    412: OpenApiResponse(description="stale ETag (code `precondition_failed`): the record was changed since"),
    428: OpenApiResponse(description="If-Match missing (code `precondition_required`)"),
}


def client_record_schema(noun: str, serializer) -> dict:
    """``extend_schema_view`` arguments for the replayable create and the If-Match writes of a
    :class:`ClientRecordMixin` view."""
    return {
        "create": extend_schema(
            description=f"Store one {noun} under the client's `id`: 201 when stored now, 200 (the stored {noun}) "
            "when the same data was stored under this id before; other data under a stored id is a 409.",
            responses={201: serializer, 200: serializer},
        ),
        "retrieve": extend_schema(summary=f"Get one {noun} (with its ETag)"),
        "update": extend_schema(
            summary=f"Replace a {noun} (If-Match required)",
            parameters=[IF_MATCH_REQUIRED],
            responses={200: serializer, **PRECONDITION_RESPONSES},
        ),
        "partial_update": extend_schema(
            summary=f"Edit a {noun} (If-Match required)",
            parameters=[IF_MATCH_REQUIRED],
            responses={200: serializer, **PRECONDITION_RESPONSES},
        ),
        "destroy": extend_schema(
            summary=f"Delete a {noun} (kept as a tombstone for sync)",
            parameters=[IF_MATCH_OPTIONAL],
            responses={204: None, 412: PRECONDITION_RESPONSES[412]},
        ),
    }


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


class FileMetadata(SimpleMetadata):
    """``OPTIONS`` on a file view: its name, description and media types. There is no form to describe: the query
    is its parameters (see the schema), for a ``GET`` and for a ``POST`` that starts the same export as a job."""

    def determine_actions(self, request, view):
        return {}


class FileView(JSONErrorsMixin, GenericAPIView):
    """A GET for bureau staff that answers with a file (the view writes it)."""

    metadata_class = FileMetadata
    permission_classes = [IsBureauStaff]
    pagination_class = None
    serializer_class = None
    query_serializer_class = None

    def query(self) -> dict:
        return validated_query(self.query_serializer_class, self.request)


def validated_query(serializer_class, request) -> dict:
    serializer = serializer_class(data=request.query_params, context={"request": request})
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data
