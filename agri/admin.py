from django.contrib import admin
from django.contrib.admin.utils import NestedObjects
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import router
from django.urls import reverse
from django.utils.html import format_html_join
from django.utils.translation import gettext_lazy as _

from agri.models import (
    Change,
    DemonstrationBase,
    DeviceToken,
    DivisionMonth,
    Expert,
    ExtensionWorker,
    Farmer,
    FieldSchool,
    HexMonth,
    Industry,
    Job,
    ModelHousehold,
    PersonalDataAccess,
    Photo,
    PhotoUpload,
    PresenceCount,
    PresenceMonth,
    RetiredToken,
    Station,
    TechCommissioner,
    TokenEnd,
    User,
    Visit,
    VisitEvent,
    VisitRollup,
)
from agri.privacy import PRIVATE, may_see_original_photos, private_fields, reader, shown_value
from agri.selectors.scope import manages_accounts, visible_rows
from agri.services import device_tokens_retire
from geo.models import AdminDivision


class ScopedMixin:
    """What an account sees in the admin is what it reads through the API (``agri.selectors.scope.visible_rows``):
    the changelist, its search and filters' rows, the change, history and delete pages, the actions, the
    autocompletes (they list the related admin's queryset) and the choices of every foreign key and many-to-many
    field, which are also what a submitted form is checked against. Django's permissions open pages; they never
    widen the rows.

    Personal data follows ``agri.privacy`` as in the API: the private fields of each model (``PRIVATE``) that the
    account reads redacted (numbers masked; for bureau viewers also names to their first character, addresses
    withheld, positions at cell centres) are shown redacted in the columns and the change pages, read-only, so that
    saving the form never writes the redaction over the real value; the search leaves them out; a record's name in
    titles, breadcrumbs, select options and autocompletes is its ``__str__``, which reads the same rule. An inline
    decides by its parent (a household's farmers belong to the household's worker)."""

    def get_queryset(self, request):
        return visible_rows(super().get_queryset(request), request.user)

    def _scoped_choices(self, db_field, request, kwargs):
        if "queryset" not in kwargs:
            related = db_field.remote_field.model
            queryset = self.get_field_queryset(None, db_field, request) or related._default_manager.all()
            kwargs["queryset"] = visible_rows(queryset, request.user)
        return kwargs

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        return super().formfield_for_foreignkey(db_field, request, **self._scoped_choices(db_field, request, kwargs))

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        return super().formfield_for_manytomany(db_field, request, **self._scoped_choices(db_field, request, kwargs))

    def save_related(self, request, form, formsets, change):
        """A many-to-many form field lists only visible rows; the links to rows the user cannot see are kept."""
        hidden = {}
        if change:
            for field in self.model._meta.many_to_many:
                if field.name in form.cleaned_data:
                    visible = visible_rows(field.related_model._default_manager.all(), request.user)
                    hidden[field.name] = list(getattr(form.instance, field.name).exclude(pk__in=visible.values("pk")))
        super().save_related(request, form, formsets, change)
        for name, rows in hidden.items():
            getattr(form.instance, name).add(*rows)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        private = PRIVATE.get(self.model)
        stored = {f.name for f in self.model._meta.concrete_fields}
        for name in private.fields() if private else ():
            if name in stored:
                setattr(self, f"{name}_shown", _shown(self.model, name))

    def private_fields(self, request, obj) -> list[str]:
        """The fields of ``obj`` that the user reads redacted (``agri.privacy``): shown read-only as they read them,
        and left out of the form, so that saving it never writes a redacted value over the real one. A new record
        has nothing to redact."""
        return [] if obj is None else private_fields(self.model, request.user, obj)

    def get_exclude(self, request, obj=None):
        return [*(super().get_exclude(request, obj) or ()), *self.private_fields(request, obj)]

    def get_readonly_fields(self, request, obj=None):
        shown = [f"{name}_shown" for name in self.private_fields(request, obj)]
        # Only those who manage accounts choose among them: for anyone else a link to an account stays as it is.
        accounts = [] if manages_accounts(request.user) else self.account_links()
        readonly = [name for name in super().get_readonly_fields(request, obj) if name not in shown]
        return list(dict.fromkeys([*readonly, *shown, *accounts]))

    def account_links(self) -> list[str]:
        return [f.name for f in self.model._meta.concrete_fields if f.is_relation and f.related_model is User]

    def get_fields(self, request, obj=None):
        private = self.private_fields(request, obj)
        fields = [f"{name}_shown" if name in private else name for name in super().get_fields(request, obj)]
        return list(dict.fromkeys(fields))

    def get_list_display(self, request):
        """Columns of private fields show each row as the user reads it."""
        private = private_fields(self.model, request.user)
        return [f"{name}_shown" if name in private else name for name in super().get_list_display(request)]

    def get_search_fields(self, request):
        """The search leaves out the fields (here or through a relation) the user does not read as stored, or it
        would confirm them."""
        return [name for name in super().get_search_fields(request) if not _hides(self.model, name, request.user)]

    def get_deleted_objects(self, objs, request):
        """Django lists every row that the delete would take with the record, or that stops it (a protected
        reference): when one of them is a row the user cannot see, the delete is refused (as one that needs a
        permission the user lacks) and the page names none of them. Rows of models outside the admin (links of a
        many-to-many field, the admin's log) are the record's own."""
        collector = NestedObjects(using=router.db_for_write(self.model))
        collector.collect(objs)
        rows = {}
        for obj in [*(o for instances in collector.data.values() for o in instances), *collector.protected]:
            if self.admin_site.is_registered(type(obj)):
                rows.setdefault(type(obj), set()).add(obj.pk)
        for model, pks in rows.items():
            if visible_rows(model._default_manager.filter(pk__in=pks), request.user).count() != len(pks):
                return [], {}, {_("records you cannot see")}, []
        return super().get_deleted_objects(objs, request)


