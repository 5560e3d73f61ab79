"""Phone and ID numbers are masked (138****1234) for every role but the bureau admin and the record's own person.

The grid is every role of the world against farmer F1, household H1, worker W1, expert E1 and commissioner C1.
A cell the role may not see must answer 404 (and the record must be absent from the list); a visible cell
must show each personal number either exactly as stored or masked to its first 3 and last 4 characters,
the same in the list as in the detail, and the stored value must be left as it was.
"""

import json

import pytest

from agri.models import Farmer, ModelHousehold
from agri.validators import mask
from tests.support import login

ROLES = ["admin", "viewer", "township_viewer", "expert", "worker", "worker2", "commissioner", "station"]

# record -> (list URL, personal fields it carries)
RECORDS = {
    "F1": ("/api/v1/farmers/", ("phone", "id_number")),
    "H1": ("/api/v1/model-households/", ("phone",)),
    "W1": ("/api/v1/extension-workers/", ("phone",)),
    "E1": ("/api/v1/experts/", ("phone",)),
    "C1": ("/api/v1/tech-commissioners/", ("phone",)),
}

# Cells that see the numbers in clear: the admin everywhere, and each person on their own records
# (the worker W1 owns H1 and, through it, F1).
UNMASKED = {("admin", record) for record in RECORDS} | {
    ("worker", "F1"),
    ("worker", "H1"),
    ("worker", "W1"),
    ("expert", "E1"),
    ("commissioner", "C1"),
}

# Cells outside the role's scope.
HIDDEN = {
    ("expert", "C1"),
    ("worker", "C1"),
    ("worker2", "F1"),
    ("worker2", "H1"),
    ("worker2", "W1"),
    ("worker2", "C1"),
    ("commissioner", "F1"),
    ("commissioner", "H1"),
    ("commissioner", "W1"),
    ("commissioner", "E1"),
    ("station", "F1"),
    ("station", "H1"),
    ("station", "W1"),
    ("station", "E1"),
}


def masked(value: str) -> str:
    """The expected display form, written out independently of agri.validators.mask."""
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


def stored_values(obj, fields) -> dict:
    obj.refresh_from_db()
    return {name: getattr(obj, name) for name in fields}


def test_mask_keeps_first_three_and_last_four():
    assert mask("13800000001") == "138****0001"
    assert mask("500235198803150025") == "500***********0025"
    assert mask("1234567") == "*******"
    assert mask("") == ""


@pytest.mark.parametrize("record", list(RECORDS))
@pytest.mark.parametrize("role", ROLES)
def test_personal_numbers_are_masked_unless_admin_or_own(world, role, record):
    url, fields = RECORDS[record]
    obj = world[record]
    before = stored_values(obj, fields)
    assert all(len(value) > 7 for value in before.values()), before  # long enough that masking shows
    client = login(world.users[role])

    detail = client.get(f"{url}{obj.pk}/")
    listed = client.get(f"{url}?page_size=100")
    assert listed.status_code == 200
    rows = [row for row in listed.json()["results"] if str(row["id"]) == str(obj.pk)]

    if (role, record) in HIDDEN:
        assert detail.status_code == 404
        assert rows == []
    else:
        assert detail.status_code == 200, detail.content
        expected = before if (role, record) in UNMASKED else {name: masked(value) for name, value in before.items()}
        assert {name: detail.json()[name] for name in fields} == expected
        if (role, record) not in UNMASKED:
            assert all(expected[name] != before[name] for name in fields)
        assert rows == [detail.json()]  # the list masks exactly as the detail does

    assert stored_values(obj, fields) == before  # reads never write the masked form back


def test_farmer_list_for_viewer_contains_no_unmasked_number(world):
    farmers = {str(farmer.pk): farmer for farmer in Farmer.objects.filter(village__code__startswith="500235")}
    assert len(farmers) == 3  # F1, F2, F3 in Yunyang
    response = login(world.users["viewer"]).get("/api/v1/farmers/?page_size=100")
    assert response.status_code == 200
    results = response.json()["results"]
    assert {row["id"] for row in results} == set(farmers)
    for row in results:
        farmer = farmers[row["id"]]
        assert row["phone"] == masked(farmer.phone)
        assert row["id_number"] == masked(farmer.id_number)
        values = [str(value) for value in row.values()]
        assert not any(farmer.phone in value or farmer.id_number in value for value in values)
    for farmer in farmers.values():
        assert Farmer.objects.get(pk=farmer.pk).phone == farmer.phone


def test_owner_patch_without_phone_keeps_stored_numbers(world):
    client = login(world.users["worker"])
    household, farmer = world["H1"], world["F1"]
    phone, farmer_phone, id_number = household.phone, farmer.phone, farmer.id_number

    response = client.patch(f"/api/v1/model-households/{household.pk}/", {"address": "三组12号"}, HTTP_IF_MATCH="*")
    assert response.status_code == 200, response.content
    assert response.json()["phone"] == phone
    household.refresh_from_db()
    assert household.address == "三组12号"
    assert household.phone == phone

    response = client.patch(f"/api/v1/farmers/{farmer.pk}/", {"name": "刘小兰"}, HTTP_IF_MATCH="*")
    assert response.status_code == 200, response.content
    assert (response.json()["phone"], response.json()["id_number"]) == (farmer_phone, id_number)
    farmer.refresh_from_db()
    assert (farmer.name, farmer.phone, farmer.id_number) == ("刘小兰", farmer_phone, id_number)


def test_a_masked_number_sent_back_is_refused_not_stored(world):
    household = world["H1"]
    response = login(world.users["worker"]).patch(
        f"/api/v1/model-households/{household.pk}/", {"phone": masked(household.phone)}, HTTP_IF_MATCH="*"
    )
    assert response.status_code == 400
    assert response.json()["fields"]["phone"][0]["code"] == "invalid_phone"
    assert ModelHousehold.objects.get(pk=household.pk).phone == household.phone


@pytest.mark.parametrize(
    ("endpoint", "model", "field", "value"),
    [
        ("model-households", ModelHousehold, "address", "杏家湾社区3组12号"),
        ("model-households", ModelHousehold, "head_name", "陈大富"),
        ("farmers", Farmer, "name", "张小满"),
        ("exports/model-households", ModelHousehold, "head_name", "陈大富"),
    ],
)
def test_viewers_cannot_search_what_they_are_not_shown(world, endpoint, model, field, value):
    """A bureau viewer sees a family's names by their first character and no address: searching those fields would
    confirm them, so for viewers the search leaves them out (whatever the words, the same rows); admins search them."""
    record = world["H1"] if model is ModelHousehold else world["F1"]
    model.objects.filter(pk=record.pk).update(**{field: value})
    fmt = "&format=geojson" if endpoint.startswith("exports") else ""

    def found(client, words):
        response = client.get(f"/api/v1/{endpoint}/?search={words}{fmt}")
        assert response.status_code == 200, response.content
        body = response.json() if not fmt else json.loads(b"".join(response.streaming_content))
        rows = body["results"] if "results" in body else [f["properties"] for f in body["features"]]
        return sorted(str(row["id"]) for row in rows)

    viewer = login(world.users["viewer"])
    assert found(viewer, value) == found(viewer, "不存在的词")
    assert found(login(world.users["admin"]), value) == [str(record.pk)]
