"""The browsable API's HTML forms offer only what the JSON lists: every choice of every writable relation of every
serializer is scoped to the caller, and an id outside that scope is refused exactly like an unknown one.

Checked as a bureau admin of the other county (Fengjie, 500236) in the marked world of ``matrix_support``: nothing
of Yunyang (its markers, ids and division codes) may appear in a form, and a choice list holds Fengjie's rows.
"""

import re
import uuid

import pytest
from django.test import RequestFactory
from drf_spectacular.generators import EndpointEnumerator
from rest_framework import serializers
from rest_framework.request import Request

from agri.models import Role, User
from tests import factories as f
from tests.security.matrix_support import API, ENDPOINTS, Evidence
from tests.support import login

YUNYANG_CODE = re.compile(r"(?<![\d.])500235\d{6}(?!\d)")


def fengjie_admin() -> User:
    return f.UserFactory(username="fengjie-admin", role=Role.BUREAU_ADMIN, jurisdiction="500236")


def yunyang_rows(ev: Evidence) -> dict:
    """model -> pks of its Yunyang rows in the world (every world object but the ``…9`` ones, and Yunyang's codes)."""
    from geo.models import AdminDivision

    rows = {
        AdminDivision: {code for code in AdminDivision.objects.values_list("code", flat=True) if code[:6] == "500235"}
    }
    for name, obj in ev.world.objects.items():
        if not name.endswith("9"):
            rows.setdefault(type(obj), set()).add(obj.pk)
    return rows


def yunyang_markers(ev: Evidence) -> set[str]:
    return {f"[{name}]" for name in ev.world.objects if not name.endswith("9")}


def form_pages(ev: Evidence) -> list[str]:
    """Every list (its POST form) and every Fengjie object's detail (its PUT form) of the network, and divisions."""
    pages = [f"{API}/{endpoint}/" for endpoint in ENDPOINTS] + [f"{API}/divisions/", f"{API}/industries/"]
    for endpoint, (_model, _field, names) in ENDPOINTS.items():
        pages += [f"{API}/{endpoint}/{ev.pk(name)}/" for name in names if name.endswith("9")]
    return pages + [f"{API}/divisions/500236001001/"]


def test_browsable_forms_offer_only_rows_in_scope(ev):
    client = login(fengjie_admin())
    markers = yunyang_markers(ev)
    leaks = {}
    for url in form_pages(ev):
        response = client.get(url, HTTP_ACCEPT="text/html")
        assert response.status_code == 200, (url, response.status_code)
        html = response.content.decode()
        assert "<form" in html, url
        found = sorted({m for m in markers if m in html} | set(YUNYANG_CODE.findall(html)))
        if found:
            leaks[url] = found[:8]
    assert leaks == {}


def writable_relations(serializer):
    for name, field in serializer.fields.items():
        if field.read_only:
            continue
        related = getattr(field, "child_relation", field)
        if isinstance(related, serializers.RelatedField):
            yield name, related
        elif isinstance(field, serializers.BaseSerializer):
            yield from ((f"{name}.{n}", r) for n, r in writable_relations(getattr(field, "child", field)))


def every_serializer(user):
    """(view, serializer) for every operation of the API that has a request serializer, built as the view builds it."""
    seen = set()
    for path, _regex, method, callback in EndpointEnumerator().get_api_endpoints():
        cls = callback.cls
        actions = getattr(callback, "actions", None) or {}
        request = RequestFactory().generic(method, path)
        request.user = user
        view = cls(**getattr(callback, "initkwargs", {}))
        view.action = actions.get(method.lower())
        view.request = Request(request)
        view.request.user = user
        view.format_kwarg = None
        view.kwargs = {}
        for attr in ("serializer_class", "query_serializer_class"):
            serializer_class = getattr(view, attr, None)
            if attr == "serializer_class" and hasattr(view, "get_serializer_class"):
                try:
                    serializer_class = view.get_serializer_class()
                except (AssertionError, KeyError, AttributeError):
                    serializer_class = None
            if serializer_class is None or (cls, serializer_class) in seen:
                continue
            seen.add((cls, serializer_class))
            yield (
                f"{method} {path} {serializer_class.__name__}",
                serializer_class(context={"request": view.request, "view": view}),
            )


def test_every_writable_relation_is_scoped(ev):
    """Every serializer's writable relations (and so the HTML selects and the validation of an id) hold only rows
    the caller may see. At least one relation per scoped model is checked, so the test cannot pass empty."""
    user = fengjie_admin()
    outside = yunyang_rows(ev)
    leaks, checked = {}, set()
    for label, serializer in every_serializer(user):
        for name, field in writable_relations(serializer):
            queryset = field.get_queryset()
            if queryset is None:
                continue
            model = queryset.model
            checked.add(model.__name__)
            got = set(queryset.values_list("pk", flat=True))
            if got & outside.get(model, set()):
                leaks[f"{label}.{name}"] = sorted(map(str, got & outside[model]))[:5]
    assert leaks == {}
    assert {"AdminDivision", "Expert", "ExtensionWorker", "ModelHousehold", "Station", "DemonstrationBase"} <= checked


@pytest.mark.parametrize(
    ("endpoint", "field", "inside", "outside"),
    [
        ("divisions", "parent", "500236001000", "500235001000"),
        ("extension-workers", "expert", "E9", "E1"),
        ("farmers", "household", "H9", "H1"),
    ],
)
def test_an_id_out_of_scope_is_refused_like_an_unknown_one(ev, endpoint, field, inside, outside):
    """The same 400 and message for another county's row as for a row that does not exist: no existence oracle."""
    client = login(fengjie_admin())
    bodies = {
        "divisions": lambda parent: {"code": "500236001099", "name": "新村", "level": "village", "parent": parent},
        "extension-workers": lambda expert: {
            "name": "新人",
            "expert": expert,
            "home_township_code": "500236001000",
            "is_township_based": True,
        },
        "farmers": lambda household: {"household": household, "name": "新农户", "village_code": "500236001001"},
    }
    key = (lambda name: name) if endpoint == "divisions" else ev.pk
    unknown = {"divisions": "500236009000", "extension-workers": 99999}.get(endpoint, str(uuid.uuid4()))
    answers = {}
    for which, value in (("outside", key(outside)), ("unknown", unknown)):
        response = client.post(f"{API}/{endpoint}/", bodies[endpoint](value), format="json")
        body = response.json()
        assert response.status_code == 400, (which, body)
        message = body["fields"][field]
        answers[which] = (body["code"], [str(m).replace(str(value), "<id>") for m in message])
    assert answers["outside"] == answers["unknown"]
    response = client.post(f"{API}/{endpoint}/", bodies[endpoint](key(inside)), format="json")
    assert response.status_code == 201, response.json()
