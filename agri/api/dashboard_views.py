"""The plan dashboard for the bureau (``/dashboard/``, session login): the 专栏3 indicators of a year against their
targets, the year month by month, coverage by township, the workers and commissioners active, and the gaps.

A Django template with Plotly.js from the plotly package's static files, in the request's language (Chinese by
default, English for ``Accept-Language: en``). Its script (``agri/static/agri/dashboard.js``) reads the same API
endpoints that each piece's export link downloads (``/indicators/``, ``/indicators/monthly/``,
``/coverage/divisions/``, ``/coverage/gaps/``), with the session cookie.
"""

from datetime import date
from urllib.parse import urlencode

from django.urls import reverse
from django.utils import timezone
from django.utils.translation import get_language, pgettext
from django.utils.translation import gettext as _
from django.views.generic import TemplateView

from agri.api.pages import BureauPageMixin
from agri.selectors.coverage import jurisdiction_name

FIRST_YEAR = 2021  # the plan's first year (2021-2025)
GAP_DAYS = 90  # GET /coverage/gaps/'s default period


def link(name: str, **params) -> str:
    return f"{reverse(name)}?{urlencode(params)}"


class DashboardView(BureauPageMixin, TemplateView):
    """The bureau's plan dashboard. Anonymous visitors are sent to the login page; other roles get 403."""

    template_name = "agri/dashboard.html"

    def year(self) -> int:
        this_year = timezone.localdate().year
        try:
            year = int(self.request.GET.get("year", this_year))
        except ValueError:
            return this_year
        return year if FIRST_YEAR <= year <= this_year else this_year

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        year = self.year()
        period = {"date_from": date(year, 1, 1).isoformat(), "date_to": date(year, 12, 31).isoformat()}
        township = {"level": "township", **period}
        exports = {
            "indicators": [
                ("Excel", link("agri:indicators", year=year, format="xlsx")),
                ("CSV", link("agri:indicators", year=year, format="csv")),
            ],
            "monthly": [
                ("Excel", link("agri:indicators-monthly", year=year, format="xlsx")),
                ("CSV", link("agri:indicators-monthly", year=year, format="csv")),
            ],
            "coverage": [
                ("GeoPackage", link("agri:export-coverage", format="gpkg", **township)),
                ("GeoJSON", link("agri:export-coverage", format="geojson", **township)),
                (_("Map (PNG)"), link("agri:coverage-map", **township)),
            ],
            "gaps": [
                ("Excel", link("agri:coverage-gaps", days=GAP_DAYS, format="xlsx")),
                ("CSV", link("agri:coverage-gaps", days=GAP_DAYS, format="csv")),
                ("GeoJSON", link("agri:coverage-gaps", days=GAP_DAYS, format="geojson")),
            ],
        }
        config = {
            "year": year,
            "language": "en" if get_language().startswith("en") else "zh-hans",
            "gapDays": GAP_DAYS,
            "api": {
                "indicators": link("agri:indicators", year=year),
                "monthly": link("agri:indicators-monthly", year=year),
                "coverage": link("agri:coverage-divisions", **township),
                "gaps": link("agri:coverage-gaps", days=GAP_DAYS),
            },
            "text": {
                "status": {
                    "under": pgettext("target status", "under"),
                    "met": pgettext("target status", "met"),
                    "over": pgettext("target status", "over"),
                },
                "percentOfTarget": _("Share of target (%)"),
                "target": _("Target"),
                "visits": _("Visits"),
                "trainings": _("Trainings"),
                "cumulativeVisits": _("Visits, running total"),
                "yearlyTarget": _("Yearly target of visits"),
                "workersActive": _("Extension workers active"),
                "commissionersActive": _("Tech commissioners active"),
                "coverage": _("Model households visited (%)"),
                "noHouseholds": _("%(n)s townships have no model households"),
                "loading": _("Loading…"),
                "loaded": _("Figures for %(year)s, as of %(date)s.")
                % {"year": year, "date": timezone.localdate().isoformat()},
                "failed": _("Could not load:"),
                "never": _("never"),
                "more": _("and %(n)s more: see the export"),
            },
        }
        context.update(
            config=config,
            year=year,
            years=range(timezone.localdate().year, FIRST_YEAR - 1, -1),
            area=jurisdiction_name(jurisdiction)
            if (jurisdiction := self.request.user.jurisdiction)
            else _("All divisions"),
            exports=exports,
            gap_days=GAP_DAYS,
        )
        return context
