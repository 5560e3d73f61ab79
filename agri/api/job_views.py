"""Jobs (long work run by a task worker, ``agri.services.jobs``): their list, progress, and result file.

Only a job's owner sees it (and superusers, every job): anyone else gets 404. Exports start jobs with a ``POST`` to
their own URL (``agri.api.jobs``).
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, viewsets
from rest_framework.decorators import action

from agri import errors
from agri.api.job_serializers import JobSerializer
from agri.api.ranges import ranged_file_response
from agri.api.renderers import JSONRenderer
from agri.models import Job, JobState, job_storage

RANGE_PARAMETER = OpenApiParameter(
    "Range",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="`bytes=first-last`, `bytes=first-` or `bytes=-count`: that part of the file (206).",
)


@extend_schema_view(
    list=extend_schema(summary="List my jobs", description="The caller's jobs, newest first (superusers: all)."),
    retrieve=extend_schema(summary="A job's state and progress"),
)
class JobViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """A caller's jobs: state, progress (``done`` of ``total``), and the result file once done."""

    serializer_class = JobSerializer
    queryset = Job.objects.all()
    filter_backends = []

    def get_queryset(self):
        user = self.request.user
        jobs = Job.objects.all() if user.is_superuser else Job.objects.filter(owner=user)
        return jobs.order_by("-created_at", "-id")

    def perform_content_negotiation(self, request, force=False):
        if self.action == "file":  # the file ignores Accept; errors are the API's JSON
            return JSONRenderer(), JSONRenderer.media_type
        return super().perform_content_negotiation(request, force)

    @extend_schema(
        summary="Download a job's file (Range supported)",
        description="The result of a finished job, as an attachment, until the job's `expires_at`. `Range` gets a "
        "part (206; 416 outside the file), so that a broken download resumes where it stopped; `If-Range` with the "
        "ETag keeps that safe.",
        parameters=[RANGE_PARAMETER],
        responses={
            (200, "application/octet-stream"): OpenApiTypes.BINARY,
            (206, "application/octet-stream"): OpenApiTypes.BINARY,
            404: OpenApiResponse(description="no such job, or not the caller's"),
            409: OpenApiResponse(description="the job has not finished, or failed (code `job_not_done`)"),
            410: OpenApiResponse(description="the file expired and was removed (code `gone`)"),
            416: OpenApiResponse(description="the range lies outside the file"),
        },
    )
    @action(detail=True, methods=["get"])
    def file(self, request, pk=None):
        job = self.get_object()
        if job.state == JobState.EXPIRED:
            raise errors.Gone(errors.JOB_EXPIRED)
        if job.state != JobState.DONE or not job.result_name:
            raise errors.Conflict(errors.JOB_NOT_DONE, code="job_not_done")
        return ranged_file_response(
            request,
            job_storage(),
            job.result_name,
            size=job.result_size,
            content_type=job.parameters.get("content_type", "application/octet-stream"),
            filename=job.result_name.rsplit("/", 1)[-1],
            etag=f'"{job.pk}"',
        )
