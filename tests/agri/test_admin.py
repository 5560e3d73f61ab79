"""Every model is in the Django admin, and every changelist renders with its search and filters."""

import pytest
from django.apps import apps
from django.contrib import admin

from agri.models import DivisionMonth, HexMonth, Role
from tests.agri.map_support import push, visit
from tests.factories import UserFactory

APPS = ("agri", "geo")


def registered_models():
    return [m for m in apps.get_models() if m._meta.app_label in APPS and m in admin.site._registry]


def test_every_model_of_the_domain_is_registered():
    missing = [
        m.__name__
        for m in apps.get_models()
        if m._meta.app_label in APPS and not m._meta.auto_created and m not in admin.site._registry
    ]
    assert missing == []


@pytest.mark.parametrize("model", registered_models(), ids=lambda m: m.__name__)
def test_changelist_search_and_filters_render(world, client, model):
    user = UserFactory(username="admin-staff", role=Role.BUREAU_ADMIN, is_staff=True, is_superuser=True)
    client.force_login(user)
    model_admin = admin.site._registry[model]
    url = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
    assert model_admin.search_fields, f"{model.__name__} has no admin search"
    response = client.get(url, {"q": "云阳"})
    assert response.status_code == 200
    assert client.get(url).status_code == 200


def test_the_monthly_tables_changelists_show_and_filter_the_grain(mapped_world, clients, client):
    """A visit is counted at several grains in the monthly tables (village, township, county; cells per village,
    county and province scope): the changelists show the rows whose scope lies in the account's jurisdiction, say
    which grain each is and filter by it."""
    push(clients["worker"], [visit(mapped_world)])
    seen = {
        # jurisdiction: the grains its changelists show (a township's account: not its county's or province's rows)
        "50": {DivisionMonth: {"v", "t", "c"}, HexMonth: {"v", "c", "p"}},
        "500235001": {DivisionMonth: {"v", "t"}, HexMonth: {"v"}},
        "500236": {DivisionMonth: set(), HexMonth: set()},
    }
    for jurisdiction, tables in seen.items():
        staff = UserFactory(role=Role.BUREAU_ADMIN, jurisdiction=jurisdiction, is_staff=True, is_superuser=True)
        client.force_login(staff)
        for model, grains in tables.items():
            url = f"/admin/agri/{model._meta.model_name}/"
            page = client.get(url)
            assert page.status_code == 200
            assert "grain" in page.context["cl"].list_display
            assert {row.grain for row in page.context["cl"].result_list} == grains, (jurisdiction, model.__name__)
            for grain in grains:
                page = client.get(url, {"grain": grain})
                assert page.status_code == 200
                rows = page.context["cl"].result_list
                assert rows and {row.grain for row in rows} == {grain}, (model.__name__, grain)
