"""Authorization matrix for the Django admin (``/admin/``): every role, as staff holding every permission of the
project's models, against the changelist, search, change, history and add pages and the autocomplete of every
registered model, in the marked world of ``matrix_support.build_evidence`` (three counties in two cities).

The admin shows what the API shows and no more: the same rows (``VISIBLE``, ``VISIBLE_VISITS``, ``PHOTOS`` and the
divisions of the jurisdiction and its ancestors), accounts and device tokens only to those who manage them
(``MANAGED_ACCOUNTS``), phone and ID numbers masked as the API masks them (``UNMASKED``), and where families live as
the API shows it (``COARSE_READERS``: bureau viewers read no household head's or farmer's name but its first
character, no address, no exact position of a household, a visit or a photo, and cannot search by what they are
not shown; every other role reads them exact). Django's permissions
only open pages; they never widen the rows. A cell is one page checked three ways: its status (an out-of-scope
object is the admin's "does not exist" redirect, exactly like an unknown one), the objects it links to (exactly
the visible ones), and its HTML, which must name nothing out of scope (no marker, id, code or name of the other
county, no account of it), no personal number the role reads masked, and for coarse readers no family's name,
address or exact coordinate. The roles are the eight county-level ones, the province's bureau admin (``50``) and the
viewer of Chongqing's counties (``5002``), in a world with a district of the other city (Wanzhou): 2,600 page cells
(``ADMIN_PAGE_CELLS``).
"""

import re
import uuid
from datetime import timedelta

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone

from agri.models import DeviceToken, Farmer, Job, ModelHousehold, Photo, PhotoUpload, User, Visit
from agri.privacy import mask_name, masked_value
from geo.models import AdminDivision
from tests.security.matrix_support import (
    COARSE_READERS,
    COUNTIES,
    EXTRA_ACCOUNTS,
    FAMILY_ADDRESS,
    FENGJIE,
    JURISDICTION,
    LEVEL_COARSE_READERS,
    MANAGED_ACCOUNTS,
    NETWORK_ENDPOINTS,
    NETWORK_ROLES,
    OUT_OF_COUNTY_ACCOUNTS,
    PERSONAL_PREFIXES,
    PHOTOS,
    TOMBSTONE_READERS,
    TOWNSHIPS,
    UNMASKED,
    VILLAGES,
    VISIBLE,
    VISIBLE_VISITS,
    Evidence,
    Matrix,
    may_read,
    place_families,
)

pytestmark = pytest.mark.filterwarnings("ignore::django.utils.deprecation.RemovedInDjango60Warning")

# The eight county-level roles, the province's bureau admin (50) and the viewer of Chongqing's counties (5002); the
# network's objects with Wanzhou's (the other city's).
ROLES = NETWORK_ROLES
ENDPOINTS = NETWORK_ENDPOINTS
COARSE_READERS = COARSE_READERS | LEVEL_COARSE_READERS
# The province's admin manages every account of the world (all inside 50, none a superuser), its own too.
MANAGED_ACCOUNTS = {**MANAGED_ACCOUNTS, "province": {*NETWORK_ROLES, *EXTRA_ACCOUNTS}}

DIVISION_CODES = {
    "500000000000",
    "500100000000",
    "500200000000",
    *COUNTIES.values(),
    *TOWNSHIPS.values(),
    *VILLAGES.values(),
}
# Distinct personal numbers, so that one shown in clear can only be that person's.
FARMER_ID_NUMBERS = {"F1": "500235199001011111", "F2": "500235199001012222", "F3": "500235199001013333"}
FARMER_ID_NUMBERS["F9"] = "500236199001011234"
FARMER_ID_NUMBERS["F8"] = "500101199001018888"


def out_of_scope_accounts(role: str) -> list[str]:
    """The recorders of other counties whose usernames the role may not read."""
    return [name for name in OUT_OF_COUNTY_ACCOUNTS if not EXTRA_ACCOUNTS[name][1].startswith(JURISDICTION[role])]


