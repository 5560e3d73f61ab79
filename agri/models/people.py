import uuid

from django.core.validators import RegexValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from agri.models.base import PHONE_REGEX, Located, TimeStamped, Versioned
from agri.models.organizations import DemonstrationBase, Industry, Station
from agri.models.scoping import CountyScopedQuerySet, ScopedQuerySet
from agri.validators import validate_id_number

phone_validator = RegexValidator(PHONE_REGEX, _("Enter a valid phone number."), code="invalid_phone")


def phone_field() -> models.CharField:
    """A person's phone number (optional); personal data, masked for most readers (``agri.privacy``)."""
    return models.CharField(_("phone"), max_length=20, blank=True, validators=[phone_validator])


def linked_account(related_name: str) -> models.OneToOneField:
    """The login account of a person who records visits (optional), reached from it as ``user.<related_name>``."""
    return models.OneToOneField(
        "agri.User",
        verbose_name=_("account"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name=related_name,
    )


class ExpertQuerySet(CountyScopedQuerySet):
    def for_expert(self, expert):
        return self.filter(pk=expert.pk)

    def for_worker(self, worker):
        return self.filter(pk=worker.expert_id)


class Expert(TimeStamped):
    """An industry technical expert (产业技术专家): one active per industry in each county."""

    name = models.CharField(_("name"), max_length=50)
    industry = models.ForeignKey(Industry, verbose_name=_("industry"), on_delete=models.PROTECT, related_name="experts")
    county = models.ForeignKey(
        "geo.AdminDivision", verbose_name=_("county"), on_delete=models.PROTECT, related_name="+"
    )
    title = models.CharField(_("professional title"), max_length=50, blank=True)
    organization = models.CharField(_("organisation"), max_length=100, blank=True)
    phone = phone_field()
    active = models.BooleanField(_("active"), default=True)
    user = linked_account("expert")

    objects = ExpertQuerySet.as_manager()

    class Meta:
        verbose_name = _("industry expert")
        verbose_name_plural = _("industry experts")
        ordering = ["industry__sort_order", "name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["industry", "county"], condition=Q(active=True), name="one_active_expert_per_industry"
            ),
        ]

    def __str__(self):
        return f"{self.name} ({self.industry})"


class ExtensionWorkerQuerySet(ScopedQuerySet):
    scope_field = "home_township__code"

    def for_expert(self, expert):
        return self.filter(expert=expert)

    def for_worker(self, worker):
        return self.filter(pk=worker.pk)


class ExtensionWorker(TimeStamped):
    """An agricultural extension worker (农技推广人员), led by one expert."""

    name = models.CharField(_("name"), max_length=50)
    expert = models.ForeignKey(Expert, verbose_name=_("expert"), on_delete=models.PROTECT, related_name="workers")
    is_township_based = models.BooleanField(_("township-based (乡镇农技人员)"), default=True)
    home_township = models.ForeignKey(
        "geo.AdminDivision", verbose_name=_("home township"), on_delete=models.PROTECT, related_name="+"
    )
    phone = phone_field()
    active = models.BooleanField(_("active"), default=True)
    user = linked_account("extension_worker")

    objects = ExtensionWorkerQuerySet.as_manager()

    class Meta:
        verbose_name = _("extension worker")
        verbose_name_plural = _("extension workers")
        ordering = ["name", "id"]

    def __str__(self):
        return self.name


class AffiliationType(models.TextChoices):
    UNIVERSITY = "university", _("university")
    INSTITUTE = "institute", _("research institute")
    COMPANY = "company", _("company")
    OTHER = "other", _("other")


class TechCommissionerQuerySet(CountyScopedQuerySet):
    def for_commissioner(self, commissioner):
        return self.filter(pk=commissioner.pk)

    def for_station_manager(self, user):
        return self.filter(stations=user.station_id) if user.station_id else self.none()

    def in_service(self, year: int):
        """Commissioners whose service years cover ``year``."""
        return self.filter(active=True, service_start_year__lte=year).filter(
            Q(service_end_year__isnull=True) | Q(service_end_year__gte=year)
        )


