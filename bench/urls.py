"""The production URLs plus one bare view, the physical limit of a request through this server and middleware."""

from django.http import HttpResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt


@csrf_exempt
def bare(request):
    """204 with no work at all: what one request costs in gunicorn + Django's middleware, and nothing else.

    CSRF-exempt like every DRF view, so the load generator can POST it the same body as the visit endpoint.
    """
    return HttpResponse(status=204)


urlpatterns = [
    path("bench/bare/", bare, name="bench-bare"),
    path("", include("backend.urls")),
]

handler404 = "agri.api.exceptions.handler404"
handler500 = "agri.api.exceptions.handler500"
