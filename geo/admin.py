from django.contrib import admin

from geo.models import AdminDivision


@admin.register(AdminDivision)
class AdminDivisionAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "level", "parent", "boundary_synthetic", "area_km2"]
    list_filter = ["level", "boundary_synthetic"]
    search_fields = ["code", "name"]
    autocomplete_fields = ["parent"]
    exclude = ["boundary", "boundary_display"]