class TechCommissioner(TimeStamped):
    """A science and technology commissioner (科技特派员) from a university or institute."""

    name = models.CharField(_("name"), max_length=50)
    affiliation = models.CharField(_("affiliation"), max_length=100)
    affiliation_type = models.CharField(
        _("affiliation type"), max_length=20, choices=AffiliationType.choices, default=AffiliationType.UNIVERSITY
    )
    specialty = models.CharField(_("specialty"), max_length=100, blank=True)
    county = models.ForeignKey(
        "geo.AdminDivision", verbose_name=_("county"), on_delete=models.PROTECT, related_name="+"
    )
    service_start_year = models.PositiveSmallIntegerField(_("first service year"))
    service_end_year = models.PositiveSmallIntegerField(_("last service year"), null=True, blank=True)
    phone = phone_field()
    active = models.BooleanField(_("active"), default=True)
    stations = models.ManyToManyField(
        Station, verbose_name=_("stations served"), related_name="commissioners", blank=True
    )
    bases = models.ManyToManyField(
        DemonstrationBase, verbose_name=_("bases served"), related_name="commissioners", blank=True
    )
    user = linked_account("tech_commissioner")

    objects = TechCommissionerQuerySet.as_manager()

    class Meta:
        verbose_name = _("tech commissioner")
        verbose_name_plural = _("tech commissioners")
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(service_end_year__isnull=True) | Q(service_end_year__gte=F("service_start_year")),
                name="commissioner_service_years_ordered",
            ),
        ]

    def __str__(self):
        return self.name


class ModelHouseholdQuerySet(ScopedQuerySet):
    def alive(self):
        return self.filter(deleted_at__isnull=True)

    def with_details(self):
        """With what the API shows of each household: its worker, industries and live farmers' count."""
        return (
            self.select_related("worker")
            .prefetch_related("industries")
            .annotate(farmers_count=models.Count("farmers", filter=Q(farmers__deleted_at__isnull=True)))
        )

    def for_expert(self, expert):
        return self.filter(worker__expert=expert)

    def for_worker(self, worker):
        return self.filter(worker=worker)


class ModelHousehold(Located, TimeStamped, Versioned):
    """A science and technology model household (科技示范户), linked to one extension worker."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    worker = models.ForeignKey(
        ExtensionWorker, verbose_name=_("extension worker"), on_delete=models.PROTECT, related_name="households"
    )
    head_name = models.CharField(_("head of household"), max_length=50)
    phone = phone_field()
    address = models.CharField(_("address"), max_length=200, blank=True)
    industries = models.ManyToManyField(
        Industry, verbose_name=_("main industries"), related_name="households", blank=True
    )

    # Deleting keeps the row as a tombstone, so that phones pulling changes remove it too.
    deleted_at = models.DateTimeField(_("deleted at"), null=True, blank=True)

    objects = ModelHouseholdQuerySet.as_manager()

    class Meta(Located.Meta):
        verbose_name = _("model household")
        verbose_name_plural = _("model households")
        ordering = ["created_at", "id"]

    def __str__(self):
        from agri.privacy import shown_value  # agri.privacy reads the models

        return shown_value(self, "head_name")  # as the current request's account may see it


class FarmerQuerySet(ScopedQuerySet):
    def alive(self):
        return self.filter(deleted_at__isnull=True)

    def for_expert(self, expert):
        return self.filter(household__worker__expert=expert)

    def for_worker(self, worker):
        return self.filter(household__worker=worker)


class Farmer(TimeStamped, Versioned):
    """A farmer (农户) reached by a model household. Farmers have no login."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    household = models.ForeignKey(
        ModelHousehold, verbose_name=_("model household"), on_delete=models.PROTECT, related_name="farmers"
    )
    village = models.ForeignKey(
        "geo.AdminDivision", verbose_name=_("village"), on_delete=models.PROTECT, related_name="+"
    )
    name = models.CharField(_("name"), max_length=50)
    phone = phone_field()
    id_number = models.CharField(_("ID number"), max_length=18, blank=True, validators=[validate_id_number])

    deleted_at = models.DateTimeField(_("deleted at"), null=True, blank=True)

    objects = FarmerQuerySet.as_manager()

    class Meta:
        verbose_name = _("farmer")
        verbose_name_plural = _("farmers")
        ordering = ["created_at", "id"]

    def __str__(self):
        from agri.privacy import shown_value  # agri.privacy reads the models

        return shown_value(self, "name")  # as the current request's account may see it
