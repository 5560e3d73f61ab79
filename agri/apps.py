from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AgriConfig(AppConfig):
    name = "agri"
    verbose_name = _("Extension network")
