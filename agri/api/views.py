from django.contrib.auth import update_session_auth_hash, user_logged_in
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Prefetch, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from knox.settings import knox_settings
from rest_framework import mixins, status, viewsets
from rest_framework.authentication import SessionAuthentication
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from agri import selectors, services
from agri.api import filters, serializers
from agri.api.coverage_views import StationServiceAreaMixin
from agri.api.crs import CRS_PARAMETER, convert_geojson, output_crs
from agri.api.exceptions import Conflict, InUse
from agri.api.pagination import PullablePagination, SyncCursorPagination, is_pull
from agri.models import (
    DemonstrationBase,
    DeviceToken,
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
from geo.codes import full_code
from geo.models import AdminDivision

ADMIN = (Role.BUREAU_ADMIN,)
ANY_ROLE = tuple(Role.values)


class ScopedModelViewSet(viewsets.ModelViewSet):
    """Every queryset is the model's ``visible_to(user)``: out-of-scope rows answer 404, never 403."""

    write_roles = {"*": ADMIN}

    def get_queryset(self):
        queryset = self.optimize(self.queryset.visible_to(self.request.user))
        # Meta.ordering is ignored once a GROUP BY annotation is added; pagination needs a stable order.
        return queryset if queryset.ordered else queryset.order_by(*(queryset.model._meta.ordering or ["pk"]))

    def optimize(self, queryset):
        return queryset

    def stored(self, instance):
        """The row as lists show it (with its annotations, e.g. counts), for write responses."""
        return self.get_queryset().get(pk=instance.pk)

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        self.perform_create(serializer)
        return Response(self.get_serializer(self.stored(serializer.instance)).data, status=status.HTTP_201_CREATED)

    def update(self, request, *args, **kwargs):
        partial = kwargs.pop("partial", False)
        serializer = self.get_serializer(self.get_object(), data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        self.perform_update(serializer)
        return Response(self.get_serializer(self.stored(serializer.instance)).data)


class IdempotentCreateMixin:
    """POST with a client-generated ``id``: a replay of the same data returns the stored record (200);
    different data under the same id is a 409 and leaves the stored record untouched."""

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        client_id = serializer.validated_data.get("id")
        model = self.queryset.model
        if client_id and model.objects.filter(pk=client_id).exists():
            return self._replay(client_id, serializer)
        try:
            with transaction.atomic():
                self.perform_create(serializer)
        except IntegrityError:
            # A concurrent request stored the same id first.
            if client_id and model.objects.filter(pk=client_id).exists():
                return self._replay(client_id, serializer)
            raise
        stored = self.get_queryset().get(pk=serializer.instance.pk)
        return Response(self.get_serializer(stored).data, status=status.HTTP_201_CREATED)

    def _replay(self, client_id, serializer):
        stored = self.get_queryset().filter(pk=client_id).first()
        if stored is None or not services.same_as_stored(stored, serializer.validated_data):
            raise Conflict()
        return Response(self.get_serializer(stored).data, status=status.HTTP_200_OK)


class IndustryViewSet(viewsets.ModelViewSet):
    queryset = Industry.objects.all()
    serializer_class = serializers.IndustrySerializer
    lookup_field = "code"
    lookup_value_regex = r"[-a-zA-Z0-9_]+"  # a slug (any other key is a 404 before any query)
    write_roles = {"*": ADMIN}
    search_fields = ["code", "name", "name_en"]
    ordering_fields = ["sort_order", "code", "name"]


class DivisionViewSet(viewsets.ModelViewSet):
    """Administrative divisions: everything inside the caller's jurisdiction, plus its ancestors."""

    queryset = AdminDivision.objects.all()
    serializer_class = serializers.DivisionSerializer
    filterset_class = filters.DivisionFilterSet
    search_fields = ["code", "name"]
    ordering_fields = ["code", "name", "level"]
    write_roles = {"*": ADMIN}
    lookup_value_regex = r"[0-9]{12}"

    def get_queryset(self):
        user = self.request.user
        if not user.is_authenticated:
            return AdminDivision.objects.none()
        jurisdiction = user.jurisdiction
        if not jurisdiction:
            return AdminDivision.objects.all()
        ancestors = [full_code(jurisdiction[:n]) for n in (2, 4, 6, 9) if n < len(jurisdiction)]
        return AdminDivision.objects.filter(Q(code__startswith=jurisdiction) | Q(code__in=ancestors))

    @extend_schema(
        summary="Boundary of a division as a GeoJSON Feature",
        parameters=[
            OpenApiParameter(
                "detail", OpenApiTypes.STR, enum=["display", "full"], description="Simplified or full geometry."
            ),
            CRS_PARAMETER,
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    @action(detail=True, methods=["get"])
    def boundary(self, request, pk=None):
        detail = request.query_params.get("detail") or "display"
        if detail not in ("display", "full"):
            raise ValidationError({"detail": [_("Use display or full.")]}, code="invalid")
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


class StationViewSet(StationServiceAreaMixin, ScopedModelViewSet):
    queryset = Station.objects.all()
    serializer_class = serializers.StationSerializer
    filterset_class = filters.StationFilterSet
    search_fields = ["name", "host_org"]
    ordering_fields = ["name", "established_on", "updated_at"]
    write_roles = {"*": ADMIN, "update": (Role.BUREAU_ADMIN, Role.STATION_MANAGER)}

    def optimize(self, queryset):
        return queryset.prefetch_related("industries")


class DemonstrationBaseViewSet(ScopedModelViewSet):
    queryset = DemonstrationBase.objects.all()
    serializer_class = serializers.DemonstrationBaseSerializer
    filterset_class = filters.DemonstrationBaseFilterSet
    search_fields = ["name", "operator"]
    ordering_fields = ["name", "area_mu", "certified_on", "updated_at"]

    def optimize(self, queryset):
        return queryset.select_related("industry", "field_school")

    def perform_create(self, serializer):
        services.base_create(serializer=serializer)


class FieldSchoolViewSet(ScopedModelViewSet):
    """Each base has exactly one field school: it is created with the base and deleted with it."""

    queryset = FieldSchool.objects.all()
    serializer_class = serializers.FieldSchoolSerializer
    http_method_names = ["get", "put", "patch", "head", "options"]
    search_fields = ["name", "base__name"]
    ordering_fields = ["name", "established_on"]
    filterset_class = filters.FieldSchoolFilterSet

    def optimize(self, queryset):
        return queryset.select_related("base")


class ExpertViewSet(ScopedModelViewSet):
    queryset = Expert.objects.all()
    serializer_class = serializers.ExpertSerializer
    filterset_class = filters.ExpertFilterSet
    search_fields = ["name", "organization"]
    ordering_fields = ["name", "industry__sort_order"]

    def optimize(self, queryset):
        return queryset.select_related("industry").annotate(
            workers_count=Count("workers", filter=Q(workers__active=True))
        )

    @extend_schema(
        summary="The expert's network tree with status against target", responses=serializers.ExpertNetworkSerializer
    )
    @action(detail=True, methods=["get"])
    def network(self, request, pk=None):
        return Response(selectors.expert_network(self.get_object(), request.user))


class ExtensionWorkerViewSet(ScopedModelViewSet):
    queryset = ExtensionWorker.objects.all()
    serializer_class = serializers.ExtensionWorkerSerializer
    filterset_class = filters.ExtensionWorkerFilterSet
    search_fields = ["name"]
    ordering_fields = ["name", "updated_at"]

    def optimize(self, queryset):
        return queryset.select_related("expert__industry").annotate(
            households_count=Count("households", filter=Q(households__deleted_at__isnull=True))
        )


class TechCommissionerViewSet(ScopedModelViewSet):
    queryset = TechCommissioner.objects.all()
    serializer_class = serializers.TechCommissionerSerializer
    filterset_class = filters.TechCommissionerFilterSet
    search_fields = ["name", "affiliation", "specialty"]
    ordering_fields = ["name", "service_start_year"]

    def optimize(self, queryset):
        return queryset.prefetch_related(
            Prefetch("stations", queryset=Station.objects.only("id")),
            Prefetch("bases", queryset=DemonstrationBase.objects.only("id")),
        )


class TombstonePullMixin:
    """``?updated_since=`` turns the list into a pull: cursor pages in change order, deleted rows included as
    tombstones (``deleted: true``). Otherwise only live rows are listed. Deleting keeps a tombstone."""

    pagination_class = PullablePagination

    def is_pull(self) -> bool:
        return is_pull(self)

    def get_queryset(self):
        queryset = super().get_queryset()
        return queryset if self.is_pull() else queryset.filter(deleted_at__isnull=True)

    @property
    def paginator(self):
        if not hasattr(self, "_paginator"):
            self._paginator = SyncCursorPagination() if self.is_pull() else super().paginator
        return self._paginator

    def perform_destroy(self, instance):
        now = timezone.now()
        type(instance).objects.filter(pk=instance.pk).update(deleted_at=now, updated_at=now)


class ModelHouseholdViewSet(TombstonePullMixin, IdempotentCreateMixin, ScopedModelViewSet):
    queryset = ModelHousehold.objects.all()
    serializer_class = serializers.ModelHouseholdSerializer
    filterset_class = filters.ModelHouseholdFilterSet
    search_fields = ["head_name", "address"]
    ordering_fields = ["created_at", "updated_at", "head_name"]
    write_roles = {"*": (Role.BUREAU_ADMIN, Role.WORKER)}

    def perform_destroy(self, instance):
        if instance.farmers.filter(deleted_at__isnull=True).exists():
            raise InUse()
        super().perform_destroy(instance)

    def optimize(self, queryset):
        return (
            queryset.select_related("worker")
            .prefetch_related("industries")
            .annotate(farmers_count=Count("farmers", filter=Q(farmers__deleted_at__isnull=True)))
        )


class FarmerViewSet(TombstonePullMixin, IdempotentCreateMixin, ScopedModelViewSet):
    queryset = Farmer.objects.all()
    serializer_class = serializers.FarmerSerializer
    filterset_class = filters.FarmerFilterSet
    search_fields = ["name"]
    ordering_fields = ["created_at", "updated_at", "name"]
    write_roles = {"*": (Role.BUREAU_ADMIN, Role.WORKER), "reveal": ADMIN}

    def optimize(self, queryset):
        return queryset.select_related("household__worker")

    @extend_schema(
        summary="Show a farmer's phone and ID number unmasked (bureau admins; audited)",
        description="Each call writes a personal-data access record (who, when, which farmer, which fields, why).",
        request=serializers.PersonalDataRevealSerializer,
        responses={200: serializers.RevealedPersonalDataSerializer},
    )
    @action(detail=True, methods=["post"], filterset_class=None)
    def reveal(self, request, pk=None):
        farmer = self.get_object()
        serializer = serializers.PersonalDataRevealSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        reason = serializer.validated_data["reason"]
        services.farmer_personal_data_reveal(user=request.user, farmer=farmer, reason=reason)
        data = {"id": farmer.pk, "name": farmer.name, "phone": farmer.phone, "id_number": farmer.id_number}
        return Response(serializers.RevealedPersonalDataSerializer(data).data)


class NetworkSummaryView(GenericAPIView):
    """The whole network (within the caller's scope) per industry, against the plan's targets."""

    serializer_class = serializers.NetworkSummarySerializer

    @extend_schema(
        summary="Network counts per industry against the plan's targets",
        parameters=[
            OpenApiParameter(
                "year",
                {"type": "integer", "minimum": 2000, "maximum": 2100},
                description="Year for commissioners in service.",
            )
        ],
    )
    def get(self, request):
        year = request.query_params.get("year") or None  # empty, as a form sends it: not given
        if year is not None and not (year.isdigit() and 2000 <= int(year) <= 2100):
            raise ValidationError({"year": [_("Give a year between 2000 and 2100.")]}, code="invalid")
        return Response(selectors.network_summary(request.user, int(year) if year else None))


# --- accounts ---------------------------------------------------------------------------------


class LoginView(GenericAPIView):
    """Exchange a username and password for a per-device token."""

    permission_classes = [AllowAny]
    authentication_classes = []
    serializer_class = serializers.LoginSerializer
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "login"

    @extend_schema(summary="Log in and get a device token", responses={200: serializers.TokenSerializer})
    def post(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = serializer.validated_data["user"]
        token, raw = DeviceToken.objects.create(
            user=user, expiry=knox_settings.TOKEN_TTL, device=serializer.validated_data.get("device", "")
        )
        limit = knox_settings.TOKEN_LIMIT_PER_USER
        if limit:
            stale = DeviceToken.objects.filter(user=user).order_by("-created").values_list("digest", flat=True)[limit:]
            DeviceToken.objects.filter(digest__in=list(stale)).delete()
        user_logged_in.send(sender=user.__class__, request=request, user=user)
        return Response({"token": raw, "expiry": token.expiry, "user": serializers.MeSerializer(user).data})


class LogoutView(APIView):  # no body: a GenericAPIView without a serializer breaks OPTIONS
    write_roles = {"*": ANY_ROLE}

    @extend_schema(summary="Revoke this device's token", request=None, responses={204: None})
    def post(self, request):
        if isinstance(request.auth, DeviceToken):
            request.auth.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class LogoutAllView(APIView):  # no body: a GenericAPIView without a serializer breaks OPTIONS
    write_roles = {"*": ANY_ROLE}

    @extend_schema(summary="Revoke every token of this account (all devices)", request=None, responses={204: None})
    def post(self, request):
        DeviceToken.objects.filter(user=request.user).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class PasswordChangeView(GenericAPIView):
    """Change one's own password; every other device of the account is logged out."""

    serializer_class = serializers.PasswordChangeSerializer
    write_roles = {"*": ANY_ROLE}

    @extend_schema(summary="Change your password (other devices are logged out)", responses={204: None})
    def post(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        token = request.auth if isinstance(request.auth, DeviceToken) else None
        services.user_password_change(
            user=request.user,
            new_password=serializer.validated_data["new_password"],
            keep_token_digest=token.digest if token else None,
        )
        if isinstance(request.successful_authenticator, SessionAuthentication):
            update_session_auth_hash(request, request.user)  # keep this browser session, drop the others
        return Response(status=status.HTTP_204_NO_CONTENT)


class HealthView(GenericAPIView):
    """For load balancers and monitoring: answers without a login, and only when the database answers too."""

    permission_classes = [AllowAny]
    authentication_classes = []
    throttle_classes = []
    serializer_class = serializers.HealthSerializer

    @extend_schema(
        summary="Health check (no login)",
        description=(
            "200 when this process can serve requests: the database answered `SELECT 1`. When it does not, 503 "
            "`retry_later` with `Retry-After`, like every other endpoint. Never cached. Point the load balancer's "
            "health check here."
        ),
        responses={
            200: serializers.HealthSerializer,
            503: OpenApiResponse(description="The database does not answer: `retry_later`, see `Retry-After`."),
        },
    )
    def get(self, request):
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return Response({"status": "ok", "database": "ok"}, headers={"Cache-Control": "no-store"})


class MeView(GenericAPIView):
    serializer_class = serializers.MeSerializer

    @extend_schema(summary="The current account: role, jurisdiction and linked person")
    def get(self, request):
        return Response(self.get_serializer(request.user).data)


class DeviceTokenViewSet(mixins.ListModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet):
    """The caller's own device tokens; delete one to cut off a lost phone."""

    queryset = DeviceToken.objects.all()  # narrowed to the caller in get_queryset
    serializer_class = serializers.DeviceTokenSerializer
    lookup_field = "token_key"
    lookup_value_regex = r"[0-9a-zA-Z]+"  # the token's first characters (any other key is a 404 before any query)
    write_roles = {"*": ANY_ROLE}

    def get_queryset(self):
        if not self.request.user.is_authenticated:
            return DeviceToken.objects.none()
        return DeviceToken.objects.filter(user=self.request.user).order_by("-created")