def _shown(model, name):
    field = model._meta.get_field(name)

    @admin.display(description=field.verbose_name)
    def shown(obj):
        return shown_value(obj, name)

    return shown


def _hides(model, lookup: str, user) -> bool:
    """Whether the search field ``lookup`` (``a__b__field``, with the admin's ``^``/``=``/``@`` prefixes) ends at a
    field that ``user`` does not read as stored."""
    path = lookup.lstrip("^=@").split("__")
    for part in path[:-1]:
        try:
            model = model._meta.get_field(part).related_model
        except FieldDoesNotExist:
            return False
        if model is None:
            return False
    return path[-1] in private_fields(model, user)


class ScopedAdmin(ScopedMixin, admin.ModelAdmin):
    pass


class NoEditAdmin(ScopedAdmin):
    """Rows only the server writes: shown, never added or changed here."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class ReadOnlyAdmin(NoEditAdmin):
    """Rows only the server writes or derives, which nobody deletes here either."""

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(User)
class UserAdmin(ScopedMixin, DjangoUserAdmin):
    """The accounts the user manages: a bureau admin those of its jurisdiction (``accounts_managed_by``). Only a
    superuser grants admin rights, and an account is kept inside its manager's jurisdiction."""

    list_display = ["username", "role", "jurisdiction", "is_active", "last_login"]
    list_filter = ["role", "is_active", "is_staff"]
    search_fields = ["username", "first_name", "last_name", "jurisdiction"]
    fieldsets = [
        *DjangoUserAdmin.fieldsets,
        (_("Extension network"), {"fields": ["role", "jurisdiction", "station"]}),
    ]
    autocomplete_fields = ["station"]
    ADMIN_RIGHTS = ["is_superuser", "is_staff", "groups", "user_permissions"]

    def get_readonly_fields(self, request, obj=None):
        fields = super().get_readonly_fields(request, obj)
        return fields if request.user.is_superuser or obj is None else [*fields, *self.ADMIN_RIGHTS]

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        jurisdiction = request.user.jurisdiction

        def clean_jurisdiction(self):
            value = self.cleaned_data["jurisdiction"]
            if jurisdiction and not value.startswith(jurisdiction):
                raise ValidationError(_("This code is outside your jurisdiction."), code="out_of_scope")
            return value

        return (
            type(form.__name__, (form,), {"clean_jurisdiction": clean_jurisdiction})
            if "jurisdiction" in form.base_fields
            else form
        )

    def save_model(self, request, obj, form, change):
        if not change and request.user.jurisdiction and not obj.jurisdiction.startswith(request.user.jurisdiction):
            obj.jurisdiction = request.user.jurisdiction  # a new account starts inside its manager's jurisdiction
        super().save_model(request, obj, form, change)