def admin_url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def divisions_visible(role: str) -> set[str]:
    jurisdiction = JURISDICTION[role]
    ancestors = {(jurisdiction[:n] + "0" * 12)[:12] for n in (2, 4, 6, 9) if n < len(jurisdiction)}
    return {code for code in DIVISION_CODES if code.startswith(jurisdiction)} | ancestors


def accounts(ev: Evidence) -> dict:
    return {**ev.world.users, **ev.accounts}


def rows(ev: Evidence, role: str) -> dict:
    """admin model -> (every world row of it by pk, the pks the role may read): the matrix's tables, written out."""
    out = {}
    for endpoint, (model, _field, names) in ENDPOINTS.items():
        out[model] = ({str(ev.pk(n)): n for n in names}, {str(ev.pk(n)) for n in VISIBLE[role].get(endpoint, ())})
    readable_visits = VISIBLE_VISITS[role] | ({"V_GONE"} if role in TOMBSTONE_READERS else set())
    out[Visit] = ({v: n for n, v in ev.visits.items()}, {ev.visits[n] for n in readable_visits})
    out[Photo] = (
        {p: n for n, p in ev.photos.items()},
        {ev.photos[n] for n, visit in PHOTOS.items() if visit in VISIBLE_VISITS[role]},
    )
    out[AdminDivision] = ({code: code for code in DIVISION_CODES}, divisions_visible(role))
    out[PhotoUpload] = (
        {str(upload_id(ev, n)): n for n in UPLOADS},
        {str(upload_id(ev, n)) for n in UPLOADS if n in VISIBLE_VISITS[role]},
    )
    out[Job] = ({str(job_id(n)): n for n in JOB_OWNERS}, {str(job_id(role))} if role in JOB_OWNERS else set())
    users = accounts(ev)
    out[User] = (
        {str(u.pk): name for name, u in users.items()},
        {str(users[name].pk) for name in MANAGED_ACCOUNTS.get(role, ())},
    )
    return out


# Visits with a resumable upload in progress (its id derived from the visit's, so that the tables can name it).
UPLOADS = ("V_W1", "V_W2", "V_W9")


def upload_id(ev: Evidence, visit: str) -> uuid.UUID:
    return uuid.uuid5(uuid.UUID(ev.visits[visit]), "upload")


def start_uploads(ev: Evidence) -> None:
    for name in UPLOADS:
        visit = Visit.objects.get(pk=ev.visits[name])
        PhotoUpload.objects.create(
            id=upload_id(ev, name),
            user=visit.user,
            visit=visit,
            photo_id=uuid.uuid4(),
            length=1000,
            expires_at=timezone.now() + timedelta(days=1),
        )


# Accounts with a job of their own (an export): each sees its own only.
JOB_OWNERS = ("admin", "viewer", "worker")


def job_id(owner: str) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"nongji-job-{owner}")


def start_jobs(ev: Evidence) -> None:
    for owner in JOB_OWNERS:
        Job.objects.create(
            id=job_id(owner), owner=ev.world.users[owner], kind="export-visits", parameters={"query": "format=gpkg"}
        )


def forbidden_personal(ev: Evidence, role: str) -> set[str]:
    """Personal numbers the role may only ever read masked."""
    tokens = set()
    for name, obj in ev.world.objects.items():
        if name.startswith(PERSONAL_PREFIXES) and not name.startswith("FS") and name not in UNMASKED.get(role, set()):
            tokens.add(obj.phone)
            if name in FARMER_ID_NUMBERS:
                tokens.add(FARMER_ID_NUMBERS[name])
    return {t for t in tokens if t}


def staff_client(ev: Evidence, role: str) -> Client:
    """The role's account as admin staff with every permission on the project's models and accounts."""
    user = ev.world.users[role]
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    user.user_permissions.set(Permission.objects.filter(content_type__app_label__in=["agri", "geo"]))
    client = Client()
    client.force_login(user)
    return client


