from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("", RedirectView.as_view(url="/api/docs/", permanent=False)),
    path("admin/", admin.site.urls),
    path("api/v1/", include("agri.api.urls")),
    path("api/", include("api_docs.urls")),
    path("api-auth/", include("rest_framework.urls")),
]

handler404 = "agri.api.exceptions.handler404"
handler500 = "agri.api.exceptions.handler500"
