import uuid

from django.core.files.storage import storages
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


def job_storage():
    """The private storage of job results (``STORAGES["jobs"]``), never served from a public URL; read through this
    (not fixed at import) so that a change of settings applies."""
    return storages["jobs"]


class JobState(models.TextChoices):
    QUEUED = "queued", _("queued")
    RUNNING = "running", _("running")
    DONE = "done", _("done")
    FAILED = "failed", _("failed")
    EXPIRED = "expired", _("expired")


class Job(models.Model):
    """A piece of long work run by a task worker (a big export, a rollup rebuild): its progress and its result file.

    ``parameters`` is what the work needs (an export's query string and format); the result is a file of the job
    storage (``job_storage()``), downloadable until ``expires_at``. A job without an owner was started by a
    management command: only superusers see it.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        "agri.User", verbose_name=_("owner"), on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    kind = models.CharField(_("kind"), max_length=40)
    parameters = models.JSONField(_("parameters"), default=dict, blank=True)
    # The language of the request that made the job: its error message is written in it.
    language = models.CharField(_("language"), max_length=10, default="zh-hans")
    state = models.CharField(_("state"), max_length=10, choices=JobState.choices, default=JobState.QUEUED)
    progress_done = models.PositiveBigIntegerField(_("done"), default=0)
    progress_total = models.PositiveBigIntegerField(_("total"), null=True, blank=True)
    result_name = models.CharField(_("result file"), max_length=300, blank=True)
    result_size = models.PositiveBigIntegerField(_("result size (bytes)"), null=True, blank=True)
    error_code = models.CharField(_("error code"), max_length=40, blank=True)
    error_message = models.TextField(_("error message"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True, db_index=True)

    class Meta:
        verbose_name = _("job")
        verbose_name_plural = _("jobs")
        indexes = [models.Index(fields=["owner", "-created_at"], name="job_owner_created")]
        constraints = [
            models.CheckConstraint(
                condition=Q(progress_total__isnull=True) | Q(progress_done__lte=models.F("progress_total")),
                name="job_progress_in_total",
            ),
        ]

    def __str__(self):
        return f"{self.kind} {self.id} ({self.state})"