def distinct_personal_numbers(ev: Evidence) -> None:
    for name, number in FARMER_ID_NUMBERS.items():
        Farmer.objects.filter(pk=ev[name].pk).update(id_number=number)
    Farmer.objects.filter(pk=ev["F9"].pk).update(phone="13700009999")
    ev["F9"].phone = "13700009999"


# Their marked field is a family's name: coarse readers cannot search by it.
NAMED_FAMILIES = (ModelHousehold, Farmer)
DECIMAL = re.compile(r"-?\d+\.\d+")


class AdminMatrix(Matrix):
    def __init__(self, ev, role, tmp_path, family=None):
        super().__init__(ev, role, tmp_path, client=staff_client(ev, role))
        self.family_names, self.family_points = family or (set(), set())
        self.coarse = role in COARSE_READERS
        self.forbidden |= forbidden_personal(ev, role)
        self.forbidden |= {f">{name}<" for name in out_of_scope_accounts(role)}  # a username as the admin shows it
        managed = MANAGED_ACCOUNTS.get(role, set())
        for name, user in accounts(ev).items():
            if name not in managed:
                self.forbidden |= set(DeviceToken.objects.filter(user=user).values_list("token_key", flat=True))

    def page(self, label: str, url: str, expected: int, *, sent: str = "") -> str | None:
        response = self.client.get(url)
        self.cells += 1
        text = response.content.decode()
        if response.status_code != expected:
            self.fail(label, f"{response.status_code}, expected {expected}")
            return None
        if expected == 302:
            if response["Location"] != reverse("admin:index"):
                self.fail(label, f"redirects to {response['Location']}")
            # The page redirected to says that the id (the one sent) does not exist, as for an unknown id.
            text = self.client.get(response["Location"]).content.decode()
        self.scan(label, text, url + sent)
        if self.coarse:
            self.family(label, text)
        return text

    def family(self, label: str, text: str) -> None:
        """A coarse reader's page names no family and holds no address or exact position of one."""
        names = sorted(name for name in self.family_names if name in text)
        points = sorted({float(n) for n in DECIMAL.findall(text)} & self.family_points)
        if names or FAMILY_ADDRESS in text or points:
            self.fail(label, f"family data: names {names[:3]}, address {FAMILY_ADDRESS in text}, points {points[:3]}")

    def exact(self, label: str, text: str | None, values) -> None:
        """A page that shows a family's record shows it as a coarse reader may (first characters of the names), or
        exactly (``values``) to everyone else."""
        if text is None:
            return
        for value in values:
            shown = (
                (mask_name(value) if isinstance(value, str) and value != FAMILY_ADDRESS else None)
                if self.coarse
                else value
            )
            if shown is not None and str(shown) not in text:
                self.fail(label, f"does not show {shown!r}")

    def links(self, label: str, text: str, model, everything: dict, visible: set) -> None:
        """The change pages the HTML links to, among the world's rows of ``model``: exactly the visible ones."""
        linked = {pk for pk in everything if admin_url(model, "change", pk) in text}
        if linked != visible:
            extra = sorted(everything[pk] for pk in linked - visible)
            missing = sorted(everything[pk] for pk in visible - linked)
            self.fail(label, f"links out of scope {extra}, misses {missing}")


ADMIN_PAGE_CELLS = 2720  # the tables' count, printed by test_admin_matrix_size


def registered():
    return [m for m in admin.site._registry if m._meta.app_label in ("agri", "geo")]


# model -> a search term; "[" is in every marked name and visit note, "e" in the name of every account recording
# photos and uploads. A term marked True matches every world row of the model: the result links exactly the visible
# ones.
SEARCH = {
    "user": ("worker", False),
    "admindivision": ("5002", False),
    "devicetoken": ("e", False),
    "retiredtoken": ("e", False),
    "photo": ("e", True),
    "photoupload": ("e", True),
    "job": ("export", True),
}


