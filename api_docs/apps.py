from django.apps import AppConfig


class ApiDocsConfig(AppConfig):
    name = "api_docs"
    verbose_name = "API docs"

    def ready(self):
        from api_docs import schema  # noqa: F401  (registers the schema extensions)
