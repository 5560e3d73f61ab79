from django.apps import AppConfig
from django.conf import settings
from django.utils.translation import gettext_lazy as _


def change_triggers_drop(sender, using="default", **kwargs) -> None:
    """Before ``migrate``: SQLite rebuilds altered tables, which the change-log triggers would break."""
    from django.db import connections

    from agri.changelog import triggers_drop

    triggers_drop(connections[using])


def change_triggers_install(sender, using="default", **kwargs) -> None:
    """After ``migrate``: the change-log triggers as ``agri.changelog`` defines them now."""
    from django.db import connections

    from agri.changelog import triggers_install

    triggers_install(connections[using])


def reassign_visits_after_import(sender, codes, level, bounds, **kwargs) -> str:
    """``geo.signals.divisions_imported`` receiver: reassign the stored visits the new boundaries may move.

    Those are the visits whose point lies in the imported boundaries' bounding box, and those assigned to an
    imported division (its old boundary may have been larger).
    """
    from django.db.models import Q

    from agri.models import Visit
    from agri.services.rollups import visits_reassign

    min_lon, min_lat, max_lon, max_lat = bounds
    affected = Visit.objects.filter(
        Q(lon__gte=min_lon, lon__lte=max_lon, lat__gte=min_lat, lat__lte=max_lat)
        | Q(division_id__in=codes)
        | Q(township_code__in=codes)
    )
    return f"{visits_reassign(affected)} stored visits reassigned to the new boundaries."


class AgriConfig(AppConfig):
    name = "agri"
    verbose_name = _("Extension network")

    def ready(self):
        from django.db.models.signals import post_migrate, pre_migrate

        from agri import checks  # noqa: F401 - registers the system checks
        from agri.imaging import keep_decode_blocks

        photos = settings.PHOTOS
        keep_decode_blocks(photos["max_decode_bytes"] * photos["decode_concurrency"])

        pre_migrate.connect(change_triggers_drop, sender=self, dispatch_uid="agri.change_triggers_drop")
        post_migrate.connect(change_triggers_install, sender=self, dispatch_uid="agri.change_triggers_install")
        from geo.signals import divisions_imported

        divisions_imported.connect(reassign_visits_after_import, dispatch_uid="agri.reassign_visits_after_import")

        from django.contrib.auth.signals import user_logged_in, user_login_failed

        from agri.lockout import on_logged_in, on_login_failed

        user_login_failed.connect(on_login_failed, dispatch_uid="agri.login_lockout_failed")
        user_logged_in.connect(on_logged_in, dispatch_uid="agri.login_lockout_success")

        from django.db.models.signals import post_save

        from agri.models import User
        from agri.services.accounts import device_tokens_retire_on_password_change

        post_save.connect(
            device_tokens_retire_on_password_change, sender=User, dispatch_uid="agri.password_change_revokes_tokens"
        )
