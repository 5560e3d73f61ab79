"""Fixtures of the API tests: the seeded demo county."""

import pytest
from django.core.management import call_command

from agri.models import ModelHousehold, Visit


@pytest.fixture
def demo_county(db):
    """The whole demo county (``seed_demo``): a year of visits."""
    call_command("seed_demo", verbosity=0)


@pytest.fixture
def seeded(demo_county):
    """The demo county, with its visits and households read back for independent counts."""
    return {
        "visits": list(Visit.objects.select_related("industry")),
        "households": list(ModelHousehold.objects.select_related("worker__expert__industry", "village")),
    }
