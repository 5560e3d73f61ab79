from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class PersonalDataAccess(models.Model):
    """One disclosure of a farmer's unmasked personal data (PIPL audit trail): who, when, whose, which fields, why."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.PROTECT,
        related_name="personal_data_accesses",
    )
    farmer = models.ForeignKey(
        "agri.Farmer", verbose_name=_("farmer"), on_delete=models.PROTECT, related_name="personal_data_accesses"
    )
    fields = models.JSONField(_("fields"), default=list, help_text=_("The fields shown unmasked."))
    reason = models.CharField(_("reason"), max_length=500, blank=True)
    at = models.DateTimeField(_("at"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("personal data access")
        verbose_name_plural = _("personal data accesses")
        ordering = ["-at", "-id"]

    def __str__(self):
        return f"{self.user} → {self.farmer_id} ({', '.join(self.fields)})"
