"""Every model is in the Django admin, and every changelist renders with its search and filters."""

import pytest
from django.apps import apps
from django.contrib import admin

from agri.models import Role
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
