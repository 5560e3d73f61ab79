from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from agri.models import Job, JobState


class JobProgressSerializer(serializers.Serializer):
    done = serializers.IntegerField(help_text="Steps done (rows or photos).")
    total = serializers.IntegerField(allow_null=True, help_text="Steps in all; null until counted.")


class JobErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField(help_text="In the language of the request that started the job.")


class JobSerializer(serializers.ModelSerializer):
    """A job as its owner polls it."""

    url = serializers.SerializerMethodField()
    progress = serializers.SerializerMethodField()
    file_url = serializers.SerializerMethodField()
    file_name = serializers.SerializerMethodField()
    file_size = serializers.IntegerField(source="result_size", read_only=True, allow_null=True)
    error = serializers.SerializerMethodField()

    class Meta:
        model = Job
        fields = [
            "id",
            "url",
            "kind",
            "state",
            "progress",
            "file_url",
            "file_name",
            "file_size",
            "error",
            "created_at",
            "started_at",
            "finished_at",
            "expires_at",
        ]
        read_only_fields = fields

    def get_url(self, job) -> str:
        return self._absolute(reverse("agri:job-detail", kwargs={"pk": job.pk}))

    @extend_schema_field(JobProgressSerializer)
    def get_progress(self, job) -> dict:
        return {"done": job.progress_done, "total": job.progress_total}

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_file_url(self, job):
        if job.state != JobState.DONE or not job.result_name:
            return None
        return self._absolute(reverse("agri:job-file", kwargs={"pk": job.pk}))

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_file_name(self, job):
        return job.result_name.rsplit("/", 1)[-1] if job.result_name else None

    @extend_schema_field(JobErrorSerializer(allow_null=True))
    def get_error(self, job):
        if job.state != JobState.FAILED:
            return None
        return {"code": job.error_code, "message": job.error_message}

    def _absolute(self, path: str) -> str:
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path
