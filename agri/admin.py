from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
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
from agri.services import device_tokens_retire


class NoEditAdmin(admin.ModelAdmin):
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
class UserAdmin(DjangoUserAdmin):
    list_display = ["username", "role", "jurisdiction", "is_active", "last_login"]
    list_filter = ["role", "is_active", "is_staff"]
    search_fields = ["username", "first_name", "last_name", "jurisdiction"]
    fieldsets = [
        *DjangoUserAdmin.fieldsets,
        (_("Extension network"), {"fields": ["role", "jurisdiction", "station"]}),
    ]
    autocomplete_fields = ["station"]


@admin.register(DeviceToken)
class DeviceTokenAdmin(admin.ModelAdmin):
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
class IndustryAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "name_en", "sort_order"]
    search_fields = ["code", "name", "name_en"]
    list_filter = ["sort_order"]


@admin.register(Station)
class StationAdmin(admin.ModelAdmin):
    list_display = ["name", "host_org", "host_type", "village", "established_on"]
    list_filter = ["host_type", "industries"]
    search_fields = ["name", "host_org", "village__name"]
    autocomplete_fields = ["village"]
    filter_horizontal = ["industries"]


class FieldSchoolInline(admin.StackedInline):
    model = FieldSchool
    can_delete = False
    max_num = 1


@admin.register(DemonstrationBase)
class DemonstrationBaseAdmin(admin.ModelAdmin):
    list_display = ["name", "industry", "status", "area_mu", "certified_on", "village"]
    list_filter = ["status", "industry"]
    search_fields = ["name", "operator", "village__name"]
    autocomplete_fields = ["village"]
    inlines = [FieldSchoolInline]


@admin.register(FieldSchool)
class FieldSchoolAdmin(admin.ModelAdmin):
    list_display = ["name", "base", "established_on", "capacity"]
    list_filter = ["base__industry"]
    search_fields = ["name", "base__name"]


@admin.register(Expert)
class ExpertAdmin(admin.ModelAdmin):
    list_display = ["name", "industry", "county", "title", "active"]
    list_filter = ["industry", "active"]
    search_fields = ["name", "organization"]
    autocomplete_fields = ["county", "user"]


@admin.register(ExtensionWorker)
class ExtensionWorkerAdmin(admin.ModelAdmin):
    list_display = ["name", "expert", "is_township_based", "home_township", "active"]
    list_filter = ["is_township_based", "active", "expert__industry"]
    search_fields = ["name", "home_township__name"]
    autocomplete_fields = ["expert", "home_township", "user"]


@admin.register(TechCommissioner)
class TechCommissionerAdmin(admin.ModelAdmin):
    list_display = ["name", "affiliation", "affiliation_type", "service_start_year", "service_end_year", "active"]
    list_filter = ["affiliation_type", "active", "service_start_year"]
    search_fields = ["name", "affiliation", "specialty"]
    filter_horizontal = ["stations", "bases"]
    autocomplete_fields = ["county", "user"]


class FarmerInline(admin.TabularInline):
    model = Farmer
    extra = 0
    fields = ["name", "phone", "village"]
    autocomplete_fields = ["village"]


@admin.register(ModelHousehold)
class ModelHouseholdAdmin(admin.ModelAdmin):
    list_display = ["head_name", "worker", "village", "updated_at"]
    list_filter = ["industries", "worker__expert__industry"]
    search_fields = ["head_name", "address", "village__name"]
    autocomplete_fields = ["worker", "village"]
    list_select_related = ["worker", "village"]
    inlines = [FarmerInline]


@admin.register(Farmer)
class FarmerAdmin(admin.ModelAdmin):
    list_display = ["name", "household", "village"]
    list_filter = ["household__worker__expert__industry"]
    search_fields = ["name", "household__head_name", "village__name"]
    autocomplete_fields = ["household", "village"]
    list_select_related = ["household", "village"]


class VisitEventInline(admin.TabularInline):
    model = VisitEvent
    extra = 0
    can_delete = False
    readonly_fields = ["action", "user", "at", "changes"]


@admin.register(Visit)
class VisitAdmin(admin.ModelAdmin):
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
    readonly_fields = ["received_at", "updated_at", "payload_sha256", "ingest_id", "version"]
    exclude = ["attendees"]
    inlines = [VisitEventInline]


@admin.register(VisitEvent)
class VisitEventAdmin(admin.ModelAdmin):
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