@admin.register(DeviceToken)
class DeviceTokenAdmin(ScopedAdmin):
    """Tokens of the accounts the user manages (``accounts_managed_by``)."""

    list_display = ["token_key", "user", "device", "created", "expiry"]
    list_filter = ["created"]
    search_fields = ["token_key", "user__username", "device"]
    readonly_fields = ["digest", "token_key", "user", "created"]

    # Deleting here revokes, as the device list does: the phone is told token_revoked, not token_invalid.
    def delete_model(self, request, obj):
        device_tokens_retire(tokens=DeviceToken.objects.filter(digest=obj.digest), reason=TokenEnd.DEVICE_DELETED)

    def delete_queryset(self, request, queryset):
        device_tokens_retire(tokens=queryset, reason=TokenEnd.DEVICE_DELETED)


@admin.register(RetiredToken)
class RetiredTokenAdmin(NoEditAdmin):
    """Tokens that stopped working, and why: written by the server only, pruned after the token lifetime."""

    list_display = ["user", "device", "reason", "retired_at"]
    list_filter = ["reason", "retired_at"]
    search_fields = ["user__username", "device"]


@admin.register(Industry)
class IndustryAdmin(ScopedAdmin):
    list_display = ["code", "name", "name_en", "sort_order"]
    search_fields = ["code", "name", "name_en"]
    list_filter = ["sort_order"]


@admin.register(Station)
class StationAdmin(ScopedAdmin):
    list_display = ["name", "host_org", "host_type", "village", "established_on"]
    list_filter = ["host_type", "industries"]
    search_fields = ["name", "host_org", "village__name"]
    autocomplete_fields = ["village"]
    filter_horizontal = ["industries"]


class FieldSchoolInline(ScopedMixin, admin.StackedInline):
    model = FieldSchool
    can_delete = False
    max_num = 1


@admin.register(DemonstrationBase)
class DemonstrationBaseAdmin(ScopedAdmin):
    list_display = ["name", "industry", "status", "area_mu", "certified_on", "village"]
    list_filter = ["status", "industry"]
    search_fields = ["name", "operator", "village__name"]
    autocomplete_fields = ["village"]
    inlines = [FieldSchoolInline]


@admin.register(FieldSchool)
class FieldSchoolAdmin(ScopedAdmin):
    list_display = ["name", "base", "established_on", "capacity"]
    list_filter = ["base__industry"]
    search_fields = ["name", "base__name"]


@admin.register(Expert)
class ExpertAdmin(ScopedAdmin):
    list_display = ["name", "industry", "county", "title", "active"]
    list_filter = ["industry", "active"]
    search_fields = ["name", "organization"]
    autocomplete_fields = ["county", "user"]


@admin.register(ExtensionWorker)
class ExtensionWorkerAdmin(ScopedAdmin):
    list_display = ["name", "expert", "is_township_based", "home_township", "active"]
    list_filter = ["is_township_based", "active", "expert__industry"]
    search_fields = ["name", "home_township__name"]
    autocomplete_fields = ["expert", "home_township", "user"]


@admin.register(TechCommissioner)
class TechCommissionerAdmin(ScopedAdmin):
    list_display = ["name", "affiliation", "affiliation_type", "service_start_year", "service_end_year", "active"]
    list_filter = ["affiliation_type", "active", "service_start_year"]
    search_fields = ["name", "affiliation", "specialty"]
    filter_horizontal = ["stations", "bases"]
    autocomplete_fields = ["county", "user"]


