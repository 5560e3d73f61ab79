"""The extension network: industries, divisions, stations (and their service area), demonstration bases and
field schools, experts, extension workers, tech commissioners, model households and farmers."""

from django.db.models import Count, Prefetch, Q
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from agri import selectors, services
from agri.api import filters
from agri.api import network_serializers as ns
from agri.api.base import (
    ClientRecordMixin,
    ConditionalGetMixin,
    ScopedModelViewSet,
    client_record_schema,
    validated_query,
)
from agri.api.coverage_serializers import ServiceAreaQuerySerializer, ServiceAreaSerializer
from agri.api.crs import CRS_PARAMETER, convert_geojson, output_crs
from agri.api.permissions import ADMIN, OwnDivisionWrites, RolePermission, SharedReferenceWrites
from agri.api.renderers import JSONRenderer, QueryFormatNegotiation
from agri.models import (
    DemonstrationBase,
    Expert,
    ExtensionWorker,
    Farmer,
    FieldSchool,
    Industry,
    ModelHousehold,
    Role,
    Station,
    TechCommissioner,
)
from agri.privacy import FARMER, HOUSEHOLD
from agri.selectors.coverage import station_service_area
from geo.models import AdminDivision


class IndustryViewSet(ConditionalGetMixin, viewsets.ModelViewSet):
    """One catalogue of industries for the whole installation: everyone reads it, an installation-wide admin writes
    it, and a code never changes once created (phones store it and send it back)."""

    queryset = Industry.objects.all()
    serializer_class = ns.IndustrySerializer
    lookup_field = "code"
    lookup_value_regex = r"[-a-zA-Z0-9_]+"  # a slug (any other key is a 404 before any query)
    write_roles = {"*": ADMIN}
    permission_classes = [RolePermission, SharedReferenceWrites]
    search_fields = ["code", "name", "name_en"]
    ordering_fields = ["sort_order", "code", "name"]


class DivisionViewSet(ConditionalGetMixin, viewsets.ModelViewSet):
    """Administrative divisions: everything inside the caller's jurisdiction, plus its ancestors (read only)."""

    queryset = AdminDivision.objects.all()
    serializer_class = ns.DivisionSerializer
    filterset_class = filters.DivisionFilterSet
    search_fields = ["code", "name"]
    ordering_fields = ["code", "name", "level"]
    write_roles = {"*": ADMIN}
    permission_classes = [RolePermission, OwnDivisionWrites]
    lookup_value_regex = r"[0-9]{12}"

    def get_queryset(self):
        return AdminDivision.objects.visible_to(self.request.user)

    @extend_schema(
        summary="Boundary of a division as a GeoJSON Feature",
        parameters=[ns.DivisionBoundaryQuerySerializer, CRS_PARAMETER],
        responses={200: OpenApiTypes.OBJECT},
    )
    @action(detail=True, methods=["get"])
    def boundary(self, request, pk=None):
        detail = validated_query(ns.DivisionBoundaryQuerySerializer, request)["detail"]
        division = self.get_object()
        geometry = division.boundary if detail == "full" else division.boundary_display
        geometry = convert_geojson(geometry, output_crs(request))
        return Response(
            {
                "type": "Feature",
                "id": division.code,
                "geometry": geometry,
                "properties": {
                    "code": division.code,
                    "name": division.name,
                    "level": division.level,
                    "synthetic": division.boundary_synthetic,
                    "area_km2": division.area_km2,
                },
            }
        )


class StationViewSet(ScopedModelViewSet):
    queryset = Station.objects.all()
    serializer_class = ns.StationSerializer
    filterset_class = filters.StationFilterSet
    search_fields = ["name", "host_org"]
    ordering_fields = ["name", "established_on", "updated_at"]
    write_roles = {"*": ADMIN, "update": (Role.BUREAU_ADMIN, Role.STATION_MANAGER)}

    def optimize(self, queryset):
        return queryset.prefetch_related("industries")

    @extend_schema(
        summary="Households within a radius of a station, and how many were visited",
        description=(
            "Model households (those the caller may see) within `radius_km` of the station (default 5 km, at most "
            "100), nearest first, each with whether it had a visit in the last `days` days (default 90). For bureau "
            "viewers a household stands at the centre of its H3 cell and its distance is measured from there "
            "(`location_grid` gives the resolution)."
        ),
        parameters=[ServiceAreaQuerySerializer],
        responses={200: ServiceAreaSerializer, 400: OpenApiResponse(description="invalid parameter")},
        filters=False,
    )
    @action(
        detail=True,
        methods=["get"],
        url_path="service-area",
        pagination_class=None,
        filter_backends=[],
        renderer_classes=[JSONRenderer],
        content_negotiation_class=QueryFormatNegotiation,
    )
    def service_area(self, request, pk=None):
        station = self.get_object()
        params = validated_query(ServiceAreaQuerySerializer, request)
        return Response(
            station_service_area(
                user=request.user,
                station=station,
                radius_km=params["radius_km"],
                days=params["days"],
                crs=params["crs"],
            )
        )


