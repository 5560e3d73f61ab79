"""The OpenAPI schema, built once per process for each API version and language, and rendered once per format.

Building it walks every view and serializer (0.5–1.4 s); it depends only on the code, the version and the language
(``SERVE_PUBLIC``: not on who asks), so each process builds it on first request and serves the same bytes after.
``ContentETagMiddleware`` gives it an ETag, so a client that has it gets a 304.
"""

import threading

from django.conf import settings
from django.http import HttpResponse
from django.utils import translation
from drf_spectacular.views import SpectacularAPIView


def served_language() -> str:
    """The language the schema is written in: the active one if the project has it, else the default."""
    try:
        return translation.get_supported_language_variant(translation.get_language() or settings.LANGUAGE_CODE)
    except LookupError:
        return settings.LANGUAGE_CODE


class SchemaView(SpectacularAPIView):
    # (version, language) -> the schema; (version, language, media type) -> its rendering.
    built: dict[tuple, dict | bytes] = {}
    lock = threading.Lock()

    def _get_schema_response(self, request):
        version = self.api_version or request.version or self._get_version_parameter(request)
        language = served_language()
        renderer = request.accepted_renderer
        # Media types with parameters (``; indent=4``) are rendered each time: a client could name endless ones.
        key = (version, language, renderer.media_type) if request.accepted_media_type == renderer.media_type else None
        body = self.built.get(key)
        if body is None:
            with self.lock, translation.override(language):
                schema = self.built.get((version, language))
                if schema is None:
                    generator = self.generator_class(urlconf=self.urlconf, api_version=version, patterns=self.patterns)
                    schema = self.built[(version, language)] = generator.get_schema(request, self.serve_public)
                body = renderer.render(schema, request.accepted_media_type, self.get_renderer_context())
                if key is not None:
                    self.built[key] = body
        content_type = f"{renderer.media_type}; charset={renderer.charset}" if renderer.charset else renderer.media_type
        response = HttpResponse(body, content_type=content_type)
        response["Content-Disposition"] = f'inline; filename="{self._get_filename(request, version)}"'
        return response