class FarmerInline(ScopedMixin, admin.TabularInline):
    model = Farmer
    extra = 0
    fields = ["name", "phone", "village"]
    autocomplete_fields = ["village"]


@admin.register(ModelHousehold)
class ModelHouseholdAdmin(ScopedAdmin):
    list_display = ["head_name", "worker", "village", "updated_at"]
    list_filter = ["industries", "worker__expert__industry"]
    search_fields = ["head_name", "address", "village__name"]
    autocomplete_fields = ["worker", "village"]
    list_select_related = ["worker", "village"]
    inlines = [FarmerInline]


@admin.register(Farmer)
class FarmerAdmin(ScopedAdmin):
    list_display = ["name", "household", "village"]
    list_filter = ["household__worker__expert__industry"]
    search_fields = ["name", "household__head_name", "village__name"]
    autocomplete_fields = ["household", "village"]
    list_select_related = ["household", "village"]


class VisitEventInline(ScopedMixin, admin.TabularInline):
    model = VisitEvent
    extra = 0
    can_delete = False
    readonly_fields = ["action", "user", "at", "changes"]


@admin.register(Visit)
class VisitAdmin(ScopedAdmin):
    list_display = ["id", "kind", "industry", "visit_date", "user", "division", "flag_bits", "deleted_at"]
    list_filter = ["kind", "industry", "source_crs", "mock_location", "visit_date"]
    search_fields = ["id", "notes", "user__username", "division__name"]
    date_hierarchy = "visit_date"
    list_select_related = ["industry", "user", "division"]
    raw_id_fields = [
        "household",
        "farmer",
        "base",
        "station",
        "village",
        "division",
        "expert",
        "worker",
        "commissioner",
    ]
    readonly_fields = ["user", "received_at", "updated_at", "payload_sha256", "ingest_id", "version"]
    exclude = ["attendees"]
    inlines = [VisitEventInline]


@admin.register(VisitEvent)
class VisitEventAdmin(ScopedAdmin):
    list_display = ["visit", "action", "user", "at"]
    list_filter = ["action", "at"]
    search_fields = ["visit__id", "user__username"]
    list_select_related = ["visit", "user"]
    readonly_fields = ["visit", "action", "user", "at", "changes"]


@admin.register(Change)
class ChangeAdmin(ReadOnlyAdmin):
    """The sync change log, written by database triggers (docs/sync.md); superusers only: it names who sees what."""

    list_display = ["seq", "kind", "record_id", "at", "txid"]
    list_filter = ["kind"]
    search_fields = ["record_id"]

    def has_view_permission(self, request, obj=None):
        return request.user.is_superuser

    def has_module_permission(self, request):
        return request.user.is_superuser


@admin.register(VisitRollup)
class VisitRollupAdmin(ReadOnlyAdmin):
    """Derived counts, kept by the visit services and ``rebuild_rollups``: read-only here."""

    list_display = ["day", "division_code", "township_code", "kind", "industry_key", "household_key", "visits"]
    list_filter = ["kind", "day"]
    search_fields = ["division_code", "township_code", "scope_code"]


@admin.register(DivisionMonth)
class DivisionMonthAdmin(ReadOnlyAdmin):
    """Monthly (and yearly) counts per village, township and county, kept like the daily rollup: read-only here."""

    list_display = [
        "month",
        "span",
        "grain",
        "division_code",
        "township_code",
        "scope_code",
        "kind",
        "industry_key",
        "visits",
        "last_day",
    ]
    list_filter = ["span", "grain", "kind", "month"]
    search_fields = ["division_code", "township_code", "scope_code"]


@admin.register(HexMonth)
class HexMonthAdmin(ReadOnlyAdmin):
    """Monthly (and yearly) counts per H3 cell, kept like the daily rollup: read-only here."""

    list_display = [
        "month",
        "span",
        "resolution",
        "grain",
        "cell",
        "scope_code",
        "kind",
        "industry_key",
        "visits",
        "last_day",
    ]
    list_filter = ["span", "resolution", "grain", "kind", "month"]
    search_fields = ["scope_code"]


