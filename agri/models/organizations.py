from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from agri.models.base import Located, TimeStamped
from agri.models.scoping import ScopedQuerySet


class Industry(models.Model):
    """A leading industry (产业) of the county, e.g. citrus or goats."""

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=50, unique=True)
    name_en = models.CharField(_("English name"), max_length=80, blank=True)
    sort_order = models.PositiveSmallIntegerField(_("sort order"), default=0)

    class Meta:
        verbose_name = _("industry")
        verbose_name_plural = _("industries")
        ordering = ["sort_order", "code"]

    def __str__(self):
        return self.name


class HostType(models.TextChoices):
    COMPANY = "company", _("company")
    COOPERATIVE = "cooperative", _("cooperative")
    FAMILY_FARM = "family_farm", _("family farm")
    INSTITUTION = "institution", _("public institution")
    OTHER = "other", _("other")


class StationQuerySet(ScopedQuerySet):
    def for_expert(self, expert):
        return self.filter(industries=expert.industry_id, village__code__prefix=expert.county_id[:6])

    def for_worker(self, worker):
        return self.filter(village__code__prefix=worker.home_township_id[:9])

    def for_commissioner(self, commissioner):
        return self.filter(commissioners=commissioner)

    def for_station_manager(self, user):
        return self.filter(pk=user.station_id) if user.station_id else self.none()


class Station(Located, TimeStamped):
    """A tech-commissioner workstation (科技特派员工作站) hosted by a company or cooperative."""

    name = models.CharField(_("name"), max_length=100)
    host_org = models.CharField(_("host organisation"), max_length=100)
    host_type = models.CharField(_("host type"), max_length=20, choices=HostType.choices, default=HostType.COMPANY)
    industries = models.ManyToManyField(Industry, verbose_name=_("industries"), related_name="stations", blank=True)
    established_on = models.DateField(_("established on"), null=True, blank=True)

    objects = StationQuerySet.as_manager()

    class Meta(Located.Meta):
        verbose_name = _("tech-commissioner station")
        verbose_name_plural = _("tech-commissioner stations")
        ordering = ["name", "id"]

    def __str__(self):
        return self.name


class BaseStatus(models.TextChoices):
    PROPOSED = "proposed", _("proposed")
    CERTIFIED = "certified", _("certified")
    SUSPENDED = "suspended", _("suspended")
    REVOKED = "revoked", _("revoked")


class DemonstrationBaseQuerySet(ScopedQuerySet):
    def for_expert(self, expert):
        return self.filter(industry_id=expert.industry_id, village__code__prefix=expert.county_id[:6])

    def for_worker(self, worker):
        # The worker's expert's industry, by join (no extra query); the county is the home township's.
        return self.filter(industry__experts=worker.expert_id, village__code__prefix=worker.home_township_id[:6])

    def for_commissioner(self, commissioner):
        return self.filter(commissioners=commissioner)


class DemonstrationBase(Located, TimeStamped):
    """An agricultural science trial and demonstration base (农业科技试验示范基地)."""

    name = models.CharField(_("name"), max_length=100)
    industry = models.ForeignKey(Industry, verbose_name=_("industry"), on_delete=models.PROTECT, related_name="bases")
    operator = models.CharField(_("operator"), max_length=100, blank=True)
    # GeoJSON Polygon or MultiPolygon in WGS-84.
    parcel = models.JSONField(_("parcel polygon"), null=True, blank=True)
    # Positive, like the check constraint: the smallest area two decimals can give.
    area_mu = models.DecimalField(
        _("area (mu)"),
        max_digits=10,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0.01"))],
        null=True,
        blank=True,
    )
    certified_on = models.DateField(_("certified on"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=20, choices=BaseStatus.choices, default=BaseStatus.PROPOSED)

    objects = DemonstrationBaseQuerySet.as_manager()

    class Meta:
        verbose_name = _("demonstration base")
        verbose_name_plural = _("demonstration bases")
        ordering = ["name", "id"]
        constraints = [
            *Located.Meta.constraints,
            models.CheckConstraint(condition=Q(area_mu__isnull=True) | Q(area_mu__gt=0), name="base_area_positive"),
            models.CheckConstraint(condition=Q(status__in=BaseStatus.values), name="base_status_valid"),
            models.CheckConstraint(
                condition=~Q(status=BaseStatus.CERTIFIED) | Q(certified_on__isnull=False),
                name="base_certified_has_date",
            ),
        ]

    def __str__(self):
        return self.name

    def clean(self):
        if self.status == BaseStatus.CERTIFIED and not self.certified_on:
            raise ValidationError({"certified_on": _("A certified base needs its certification date.")})


class FieldSchoolQuerySet(ScopedQuerySet):
    scope_field = "base__village__code"

    def for_expert(self, expert):
        return self.filter(base__industry_id=expert.industry_id, base__village__code__prefix=expert.county_id[:6])

    def for_worker(self, worker):
        return self.filter(
            base__industry__experts=worker.expert_id, base__village__code__prefix=worker.home_township_id[:6]
        )

    def for_commissioner(self, commissioner):
        return self.filter(base__commissioners=commissioner)


class FieldSchool(TimeStamped):
    """The farmers' field school (农民田间学校) that each demonstration base runs, exactly one per base."""

    base = models.OneToOneField(
        DemonstrationBase, verbose_name=_("base"), on_delete=models.CASCADE, related_name="field_school"
    )
    name = models.CharField(_("name"), max_length=100)
    established_on = models.DateField(_("established on"), null=True, blank=True)
    capacity = models.PositiveIntegerField(_("capacity (trainees)"), null=True, blank=True)

    objects = FieldSchoolQuerySet.as_manager()

    class Meta:
        verbose_name = _("farmers' field school")
        verbose_name_plural = _("farmers' field schools")
        ordering = ["name", "id"]

    def __str__(self):
        return self.name