def search_term(model) -> tuple[str, bool]:
    return SEARCH.get(model._meta.model_name, ("[", True))


def autocomplete_fields():
    return [(model, name) for model in registered() for name in admin.site._registry[model].autocomplete_fields]


def page_cells(ev: Evidence, role: str) -> int:
    n = 0
    for model in registered():
        n += 3  # changelist, search, add page
        if model in rows(ev, role):
            n += 2 * len(rows(ev, role)[model][0])  # change and history of every world row
    return n + len(autocomplete_fields())


@pytest.mark.parametrize("role", ROLES)
def test_admin_pages(ev, role, tmp_path):
    """Changelist, search, add, change and history of every model, and every autocomplete: only the role's rows,
    and personal numbers masked as the API masks them."""
    distinct_personal_numbers(ev)
    start_uploads(ev)
    start_jobs(ev)
    m = AdminMatrix(ev, role, tmp_path, family=place_families(ev))
    table = rows(ev, role)
    shown = {  # model -> world row -> what its change page shows of the family (exact, or as coarse readers read it)
        ModelHousehold: {
            "H1": (
                ev["H1"].head_name,
                FAMILY_ADDRESS,
                *ModelHousehold.objects.values_list("lat", "lon").get(pk=ev.pk("H1")),
            )
        },
        Farmer: {"F1": (ev["F1"].name,)},
        Visit: {"V_W1": Visit.objects.values_list("lat", "lon", "client_lat", "client_lon").get(pk=ev.visits["V_W1"])},
    }
    superuser_only = {m_ for m_ in registered() if not admin.site._registry[m_].has_module_permission(_Staff())}
    for model in registered():
        name = model._meta.verbose_name
        status = 403 if model in superuser_only else 200
        listing = m.page(f"{name} changelist", admin_url(model, "changelist") + "?all=", status)
        term, matches_all = search_term(model)
        found = m.page(f"{name} search", admin_url(model, "changelist") + f"?q={term}", status, sent=term)
        add_status = (
            403 if model in superuser_only or not admin.site._registry[model].has_add_permission(_Staff()) else 200
        )
        m.page(f"{name} add", admin_url(model, "add"), add_status)
        if model not in table:
            continue
        everything, visible = table[model]
        if listing is not None and status == 200:
            m.links(f"{name} changelist", listing, model, everything, visible)
        if found is not None and status == 200 and matches_all:
            # Coarse readers do not search by a name they are not shown.
            found_rows = set() if m.coarse and model in NAMED_FAMILIES else visible
            m.links(f"{name} search", found, model, everything, found_rows)
        for pk, obj in everything.items():
            expected = 200 if pk in visible else 302
            page = m.page(f"{name} {obj} change", admin_url(model, "change", pk), expected)
            if expected == 200 and obj in shown.get(model, {}):
                m.exact(f"{name} {obj} change", page, shown[model][obj])
            m.page(f"{name} {obj} history", admin_url(model, "history", pk), expected)
    for model, field in autocomplete_fields():
        url = (
            reverse("admin:autocomplete")
            + f"?app_label={model._meta.app_label}&model_name={model._meta.model_name}&field_name={field}&term="
        )
        m.page(f"{model._meta.model_name}.{field} autocomplete", url, 200)
    m.done(page_cells(ev, role))


class _Staff:
    """A staff request with every permission but no superuser rights, to ask a ModelAdmin what it opens."""

    class user:
        is_active = is_staff = True
        is_superuser = False

        @staticmethod
        def has_perm(perm, obj=None):
            return True

        @staticmethod
        def has_module_perms(app_label):
            return True


