"""Fixtures of the agri tests: the shared world with village polygons."""

import pytest

from tests.agri.map_support import map_villages


@pytest.fixture
def mapped_world(world):
    """Give the world's villages real polygons (the townships none), so that points can be assigned."""
    map_villages()
    return world
