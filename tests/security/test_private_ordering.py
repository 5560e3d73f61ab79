"""A reader who is not shown a family's names cannot sort by them either (``?ordering=``).

Bureau viewers read households and farmers with the head's and the farmer's names masked (``agri.privacy``);
sorting the list by the hidden name would give their alphabetical order away. For them the ordering ignores those
fields, as DRF ignores any field a view does not offer; readers who see the names sort by them as before.
"""

import pytest

from agri.models import Farmer, ModelHousehold
from tests.support import build_world, login

pytestmark = pytest.mark.django_db

CASES = [
    ("/api/v1/model-households/", ModelHousehold, "head_name", ["Anhua", "Baiyun", "Changling", "Dongfang"]),
    ("/api/v1/farmers/", Farmer, "name", ["Aiguo", "Bao", "Chun", "Deming"]),
]


@pytest.fixture
def world():
    return build_world()


def _ids(client, url: str, ordering: str | None) -> list[str]:
    response = client.get(url, {"ordering": ordering} if ordering else {})
    assert response.status_code == 200, response.content
    return [str(item["id"]) for item in response.json()["results"]]


@pytest.mark.parametrize(("url", "model", "field", "names"), CASES)
def test_a_viewer_cannot_sort_by_a_name_it_is_not_shown(world, url, model, field, names):
    records = list(model.objects.order_by("pk"))
    assert len(records) >= 2
    # Names whose order is not the records' default order, so that sorting by them would show.
    for record, name in zip(records, reversed(names * len(records)), strict=False):
        model.objects.filter(pk=record.pk).update(**{field: name})
    viewer = login(world.users["viewer"])
    plain = _ids(viewer, url, None)
    assert len(plain) >= 2
    assert _ids(viewer, url, field) == plain
    assert _ids(viewer, url, f"-{field}") == plain
    assert _ids(viewer, url, f"-updated_at,{field}") == _ids(viewer, url, "-updated_at")  # other fields still sort


@pytest.mark.parametrize(("url", "model", "field", "names"), CASES)
def test_a_reader_shown_the_names_sorts_by_them(world, url, model, field, names):
    records = list(model.objects.order_by("pk"))
    for record, name in zip(records, reversed(names * len(records)), strict=False):
        model.objects.filter(pk=record.pk).update(**{field: name})
    admin = login(world.users["admin"])
    for ordering, descending in ((field, False), (f"-{field}", True)):
        response = admin.get(url, {"ordering": ordering})
        assert response.status_code == 200, response.content
        shown = [item[field] for item in response.json()["results"]]
        assert len(set(shown)) >= 2 and shown == sorted(shown, reverse=descending)