def form_data(client: Client, obj) -> dict:
    """The admin's change form of ``obj`` as a browser submits it unchanged: a select sends only the options it
    shows."""
    model_admin = admin.site._registry[type(obj)]
    request = RequestFactory().get("/")
    request.user = User.objects.get(pk=client.session["_auth_user_id"])
    form = model_admin.get_form(request, obj, change=True)(instance=obj)
    data = {}
    for name, field in form.fields.items():
        value = form[name].value()
        if isinstance(value, list | tuple):
            value = [pk for pk in (getattr(v, "pk", v) for v in value) if field.queryset.filter(pk=pk).exists()]
        data[name] = "" if value is None else value
    return data


def links(obj) -> dict:
    return {f.name: set(getattr(obj, f.name).values_list("pk", flat=True)) for f in type(obj)._meta.many_to_many}


@pytest.mark.parametrize("role", ROLES)
def test_admin_masked_fields_cannot_be_saved(ev, role, tmp_path):
    """Where a role reads a number masked, the admin shows it read-only: the form has no input for it, and a save
    that sends one anyway keeps the real number (and the links to rows the role cannot see)."""
    distinct_personal_numbers(ev)
    client = staff_client(ev, role)
    for name in ("F1", "F2", "F3", "E1", "W1", "C1"):
        if not may_read(role, name):
            continue
        obj = type(ev[name]).objects.get(pk=ev[name].pk)
        url = admin_url(type(obj), "change", obj.pk)
        page = client.get(url).content.decode()
        masked = name not in UNMASKED.get(role, set())
        assert ('name="phone"' not in page) == masked, name
        if not masked:
            continue
        assert masked_value(obj.phone) in page, name
        data = {**form_data(client, obj), "phone": "13912345678", "id_number": "500235199001019999"}
        before = links(obj)
        response = client.post(url, data)
        assert response.status_code == 302, (name, response.context["adminform"].form.errors)
        fresh = type(obj).objects.get(pk=obj.pk)
        assert links(fresh) == before, name  # links to rows the role cannot see are kept
        assert (fresh.phone, getattr(fresh, "id_number", None)) == (obj.phone, getattr(obj, "id_number", None)), name


def test_admin_foreign_key_out_of_scope_is_refused(ev, tmp_path):
    """A bureau admin cannot link a household to a worker of the other county through the admin form."""
    client = staff_client(ev, "admin")
    household = ev["H1"]
    url = admin_url(type(household), "change", household.pk)
    data = {
        "worker": ev["W9"].pk,
        "head_name": household.head_name,
        "phone": household.phone,
        "address": household.address,
        "village": household.village_id,
        "lat": household.lat,
        "lon": household.lon,
        "farmers-TOTAL_FORMS": 0,
        "farmers-INITIAL_FORMS": 0,
    }
    response = client.post(url, data)
    household.refresh_from_db()
    assert household.worker_id == ev["W1"].pk
    assert response.status_code == 200  # the form again, with its error
    assert "[W9]" not in response.content.decode()


def test_admin_matrix_size(ev, capsys):
    per_role = {role: page_cells(ev, role) for role in ROLES}
    with capsys.disabled():
        print(f"\nauthorization matrix (admin): {sum(per_role.values())} page cells, {len(ROLES)} roles: {per_role}")
    assert sum(per_role.values()) == ADMIN_PAGE_CELLS


@pytest.mark.parametrize("jurisdiction", ["", "500236", "50"])
def test_an_account_manager_cannot_widen_an_account(ev, jurisdiction):
    """A bureau admin manages its county's accounts, but cannot move one outside the county or grant admin
    rights."""
    client = staff_client(ev, "admin")
    worker = ev.world.users["worker"]
    url = admin_url(User, "change", worker.pk)
    page = client.get(url).content.decode()
    assert 'name="jurisdiction"' in page
    assert not any(f'name="{name}"' in page for name in ("is_superuser", "is_staff", "user_permissions", "groups"))
    response = client.post(url, {**form_data(client, worker), "jurisdiction": jurisdiction})
    assert response.status_code == 200
    assert "jurisdiction" in response.context["adminform"].form.errors
    worker.refresh_from_db()
    assert worker.jurisdiction == "500235001"


