from django.contrib.auth.models import AbstractUser
from django.contrib.auth.models import UserManager as DjangoUserManager
from django.contrib.auth.password_validation import validate_password
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from knox.models import AbstractAuthToken


class Role(models.TextChoices):
    BUREAU_ADMIN = "bureau_admin", _("bureau admin")
    BUREAU_VIEWER = "bureau_viewer", _("bureau viewer")
    EXPERT = "expert", _("industry expert")
    WORKER = "worker", _("extension worker")
    COMMISSIONER = "commissioner", _("tech commissioner")
    STATION_MANAGER = "station_manager", _("station manager")


BUREAU_ROLES = (Role.BUREAU_ADMIN, Role.BUREAU_VIEWER)


class UserManager(DjangoUserManager):
    """Django's, except that a password given here must pass AUTH_PASSWORD_VALIDATORS (a Django ValidationError
    otherwise). ``createsuperuser --noinput`` would store DJANGO_SUPERUSER_PASSWORD unchecked: Django validates
    only a typed password, and even that one may be waved through at its prompt."""

    def _validate(self, username, email, password):
        if password is not None:
            validate_password(password, self.model(username=username, email=email or ""))

    def create_user(self, username, email=None, password=None, **extra_fields):
        self._validate(username, email, password)
        return super().create_user(username, email, password, **extra_fields)

    def create_superuser(self, username, email=None, password=None, **extra_fields):
        self._validate(username, email, password)
        return super().create_superuser(username, email, password, **extra_fields)


class User(AbstractUser):
    """An account: one role, a jurisdiction (division code prefix) and at most one linked person."""

    role = models.CharField(_("role"), max_length=20, choices=Role.choices, default=Role.BUREAU_VIEWER)
    jurisdiction = models.CharField(
        _("jurisdiction"),
        max_length=12,
        blank=True,
        help_text=_("Division code prefix the account may see, e.g. 500235 for the county; empty means all."),
    )
    station = models.ForeignKey(
        "agri.Station",
        verbose_name=_("managed station"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="managers",
    )

    objects = UserManager()

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        constraints = [
            models.CheckConstraint(condition=Q(role__in=Role.values), name="user_role_valid"),
            models.CheckConstraint(
                condition=Q(jurisdiction__regex=r"^([0-9]{2}|[0-9]{4}|[0-9]{6}|[0-9]{9}|[0-9]{12})?$"),
                name="user_jurisdiction_prefix",
            ),
        ]

    # Whether a save changes the password, for agri.services.accounts.device_tokens_retire_on_password_change: the
    # hash as it was read from the database, and whether set_password() ran since.
    _UNKNOWN = object()

    @classmethod
    def from_db(cls, db, field_names, values):
        user = super().from_db(db, field_names, values)
        user._stored_password = user.__dict__.get("password", cls._UNKNOWN)
        return user

    def refresh_from_db(self, using=None, fields=None, from_queryset=None):
        super().refresh_from_db(using=using, fields=fields, from_queryset=from_queryset)
        if fields is None or "password" in fields:
            self._stored_password = self.__dict__.get("password", self._UNKNOWN)

    def set_password(self, raw_password):
        super().set_password(raw_password)
        self._password_set = True

    def save(self, *args, **kwargs):
        super().save(*args, **kwargs)  # post_save receivers run in here and see the change
        update_fields = kwargs.get("update_fields")
        if update_fields is None or "password" in update_fields:
            self._stored_password = self.__dict__.get("password", self._UNKNOWN)
            self._password_set = False

    def password_changes_on_save(self) -> bool:
        """Whether saving now stores another password: one given to ``set_password`` (the API, the admin, the shell,
        ``changepassword``, a password reset), ``set_unusable_password``, or a hash assigned to ``password``.

        A hash that Django upgrades to the preferred hasher when it checks a password is the same password: Django
        then calls ``set_password`` and clears ``_password`` before saving, which is how it is told apart.
        """
        if self._password is not None:  # set_password(), not yet saved
            return True
        if getattr(self, "_password_set", False):  # set_password(), then Django's own hash upgrade
            return False
        stored = getattr(self, "_stored_password", self._UNKNOWN)
        return stored is not self._UNKNOWN and self.__dict__.get("password", stored) != stored

    @property
    def is_bureau(self) -> bool:
        return self.role in BUREAU_ROLES

    def linked(self, attr: str):
        """The person linked through a reverse one-to-one (``expert``, ``extension_worker``, ...), or None."""
        try:
            return getattr(self, attr)
        except models.ObjectDoesNotExist:
            return None


class DeviceToken(AbstractAuthToken):
    """A hashed, expiring API token for one device; revoke it to cut off a lost phone."""

    device = models.CharField(_("device"), max_length=100, blank=True)

    class Meta:
        verbose_name = _("device token")
        verbose_name_plural = _("device tokens")
        ordering = ["-created"]


class TokenEnd(models.TextChoices):
    """Why a device token stopped working. Every reason but ``expired`` is a revocation."""

    EXPIRED = "expired", _("expired")
    LOGOUT = "logout", _("logged out")
    LOGOUT_ALL = "logout_all", _("every device logged out")
    DEVICE_DELETED = "device_deleted", _("removed from the device list")
    PASSWORD_CHANGE = "password_change", _("password changed")
    REPLACED = "replaced", _("replaced by a new login with the same device name")
    RESTORE = "restore", _("revoked by a restore from a backup")


class RetiredToken(models.Model):
    """A device token that no longer works, remembered for a while so that a phone sending it is told why
    (``token_expired`` or ``token_revoked``) instead of ``token_invalid``.

    Only the token's digest is kept (the same hash as ``DeviceToken.digest``), never the token. Rows are written and
    pruned by ``agri.services.accounts.device_tokens_retire``: each is kept for the token lifetime (``TOKEN_TTL``),
    after which the token would have expired unused anyway.
    """

    digest = models.CharField(_("digest"), max_length=128, primary_key=True)  # knox's DIGEST_LENGTH
    user = models.ForeignKey(User, verbose_name=_("user"), on_delete=models.CASCADE, related_name="retired_tokens")
    device = models.CharField(_("device"), max_length=100, blank=True)
    reason = models.CharField(_("reason"), max_length=20, choices=TokenEnd.choices)
    retired_at = models.DateTimeField(_("retired at"), db_index=True)

    class Meta:
        verbose_name = _("retired device token")
        verbose_name_plural = _("retired device tokens")
        constraints = [
            models.CheckConstraint(condition=Q(reason__in=TokenEnd.values), name="retiredtoken_reason_valid")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.device or '-'}: {self.reason}"
