from django.urls import include, path
from rest_framework.routers import DefaultRouter

from agri.api import views, visit_views

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

urlpatterns = [
    path("auth/login/", views.LoginView.as_view(), name="login"),
    path("auth/logout/", views.LogoutView.as_view(), name="logout"),
    path("auth/logout-all/", views.LogoutAllView.as_view(), name="logout-all"),
    path("me/", views.MeView.as_view(), name="me"),
    path("network/summary/", views.NetworkSummaryView.as_view(), name="network-summary"),
    path("sync/visits/", visit_views.VisitSyncView.as_view(), name="visit-sync"),
    path("visits.geojson", visit_views.VisitGeoJSONView.as_view(), name="visit-geojson"),
    path("", include(router.urls)),
]