def test_an_account_a_manager_creates_starts_in_its_jurisdiction(ev):
    client = staff_client(ev, "admin")
    password = "柑橘-溃疡病-防治-2026"
    response = client.post(
        admin_url(User, "add"), {"username": "new-worker", "password1": password, "password2": password}
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert User.objects.get(username="new-worker").jurisdiction == "500235"


@pytest.mark.parametrize(
    ("role", "model", "name"),
    [("admin", AdminDivision, "500200000000"), ("admin", AdminDivision, "500235000000"), ("admin", Visit, "V_W1")],
)
def test_admin_delete_page_names_only_visible_rows(ev, role, model, name):
    """The delete confirmation lists what the delete takes with the record and what stops it: when that includes
    rows of the other county (a city's counties), the delete is refused and none of them is named."""
    pk = ev.visits.get(name, name)
    client = staff_client(ev, role)
    url = admin_url(model, "delete", pk)
    page = client.get(url).content.decode()
    assert not [m.group() for pattern in FENGJIE for m in pattern.finditer(page)], page
    assert "奉节" not in page and "[W9]" not in page
    hidden = name == "500200000000"
    assert ("records you cannot see" in page or "您无法查看的记录" in page) == hidden
    if hidden:
        assert client.post(url, {"post": "yes"}).status_code == 403
        assert model.objects.filter(pk=pk).exists()


@pytest.mark.parametrize("role", sorted(COARSE_READERS))
def test_admin_coarse_reader_pages_and_saves_keep_family_data(ev, role):
    """A bureau viewer's household form shows the family as the API does (read-only) and has no input for it: a
    save that sends the fields anyway keeps the stored name, address and position; the delete confirmation and the
    farmer's form name the household by its first character only."""
    names, points = place_families(ev)
    client = staff_client(ev, role)
    household = ModelHousehold.objects.get(pk=ev.pk("H1"))
    url = admin_url(ModelHousehold, "change", household.pk)
    page = client.get(url).content.decode()
    assert not any(f'name="{field}"' in page for field in ("head_name", "address", "lat", "lon"))
    assert mask_name(household.head_name) in page
    data = {
        **form_data(client, household),
        "head_name": "改名",
        "address": "别处",
        "lat": 31.0,
        "lon": 109.0,
        "farmers-TOTAL_FORMS": 0,
        "farmers-INITIAL_FORMS": 0,
    }
    assert client.post(url, data).status_code == 302
    fresh = ModelHousehold.objects.get(pk=household.pk)
    assert (fresh.head_name, fresh.address, fresh.lat, fresh.lon) == (
        household.head_name,
        FAMILY_ADDRESS,
        household.lat,
        household.lon,
    )
    for other in (
        admin_url(ModelHousehold, "delete", household.pk),
        admin_url(Farmer, "change", ev.pk("F1")),
        admin_url(Farmer, "delete", ev.pk("F1")),
        admin_url(Visit, "delete", ev.visits["V_W1"]),
    ):
        text = client.get(other).content.decode()
        assert not [name for name in names if name in text], other
        assert not {float(n) for n in DECIMAL.findall(text)} & points, other


@pytest.mark.parametrize("role", ["admin", "viewer"])
def test_admin_photo_original_only_for_exact_readers(ev, role):
    """The original file carries the phone's EXIF position: the admin links it only for those who read exact
    positions, as the API serves it."""
    client = staff_client(ev, role)
    photo = ev.photos[next(n for n, visit in PHOTOS.items() if visit == "V_W1")]
    page = client.get(admin_url(Photo, "change", photo)).content.decode()
    assert reverse("agri:photo-display", kwargs={"pk": photo}) in page
    assert (reverse("agri:photo-original", kwargs={"pk": photo}) in page) == (role not in COARSE_READERS)
