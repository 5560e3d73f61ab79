from django.urls import include, path
from rest_framework.routers import DefaultRouter

from agri.api import (
    account_views,
    coverage_views,
    export_views,
    job_views,
    map_views,
    network_views,
    photo_views,
    sync_views,
    upload_views,
    visit_views,
)

app_name = "agri"

router = DefaultRouter()
router.register("industries", network_views.IndustryViewSet, basename="industry")
router.register("divisions", network_views.DivisionViewSet, basename="division")
router.register("stations", network_views.StationViewSet, basename="station")
router.register("demonstration-bases", network_views.DemonstrationBaseViewSet, basename="demonstration-base")
router.register("field-schools", network_views.FieldSchoolViewSet, basename="field-school")
router.register("experts", network_views.ExpertViewSet, basename="expert")
router.register("extension-workers", network_views.ExtensionWorkerViewSet, basename="extension-worker")
router.register("tech-commissioners", network_views.TechCommissionerViewSet, basename="tech-commissioner")
router.register("model-households", network_views.ModelHouseholdViewSet, basename="model-household")
router.register("farmers", network_views.FarmerViewSet, basename="farmer")
router.register("auth/devices", account_views.DeviceTokenViewSet, basename="device")
router.register("visits", visit_views.VisitViewSet, basename="visit")
router.register("photos", photo_views.PhotoViewSet, basename="photo")
router.register("jobs", job_views.JobViewSet, basename="job")

urlpatterns = [
    path("auth/login/", account_views.LoginView.as_view(), name="login"),
    path("auth/logout/", account_views.LogoutView.as_view(), name="logout"),
    path("auth/logout-all/", account_views.LogoutAllView.as_view(), name="logout-all"),
    path("auth/password/", account_views.PasswordChangeView.as_view(), name="password-change"),
    path("me/", account_views.MeView.as_view(), name="me"),
    path("health/", account_views.HealthView.as_view(), name="health"),
    path("network/summary/", network_views.NetworkSummaryView.as_view(), name="network-summary"),
    path("coverage/divisions/", coverage_views.DivisionCoverageView.as_view(), name="coverage-divisions"),
    path("coverage/hexagons/", coverage_views.HexagonCoverageView.as_view(), name="coverage-hexagons"),
    path("coverage/gaps/", coverage_views.CoverageGapsView.as_view(), name="coverage-gaps"),
    path("indicators/", coverage_views.PlanIndicatorsView.as_view(), name="indicators"),
    path("indicators/monthly/", coverage_views.MonthlyActivityView.as_view(), name="indicators-monthly"),
    path("sync/", sync_views.SyncView.as_view(), name="sync"),
    path("sync/visits/", visit_views.VisitSyncView.as_view(), name="visit-sync"),
    path("visits.geojson", visit_views.VisitGeoJSONView.as_view(), name="visit-geojson"),
    path("visits/<uuid:visit_id>/photos/", photo_views.VisitPhotosView.as_view(), name="visit-photos"),
    path("uploads/", upload_views.PhotoUploadsView.as_view(), name="upload-list"),
    path("uploads/<uuid:pk>/", upload_views.PhotoUploadView.as_view(), name="upload-detail"),
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