class DemonstrationBaseViewSet(ScopedModelViewSet):
    queryset = DemonstrationBase.objects.all()
    serializer_class = ns.DemonstrationBaseSerializer
    filterset_class = filters.DemonstrationBaseFilterSet
    search_fields = ["name", "operator"]
    ordering_fields = ["name", "area_mu", "certified_on", "updated_at"]

    def optimize(self, queryset):
        return queryset.select_related("industry", "field_school")

    def perform_create(self, serializer):
        serializer.instance = services.base_create(data=serializer.validated_data)


class FieldSchoolViewSet(ScopedModelViewSet):
    """Each base has exactly one field school: it is created with the base and deleted with it."""

    queryset = FieldSchool.objects.all()
    serializer_class = ns.FieldSchoolSerializer
    http_method_names = ["get", "put", "patch", "head", "options"]
    search_fields = ["name", "base__name"]
    ordering_fields = ["name", "established_on"]
    filterset_class = filters.FieldSchoolFilterSet

    def optimize(self, queryset):
        return queryset.select_related("base")


class ExpertViewSet(ScopedModelViewSet):
    queryset = Expert.objects.all()
    serializer_class = ns.ExpertSerializer
    filterset_class = filters.ExpertFilterSet
    search_fields = ["name", "organization"]
    ordering_fields = ["name", "industry__sort_order"]

    def optimize(self, queryset):
        return queryset.select_related("industry").annotate(
            workers_count=Count("workers", filter=Q(workers__active=True))
        )

    @extend_schema(summary="The expert's network tree with status against target", responses=ns.ExpertNetworkSerializer)
    @action(detail=True, methods=["get"])
    def network(self, request, pk=None):
        return Response(selectors.expert_network(self.get_object(), request.user))


class ExtensionWorkerViewSet(ScopedModelViewSet):
    queryset = ExtensionWorker.objects.all()
    serializer_class = ns.ExtensionWorkerSerializer
    filterset_class = filters.ExtensionWorkerFilterSet
    search_fields = ["name"]
    ordering_fields = ["name", "updated_at"]

    def optimize(self, queryset):
        return queryset.select_related("expert__industry").annotate(
            households_count=Count("households", filter=Q(households__deleted_at__isnull=True))
        )


class TechCommissionerViewSet(ScopedModelViewSet):
    queryset = TechCommissioner.objects.all()
    serializer_class = ns.TechCommissionerSerializer
    filterset_class = filters.TechCommissionerFilterSet
    search_fields = ["name", "affiliation", "specialty"]
    ordering_fields = ["name", "service_start_year"]

    def optimize(self, queryset):
        return queryset.prefetch_related(
            Prefetch("stations", queryset=Station.objects.only("id")),
            Prefetch("bases", queryset=DemonstrationBase.objects.only("id")),
        )


@extend_schema_view(**client_record_schema("model household", ns.ModelHouseholdSerializer))
class ModelHouseholdViewSet(ClientRecordMixin, ScopedModelViewSet):
    queryset = ModelHousehold.objects.all()
    serializer_class = ns.ModelHouseholdSerializer
    filterset_class = filters.ModelHouseholdFilterSet
    search_fields = ["head_name", "address"]
    coarse_hidden_fields = HOUSEHOLD.names + HOUSEHOLD.addresses  # not shown to bureau viewers
    ordering_fields = ["created_at", "updated_at", "head_name"]
    write_roles = {"*": (Role.BUREAU_ADMIN, Role.WORKER)}

    def optimize(self, queryset):
        return queryset.with_details()


@extend_schema_view(**client_record_schema("farmer", ns.FarmerSerializer))
class FarmerViewSet(ClientRecordMixin, ScopedModelViewSet):
    queryset = Farmer.objects.all()
    serializer_class = ns.FarmerSerializer
    filterset_class = filters.FarmerFilterSet
    search_fields = ["name"]
    coarse_hidden_fields = FARMER.names
    ordering_fields = ["created_at", "updated_at", "name"]
    write_roles = {"*": (Role.BUREAU_ADMIN, Role.WORKER), "reveal": ADMIN}

    def optimize(self, queryset):
        return queryset.select_related("household__worker")

    @extend_schema(
        summary="Show a farmer's phone and ID number unmasked (bureau admins; audited)",
        description="Each call writes a personal-data access record (who, when, which farmer, which fields, why).",
        request=ns.PersonalDataRevealSerializer,
        responses={200: ns.RevealedPersonalDataSerializer},
    )
    @action(detail=True, methods=["post"], filterset_class=None)
    def reveal(self, request, pk=None):
        farmer = self.get_object()
        serializer = ns.PersonalDataRevealSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        reason = serializer.validated_data["reason"]
        services.farmer_personal_data_reveal(user=request.user, farmer=farmer, reason=reason)
        data = {"id": farmer.pk, "name": farmer.name, "phone": farmer.phone, "id_number": farmer.id_number}
        return Response(ns.RevealedPersonalDataSerializer(data).data)


class NetworkSummaryView(GenericAPIView):
    """The whole network (within the caller's scope) per industry, against the plan's targets."""

    serializer_class = ns.NetworkSummarySerializer

    @extend_schema(
        summary="Network counts per industry against the plan's targets",
        parameters=[ns.NetworkSummaryQuerySerializer],
    )
    def get(self, request):
        year = validated_query(ns.NetworkSummaryQuerySerializer, request).get("year")
        return Response(selectors.network_summary(request.user, year))
