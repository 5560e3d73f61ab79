from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.html import format_html_join
from django.utils.translation import gettext_lazy as _

from agri.models import (
    Change,
    DemonstrationBase,
    DeviceToken,
    Expert,
    ExtensionWorker,
    Farmer,
    FieldSchool,
    Industry,
    ModelHousehold,
    PersonalDataAccess,
    Photo,
    PhotoUpload,
    RetiredToken,
    Station,
    TechCommissioner,
    TokenEnd,
    User,
    Visit,
    VisitEvent,
    VisitRollup,
)
from agri.privacy import MASKED_FIELDS, masked_value, reads_masked
from agri.selectors.scope import manages_accounts, visible_rows
from agri.services import device_tokens_retire
from geo.models import AdminDivision


class ScopedMixin:
    """What an account sees in the admin is what it reads through the API (``agri.selectors.scope.visible_rows``):
    the changelist, its search and filters' rows, the change, history and delete pages, the actions, the
    autocompletes (they list the related admin's queryset) and the choices of every foreign key and many-to-many
    field, which are also what a submitted form is checked against. Django's permissions open pages; they never
    widen the rows.

    Personal numbers (``agri.privacy``) that the account reads masked in the API are shown masked here too, and
    read-only, so that saving the form never writes the mask over the real number. An inline decides by its parent
    (a household's farmers belong to the household's worker)."""

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

    def masked_personal_fields(self, request, obj) -> list[str]:
        if obj is None:
            return []
        personal = [name for name in MASKED_FIELDS if any(f.name == name for f in self.model._meta.concrete_fields)]
        return personal if personal and reads_masked(request.user, obj) else []

    def get_exclude(self, request, obj=None):
        return [*(super().get_exclude(request, obj) or ()), *self.masked_personal_fields(request, obj)]

    def get_readonly_fields(self, request, obj=None):
        masked = [f"{name}_masked" for name in self.masked_personal_fields(request, obj)]
        # Only those who manage accounts choose among them: for anyone else a link to an account stays as it is.
        accounts = [] if manages_accounts(request.user) else self.account_links()
        return list(dict.fromkeys([*super().get_readonly_fields(request, obj), *masked, *accounts]))

    def account_links(self) -> list[str]:
        return [f.name for f in self.model._meta.concrete_fields if f.is_relation and f.related_model is User]

    def get_fields(self, request, obj=None):
        masked = self.masked_personal_fields(request, obj)
        fields = [f"{name}_masked" if name in masked else name for name in super().get_fields(request, obj)]
        return list(dict.fromkeys(fields))

    @admin.display(description=_("phone"))
    def phone_masked(self, obj):
        return masked_value(obj.phone)

    @admin.display(description=_("ID number"))
    def id_number_masked(self, obj):
        return masked_value(obj.id_number)


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
        links = [(reverse(f"agri:photo-{v}", kwargs={"pk": obj.pk}), v) for v in ("thumbnail", "display", "original")]
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

    list_display = ["code", "name", "level", "parent", "boundary_synthetic", "area_km2"]
    list_filter = ["level", "boundary_synthetic"]
    search_fields = ["code", "name"]
    autocomplete_fields = ["parent"]
    exclude = ["boundary", "boundary_display"]