@admin.register(PresenceCount)
class PresenceCountAdmin(ReadOnlyAdmin):
    """People active per township and county, month and year, kept with the presence rows: read-only here."""

    list_display = ["month", "span", "grain", "role", "division_code", "township_code", "people"]
    list_filter = ["span", "grain", "role", "month"]
    search_fields = ["division_code", "township_code", "scope_code"]


@admin.register(PresenceMonth)
class PresenceMonthAdmin(ReadOnlyAdmin):
    """Who was visited or active, per month (or year) and place, kept like the daily rollup: read-only here."""

    list_display = ["month", "span", "role", "grain", "person_key", "household_key", "division_code", "township_code"]
    list_filter = ["span", "role", "grain", "month"]
    search_fields = ["division_code", "township_code", "scope_code"]


@admin.register(Photo)
class PhotoAdmin(NoEditAdmin):
    """Evidence: read-only. The files open through the API's permission-checked views, never a media URL."""

    list_display = ["id", "visit", "user", "content_type", "taken_at", "camera", "flag_list", "created_at"]
    list_filter = ["content_type", "created_at"]
    search_fields = ["id", "sha256", "visit__id", "user__username", "camera"]
    list_select_related = ["visit", "user"]
    date_hierarchy = "created_at"
    exclude = ["original", "display", "thumbnail"]
    readonly_fields = ["files", "flag_list"]

    @admin.display(description=_("flags"))
    def flag_list(self, obj):
        return ", ".join(obj.flags)

    @admin.display(description=_("files"))
    def files(self, obj):
        # The original carries the phone's EXIF (its position): only for those who read exact positions.
        versions = ("thumbnail", "display", *(("original",) if may_see_original_photos(reader()) else ()))
        links = [(reverse(f"agri:photo-{v}", kwargs={"pk": obj.pk}), v) for v in versions]
        return format_html_join(" · ", '<a href="{}">{}</a>', links)


@admin.register(PhotoUpload)
class PhotoUploadAdmin(ReadOnlyAdmin):
    """Resumable uploads in progress (and finished ones until they expire); cancelled by the phone, or removed with
    their bytes by ``cleanup_expired_uploads``."""

    list_display = ["id", "photo_id", "visit", "user", "offset", "length", "expires_at", "completed_at"]
    list_filter = ["completed_at", "created_at"]
    search_fields = ["id", "photo_id", "visit__id", "user__username"]
    list_select_related = ["visit", "user"]
    date_hierarchy = "created_at"


@admin.register(Job)
class JobAdmin(ReadOnlyAdmin):
    """Long work run by the task workers (exports, rebuilds): an account sees its own jobs, superusers every job."""

    list_display = ["id", "kind", "owner", "state", "progress_done", "progress_total", "created_at", "expires_at"]
    list_filter = ["state", "kind", "created_at"]
    search_fields = ["id", "kind", "owner__username", "error_code"]
    list_select_related = ["owner"]
    date_hierarchy = "created_at"


@admin.register(PersonalDataAccess)
class PersonalDataAccessAdmin(ReadOnlyAdmin):
    """The PIPL audit trail of unmasked personal data: read-only, nobody edits or deletes it here."""

    list_display = ["at", "user", "farmer", "fields", "reason"]
    list_filter = ["at"]
    search_fields = ["user__username", "farmer__id", "reason"]
    list_select_related = ["user", "farmer"]
    date_hierarchy = "at"


@admin.register(AdminDivision)
class AdminDivisionAdmin(ScopedAdmin):
    """Divisions inside the jurisdiction and its ancestors, as the API lists them."""

    list_display = ["code", "name", "level", "parent", "boundary_synthetic", "fictional", "area_km2"]
    list_filter = ["level", "boundary_synthetic", "fictional"]
    search_fields = ["code", "name"]
    autocomplete_fields = ["parent"]
    exclude = ["boundary", "boundary_display"]
