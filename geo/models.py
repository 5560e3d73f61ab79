from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from geo import lookups  # noqa: F401 (registers the ``prefix`` lookup)
from geo.codes import PREFIX_LENGTH, Level, code_errors, full_code


class AdminDivisionQuerySet(models.QuerySet):
    def within(self, jurisdiction: str) -> "AdminDivisionQuerySet":
        """Divisions whose code starts with a jurisdiction prefix ("" means all)."""
        return self.filter(code__prefix=jurisdiction) if jurisdiction else self

    def visible_to(self, user) -> "AdminDivisionQuerySet":
        """What an account reads: the divisions inside its jurisdiction (``user.jurisdiction``, a code prefix; empty
        means all) and that jurisdiction's ancestors; nothing for an anonymous user."""
        if user is None or not user.is_authenticated:
            return self.none()
        jurisdiction = user.jurisdiction
        if not jurisdiction:
            return self
        ancestors = [full_code(jurisdiction[:n]) for n in (2, 4, 6, 9) if n < len(jurisdiction)]
        return self.filter(Q(code__prefix=jurisdiction) | Q(code__in=ancestors))

    def villages(self) -> "AdminDivisionQuerySet":
        return self.filter(level=Level.VILLAGE)

    def townships(self) -> "AdminDivisionQuerySet":
        return self.filter(level=Level.TOWNSHIP)


class AdminDivision(models.Model):
    """An administrative division (行政区划) identified by its 12-digit statistical code."""

    code = models.CharField(_("code"), max_length=12, primary_key=True)
    name = models.CharField(_("name"), max_length=100)
    level = models.CharField(_("level"), max_length=10, choices=Level.choices, db_index=True)
    parent = models.ForeignKey(
        "self", verbose_name=_("parent"), null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    # GeoJSON geometries in WGS-84; the display copy is simplified once, at import.
    boundary = models.JSONField(_("boundary"), null=True, blank=True)
    boundary_display = models.JSONField(_("simplified boundary"), null=True, blank=True)
    boundary_synthetic = models.BooleanField(
        _("synthetic boundary"), default=False, help_text=_("True where the boundary is generated, not official.")
    )
    fictional = models.BooleanField(
        _("fictional"),
        default=False,
        help_text=_("True for a division invented by the demo (name, code and boundary), not a real one."),
    )
    area_km2 = models.FloatField(_("area (km²)"), null=True, blank=True)
    rep_lat = models.FloatField(_("representative latitude"), null=True, blank=True)
    rep_lon = models.FloatField(_("representative longitude"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = AdminDivisionQuerySet.as_manager()

    class Meta:
        verbose_name = _("administrative division")
        verbose_name_plural = _("administrative divisions")
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(condition=Q(code__regex=r"^[0-9]{12}$"), name="division_code_12_digits"),
            models.CheckConstraint(condition=Q(level__in=Level.values), name="division_level_valid"),
            models.CheckConstraint(
                condition=Q(rep_lat__isnull=True) | Q(rep_lat__gte=-90, rep_lat__lte=90), name="division_rep_lat_range"
            ),
            models.CheckConstraint(
                condition=Q(rep_lon__isnull=True) | Q(rep_lon__gte=-180, rep_lon__lte=180),
                name="division_rep_lon_range",
            ),
        ]

    def __str__(self):
        return f"{self.name} ({self.code})"

    @property
    def prefix(self) -> str:
        return self.code[: PREFIX_LENGTH[self.level]]

    def clean(self):
        parent = self.parent
        errors = code_errors(self.code, self.level, parent.code if parent else None, parent.level if parent else None)
        if errors:
            raise ValidationError({"code": errors})
