"""Accounts: logging in and out, device tokens, the current account, password changes, the health check."""

from django.contrib.auth import authenticate
from django.contrib.auth.password_validation import validate_password
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, serializers

from agri.api.exceptions import LoginLocked
from agri.api.fields import StrictJSONTypesMixin
from agri.lockout import LOCKED, login_failure_record, login_locked_seconds, login_refusal
from agri.models import DeviceToken, User


class LoginSerializer(StrictJSONTypesMixin, serializers.Serializer):
    username = serializers.CharField()
    password = serializers.CharField(style={"input_type": "password"}, trim_whitespace=False, write_only=True)
    device = serializers.CharField(
        required=False, allow_blank=True, max_length=100, help_text=_("A name for this device, shown in device lists.")
    )

    def validate(self, attrs):
        request = self.context["request"]
        wait = login_locked_seconds(request, attrs["username"])
        if wait:
            raise LoginLocked(wait=wait)
        user = authenticate(request, username=attrs["username"], password=attrs["password"])
        if user is None:
            refusal = login_refusal(request)  # locked between the check above and the backend's own
            if refusal:
                raise LoginLocked(wait=refusal[1]) if refusal[0] == LOCKED else exceptions.Throttled(wait=refusal[1])
            raise serializers.ValidationError(_("Wrong username or password."), code="invalid_credentials")
        attrs["user"] = user
        return attrs


class PasswordChangeSerializer(StrictJSONTypesMixin, serializers.Serializer):
    old_password = serializers.CharField(style={"input_type": "password"}, trim_whitespace=False, write_only=True)
    new_password = serializers.CharField(
        style={"input_type": "password"},
        trim_whitespace=False,
        write_only=True,
        max_length=128,
        help_text=_("Checked by the password validators: length, similarity to the account, common, all digits."),
    )

    def validate_old_password(self, value):
        # A stolen token must not become a way to guess the password: wrong guesses count as failed logins.
        request = self.context["request"]
        username = request.user.get_username()
        wait = login_locked_seconds(request, username)
        if wait:
            raise LoginLocked(wait=wait)
        if not request.user.check_password(value):
            login_failure_record(request, username)
            raise serializers.ValidationError(_("The current password is wrong."), code="wrong_password")
        return value

    def validate_new_password(self, value):
        validate_password(value, self.context["request"].user)  # Django's ValidationError keeps the codes
        return value

    def validate(self, attrs):
        if attrs["new_password"] == attrs["old_password"]:
            raise serializers.ValidationError(
                {"new_password": [_("The new password must differ from the current one.")]}, code="password_unchanged"
            )
        return attrs


class LinkedPersonSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=["expert", "extension_worker", "tech_commissioner", "station"])
    id = serializers.IntegerField(
        help_text=_(
            "The person's id: the integer that other records refer to it by (a household's `worker`, a worker's "
            "`expert`, a visit's `actor_id`, a commissioner's `stations`)."
        )
    )
    name = serializers.CharField()


class HealthSerializer(serializers.Serializer):
    status = serializers.CharField(help_text=_('Always "ok" in a 200.'))
    database = serializers.CharField(help_text=_('Always "ok" in a 200: the database answered.'))


class MeSerializer(serializers.ModelSerializer):
    role_display = serializers.CharField(source="get_role_display", read_only=True)
    person = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["id", "username", "first_name", "last_name", "role", "role_display", "jurisdiction", "person"]

    def get_person(self, user) -> LinkedPersonSerializer(allow_null=True):
        for attr in ("expert", "extension_worker", "tech_commissioner"):
            person = user.linked(attr)
            if person is not None:
                return {"type": attr, "id": person.pk, "name": person.name}
        if user.station_id:
            return {"type": "station", "id": user.station_id, "name": user.station.name}
        return None


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text=_("Send as `Authorization: Token <token>`. Shown only once."))
    expiry = serializers.DateTimeField(allow_null=True)
    user = MeSerializer()


class DeviceTokenSerializer(serializers.ModelSerializer):
    current = serializers.SerializerMethodField()

    class Meta:
        model = DeviceToken
        fields = ["token_key", "device", "created", "expiry", "current"]

    def get_current(self, token) -> bool:
        request = self.context.get("request")
        return bool(request and request.auth is not None and getattr(request.auth, "digest", None) == token.digest)
