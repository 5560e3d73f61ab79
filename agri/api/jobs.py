"""Exports run as jobs: ``POST`` to an export's URL (the same query as its ``GET``) queues the export and answers
202 with the job (``Location``: ``/api/v1/jobs/<id>/``); a task worker runs :func:`run_export_job`, which builds the
same view for the job's owner and query and writes the file that ``GET`` would have streamed.

The rows are the owner's as the worker reads them: the same scoping, filters and masking (``agri.privacy``) as the
synchronous export, with the owner's role and jurisdiction at that moment (a job started by a bureau viewer holds
what a bureau viewer sees). An owner who is no longer bureau staff gets a failed job (``permission_denied``).
"""

from django.conf import settings
from django.http import HttpRequest, QueryDict
from django_tasks import task
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from agri import errors
from agri.api.job_serializers import JobSerializer
from agri.api.permissions import IsBureauStaff
from agri.models import Job, User
from agri.services.jobs import JobProgress, JobResult, job_create, job_enqueue, job_run

EXPORT_JOB_DESCRIPTION = (
    "Start the same export as a job (for big exports: a year of visits, a GeoPackage of a whole county): the query "
    "is that of the GET, checked now (400 for a bad filter or format). Answers 202 with the job and its URL "
    "(`Location`); poll it for progress, then download its `file_url` (with `Range` support) until `expires_at`."
)


def export_job_schema(view_method=None, *, parameters=()):
    """The schema of an export's ``POST`` (``@export_job_schema``, or ``@export_job_schema(parameters=[...])`` with
    query parameters the view's filters do not document)."""
    decorator = extend_schema(
        summary="Start this export as a job (202)",
        description=EXPORT_JOB_DESCRIPTION,
        request=None,
        parameters=list(parameters),
        responses={
            (202, "application/json"): JobSerializer,
            400: OpenApiResponse(description="invalid filter or format"),
            403: OpenApiResponse(description="not bureau staff"),
            503: OpenApiResponse(description="the job queue is unavailable (code `queue_unavailable`)"),
        },
    )
    return decorator(view_method) if view_method is not None else decorator


def start_export_job(request, kind: str, parameters: dict) -> Response:
    """Queue the export ``kind`` for the caller with the request's query; the 202 answer."""
    job = job_create(owner=request.user, kind=kind, parameters={"query": request.GET.urlencode(), **parameters})
    job_enqueue(job=job, task=run_export_job)
    data = JobSerializer(job, context={"request": request}).data
    return Response(data, status=status.HTTP_202_ACCEPTED, headers={"Location": data["url"]})


@task(queue_name=settings.JOB_QUEUE)
def run_export_job(job_id: str) -> str:
    return job_run(job_id, export_work)


def export_views() -> dict:
    """Job kind -> the export view that makes it (imported here: the views import this module)."""
    from agri.api import export_views, photo_views

    views = [
        export_views.VisitExportView,
        export_views.ModelHouseholdExportView,
        export_views.DemonstrationBaseExportView,
        export_views.CoverageExportView,
        photo_views.PhotoArchiveView,
    ]
    return {view.job_kind: view for view in views}


def export_work(job: Job, progress: JobProgress) -> JobResult:
    """The export of ``job``: its view, set up as the owner's GET with the job's query, writes the file."""
    view_class = export_views()[job.kind]
    request = job_request(job)
    view = view_class()
    view.setup(request._request)
    view.request, view.args, view.kwargs, view.format_kwarg = request, (), {}, None
    if not IsBureauStaff().has_permission(request, view):
        raise errors.NotAllowed(IsBureauStaff.message)
    return view.job_file(job, progress)


def job_request(job: Job) -> Request:
    """A GET of the job's query by its owner, as the export views read requests (user, query, language)."""
    http = HttpRequest()
    http.method = "GET"
    http.GET = QueryDict(job.parameters.get("query", ""))
    http.LANGUAGE_CODE = job.language
    owner = User.objects.filter(pk=job.owner_id, is_active=True).first()
    if owner is None:
        raise errors.NotAllowed(IsBureauStaff.message)
    request = Request(http)
    request.user = owner
    return request
