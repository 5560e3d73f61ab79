from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from agri.api.dashboard_views import DashboardView
from agri.api.map_views import WebMapView
from agri.middleware import never_compress_view

urlpatterns = [
    path("", RedirectView.as_view(url="/api/docs/", permanent=False)),
    path("admin/", admin.site.urls),
    # The bureau's web map, behind Django's session login.
    path("map/", WebMapView.as_view(), name="web-map"),
    # The bureau's plan dashboard (专栏3 indicators, trends, coverage, gaps), behind the same login.
    path("dashboard/", DashboardView.as_view(), name="dashboard"),
    # The session login page carries a CSRF token: never compressed (BREACH).
    path(
        "accounts/login/",
        never_compress_view(auth_views.LoginView.as_view(template_name="agri/login.html")),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(next_page="login"), name="logout"),
    path("api/v1/", include("agri.api.urls")),
    path("api/", include("api_docs.urls")),
    path("api-auth/", include("rest_framework.urls")),
]

handler404 = "agri.api.exceptions.handler404"
handler500 = "agri.api.exceptions.handler500"
