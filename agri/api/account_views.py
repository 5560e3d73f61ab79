"""Accounts: log in and out with per-device tokens, the caller's devices and account, password changes, and the
health check."""

from django.contrib.auth import update_session_auth_hash, user_logged_in
from django.db import connection
from drf_spectacular.utils import OpenApiResponse, extend_schema
from knox.settings import knox_settings
from rest_framework import mixins, status, viewsets
from rest_framework.authentication import SessionAuthentication
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from agri import services
from agri.api import account_serializers as serializers
from agri.api.permissions import ANY_ROLE
from agri.api.throttling import LoginRateThrottle
from agri.middleware import never_compress
from agri.models import DeviceToken, TokenEnd


class LoginView(GenericAPIView):
    """Exchange a username and password for a per-device token."""

    permission_classes = [AllowAny]
    authentication_classes = []
    serializer_class = serializers.LoginSerializer
    throttle_classes = [LoginRateThrottle]

    @extend_schema(
        summary="Log in and get a device token",
        description=(
            "One token per named device: a login with a `device` name the account already has replaces that "
            "device's token (the old one then answers 401 `token_revoked`). An empty name never replaces one. A login "
            "that would pass the account's limit of devices (`TOKEN_LIMIT_PER_USER`, 20) is refused with 409 "
            "`token_limit`, whose body adds `limit` and `oldest_device` (`token_key`, `device`, `created`): log a "
            "device out (`DELETE /api/v1/auth/devices/{token_key}/`, or `POST /api/v1/auth/logout-all/`) and log in "
            "again. Expired tokens hold no slot."
        ),
        responses={
            200: serializers.TokenSerializer,
            409: OpenApiResponse(
                description="`token_limit`: the account is logged in on its limit of devices; the body adds "
                "`limit` and `oldest_device` (`token_key`, `device`, `created`)."
            ),
        },
    )
    def post(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = serializer.validated_data["user"]
        token, raw = services.device_token_issue(
            user=user,
            device=serializer.validated_data.get("device", ""),
            ttl=knox_settings.TOKEN_TTL,
            limit=knox_settings.TOKEN_LIMIT_PER_USER,
        )
        user_logged_in.send(sender=user.__class__, request=request, user=user)
        # The token is a secret: never compressed, so that the response's length cannot leak it (BREACH).
        return never_compress(
            Response(serializers.TokenSerializer({"token": raw, "expiry": token.expiry, "user": user}).data)
        )


class LogoutView(APIView):  # no body: a GenericAPIView without a serializer breaks OPTIONS
    write_roles = {"*": ANY_ROLE}

    @extend_schema(summary="Revoke this device's token", request=None, responses={204: None})
    def post(self, request):
        if isinstance(request.auth, DeviceToken):
            services.device_tokens_retire(
                tokens=DeviceToken.objects.filter(digest=request.auth.digest), reason=TokenEnd.LOGOUT
            )
        return Response(status=status.HTTP_204_NO_CONTENT)


class LogoutAllView(APIView):  # no body: a GenericAPIView without a serializer breaks OPTIONS
    write_roles = {"*": ANY_ROLE}

    @extend_schema(summary="Revoke every token of this account (all devices)", request=None, responses={204: None})
    def post(self, request):
        services.device_tokens_retire(tokens=DeviceToken.objects.filter(user=request.user), reason=TokenEnd.LOGOUT_ALL)
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

    def perform_destroy(self, instance):
        """The phone that holds it is answered 401 ``token_revoked`` from now on."""
        services.device_tokens_retire(
            tokens=DeviceToken.objects.filter(digest=instance.digest), reason=TokenEnd.DEVICE_DELETED
        )
