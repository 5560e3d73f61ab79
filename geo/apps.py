from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save
from django.utils.translation import gettext_lazy as _


class GeoConfig(AppConfig):
    name = "geo"
    verbose_name = _("Geography")

    def ready(self):
        from geo.assign import division_changed
        from geo.models import AdminDivision

        # The per-process division index (geo.assign) is dropped whenever a division is saved or deleted.
        post_save.connect(division_changed, sender=AdminDivision, dispatch_uid="geo.division_index.post_save")
        post_delete.connect(division_changed, sender=AdminDivision, dispatch_uid="geo.division_index.post_delete")
