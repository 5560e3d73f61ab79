from django.urls import include, path
from rest_framework.routers import DefaultRouter

from agri.api import coverage_views, export_views, map_views, photo_views, views, visit_views

app_name = "agri"

router = DefaultRouter()
router.register("industries", views.IndustryViewSet, basename="industry")
router.register("divisions", views.DivisionViewSet, basename="division")
router.register("stations", views.StationViewSet, basename="station")
router.register("demonstration-bases", views.DemonstrationBaseViewSet, basename="demonstration-base")
router.register("field-schools", views.FieldSchoolViewSet, basename="field-school")
router.register("experts", views.ExpertViewSet, basename="expert")
router.register("extension-workers", views.ExtensionWorkerViewSet, basename="extension-worker")
router.register("tech-commissioners", views.TechCommissionerViewSet, basename="tech-commissioner")
router.register("model-households", views.ModelHouseholdViewSet, basename="model-household")
router.register("farmers", views.FarmerViewSet, basename="farmer")
router.register("auth/devices", views.DeviceTokenViewSet, basename="device")
router.register("visits", visit_views.VisitViewSet, basename="visit")
router.register("photos", photo_views.PhotoViewSet, basename="photo")

urlpatterns = [
    path("auth/login/", views.LoginView.as_view(), name="login"),
    path("auth/logout/", views.LogoutView.as_view(), name="logout"),
    path("auth/logout-all/", views.LogoutAllView.as_view(), name="logout-all"),
    path("auth/password/", views.PasswordChangeView.as_view(), name="password-change"),
    path("me/", views.MeView.as_view(), name="me"),
    path("health/", views.HealthView.as_view(), name="health"),
    path("network/summary/", views.NetworkSummaryView.as_view(), name="network-summary"),
    path("coverage/divisions/", coverage_views.DivisionCoverageView.as_view(), name="coverage-divisions"),
    path("coverage/hexagons/", coverage_views.HexagonCoverageView.as_view(), name="coverage-hexagons"),
    path("coverage/gaps/", coverage_views.CoverageGapsView.as_view(), name="coverage-gaps"),
    path("indicators/", coverage_views.PlanIndicatorsView.as_view(), name="indicators"),
    path("sync/visits/", visit_views.VisitSyncView.as_view(), name="visit-sync"),
    path("visits.geojson", visit_views.VisitGeoJSONView.as_view(), name="visit-geojson"),
    path("visits/<uuid:visit_id>/photos/", photo_views.VisitPhotosView.as_view(), name="visit-photos"),
    path("exports/photos/", photo_views.PhotoArchiveView.as_view(), name="export-photos"),
    path("exports/visits/", export_views.VisitExportView.as_view(), name="export-visits"),
    path("exports/model-households/", export_views.ModelHouseholdExportView.as_view(), name="export-model-households"),
    path(
        "exports/demonstration-bases/",
        export_views.DemonstrationBaseExportView.as_view(),
        name="export-demonstration-bases",
    ),
    path("exports/coverage/", export_views.CoverageExportView.as_view(), name="export-coverage"),
    path("coverage/map.png", map_views.CoverageMapView.as_view(), name="coverage-map"),
    path("", include(router.urls)),
]
