"""The authorization matrices' home: the intended rules as explicit tables, the world they are checked against and
the machinery that runs one cell and checks it.

The tests are in two modules beside this one: ``test_authorization_matrix_network.py`` (the network endpoints: GET,
POST, PATCH, DELETE, in the shared world of ``tests/support.py``) and ``test_authorization_matrix_visits.py``
(everything else, in the marked evidence world built here). The rules are written out; nothing is derived from the
app's querysets or ``write_roles``.
"""

import ast
import csv
import io
import json
import re
import uuid
import zipfile
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import h3
import numpy as np
import openpyxl
import pyogrio
from django.apps import apps
from django.core.management.color import no_style
from django.db import connection
from django.db.models import F
from django.utils import timezone
from PIL import Image
from shapely import box

from agri.models import (
    DemonstrationBase,
    DeviceToken,
    DivisionMonth,
    Expert,
    ExtensionWorker,
    Farmer,
    FieldSchool,
    HexMonth,
    Industry,
    ModelHousehold,
    PersonalDataAccess,
    Photo,
    PhotoUpload,
    PresenceMonth,
    Role,
    Station,
    TechCommissioner,
    User,
    Visit,
    VisitEvent,
    VisitRollup,
)
from geo.models import AdminDivision
from geo.services import DivisionRow, division_upsert_many
from tests import factories as f
from tests.agri.map_support import map_world
from tests.agri.photo_support import stored_files, upload
from tests.agri.upload_support import create
from tests.support import add_other_city, build_world, login

API = "/api/v1"


# --- the network: people, households, stations, bases, field schools ------------------------------------------

# endpoint -> (model, the harmless text field a PATCH changes, the world objects of that endpoint)
ENDPOINTS = {
    "experts": (Expert, "name", ("E1", "E2", "E9")),
    "extension-workers": (ExtensionWorker, "name", ("W1", "W2", "W3", "W9")),
    "model-households": (ModelHousehold, "head_name", ("H1", "H2", "H3", "H9")),
    "farmers": (Farmer, "name", ("F1", "F2", "F3", "F9")),
    "stations": (Station, "name", ("S1", "S2", "S9")),
    "demonstration-bases": (DemonstrationBase, "name", ("B1", "B2", "B9")),
    "field-schools": (FieldSchool, "name", ("FS1", "FS2", "FS9")),
    "tech-commissioners": (TechCommissioner, "name", ("C1", "C2", "C9")),
}
ROLES = ("admin", "viewer", "township_viewer", "expert", "worker", "worker2", "commissioner", "station")

_YUNYANG = {
    "experts": {"E1", "E2"},
    "extension-workers": {"W1", "W2", "W3"},
    "model-households": {"H1", "H2", "H3"},
    "farmers": {"F1", "F2", "F3"},
    "stations": {"S1", "S2"},
    "demonstration-bases": {"B1", "B2"},
    "field-schools": {"FS1", "FS2"},
    "tech-commissioners": {"C1", "C2"},
}

# role -> endpoint -> the world objects the role may read. Absent endpoint: nothing.
VISIBLE = {
    "admin": _YUNYANG,
    "viewer": _YUNYANG,
    "township_viewer": {
        "experts": {"E1", "E2"},  # county-wide people of its county
        "extension-workers": {"W1", "W3"},  # home township T1
        "model-households": {"H1", "H3"},  # villages in T1
        "farmers": {"F1", "F3"},
        "stations": {"S1"},
        "demonstration-bases": {"B1"},
        "field-schools": {"FS1"},
        "tech-commissioners": {"C1", "C2"},
    },
    "expert": {
        "experts": {"E1"},
        "extension-workers": {"W1", "W2"},
        "model-households": {"H1", "H2"},
        "farmers": {"F1", "F2"},
        "stations": {"S1"},  # citrus stations in Yunyang (S9 is citrus too, but in Fengjie)
        "demonstration-bases": {"B1"},
        "field-schools": {"FS1"},
    },
    "worker": {
        "experts": {"E1"},
        "extension-workers": {"W1"},
        "model-households": {"H1"},
        "farmers": {"F1"},
        "stations": {"S1"},  # stations in the home township
        "demonstration-bases": {"B1"},  # bases of the own industry in the own county
        "field-schools": {"FS1"},
    },
    "worker2": {
        "experts": {"E1"},
        "extension-workers": {"W2"},
        "model-households": {"H2"},
        "farmers": {"F2"},
        "stations": {"S2"},
        "demonstration-bases": {"B1"},
        "field-schools": {"FS1"},
    },
    "commissioner": {
        "stations": {"S1"},
        "demonstration-bases": {"B1"},
        "field-schools": {"FS1"},
        "tech-commissioners": {"C1"},
    },
    "station": {
        "stations": {"S1"},
        "tech-commissioners": {"C1"},
    },
}

# --- wider bureaus: a city's and the province's ------------------------------------------------------------------

# The network matrix also runs in a world with a district of Chongqing's other city (``add_other_city`` in
# tests/support.py: Wanzhou, 500101, whose objects end in 8), for two more accounts: the province's bureau admin
# (jurisdiction 50: all three counties) and the viewer of Chongqing's counties (5002: Yunyang and Fengjie, not
# Wanzhou). The eight county-level roles read none of Wanzhou.
LEVEL_ROLES = ("province", "city")
NETWORK_ROLES = ROLES + LEVEL_ROLES
_FENGJIE = {
    "experts": {"E9"},
    "extension-workers": {"W9"},
    "model-households": {"H9"},
    "farmers": {"F9"},
    "stations": {"S9"},
    "demonstration-bases": {"B9"},
    "field-schools": {"FS9"},
    "tech-commissioners": {"C9"},
}
_WANZHOU = {endpoint: {name.replace("9", "8") for name in names} for endpoint, names in _FENGJIE.items()}
VISIBLE["city"] = {endpoint: _YUNYANG[endpoint] | _FENGJIE[endpoint] for endpoint in _YUNYANG}
VISIBLE["province"] = {endpoint: VISIBLE["city"][endpoint] | _WANZHOU[endpoint] for endpoint in _YUNYANG}
# endpoint -> the world objects of the network matrix: each endpoint's objects and Wanzhou's.
NETWORK_ENDPOINTS = {
    endpoint: (model, field, (*names, *sorted(_WANZHOU[endpoint])))
    for endpoint, (model, field, names) in ENDPOINTS.items()
}

# role -> endpoint -> actions the role may perform on that endpoint at all (within its scope).
# Out-of-scope targets of a permitted action answer 404; actions not permitted answer 403.
_ALL = {"create", "update", "destroy"}
WRITE_ACTIONS = {
    "admin": {endpoint: _ALL for endpoint in ENDPOINTS},
    "province": {endpoint: _ALL for endpoint in ENDPOINTS},
    "worker": {"model-households": _ALL, "farmers": _ALL},
    "worker2": {"model-households": _ALL, "farmers": _ALL},
    "station": {"stations": {"update"}},
}
# Field schools are created and deleted with their base: no POST or DELETE route (405) for anyone allowed to write.
NO_ROUTE = {("field-schools", "create"), ("field-schools", "destroy")}

# role -> the world objects a PATCH must succeed on (200 and the row changed). Everything else: refused.
WRITABLE = {
    "admin": set().union(*_YUNYANG.values()),
    "province": set().union(*VISIBLE["province"].values()),
    "worker": {"H1", "F1"},
    "worker2": {"H2", "F2"},
    "station": {"S1"},
}
# role -> the world objects a DELETE may succeed on (204, or 409 "protected" while still referenced).
DELETABLE = {
    "admin": WRITABLE["admin"] - _YUNYANG["field-schools"],
    "province": WRITABLE["province"] - VISIBLE["province"]["field-schools"],
    "worker": {"H1", "F1"},
    "worker2": {"H2", "F2"},
}


# --- shared reference data: who owns it ------------------------------------------------------------------------

# Industries are one catalogue for the whole installation: the indicators of every county, and their roll-ups to city
# and province, count by the same codes. Only an account whose jurisdiction is the whole installation (empty) writes
# them; a county's bureau admin reads them like everyone else (403 on a write).
REFERENCE_OWNERS = {  # account -> (role, jurisdiction): the accounts beside the matrix roles that write reference data
    "installation_admin": (Role.BUREAU_ADMIN, ""),
    "fengjie_admin": (Role.BUREAU_ADMIN, "500236"),
}
INDUSTRY_WRITERS = {"installation_admin"}
# A division belongs to the narrowest jurisdiction that contains it: an admin writes inside its own jurisdiction; the
# ancestors it reads (its city, its province) are written only by a wider one (403).
DIVISION_ANCESTORS = {"city": "500200000000", "province": "500000000000"}
# Codes that phones store and send back never change once created: a write that changes one is a 400 whose field
# error has this code, and nothing is stored.
IMMUTABLE_CODE = "immutable"


# --- where families live: one rule in every output -------------------------------------------------------------

# Bureau viewers read the county's picture, not where each family lives. In every output they can read (details,
# lists, the sync feed, GeoJSON, GIS exports, coverage, the network tree) a household's or a visit's position is the
# centre of its H3 cell at COVERAGE_VIEWER_H3_RESOLUTION, a household's address is withheld (empty) and the names of
# a household's head and of its farmers keep their first character only (``陈**``). Every other role that may read a
# record gets these exact.
COARSE_READERS = {"viewer", "township_viewer"}
COARSE_RESOLUTION = 7
FAMILY_ADDRESS = "杏家湾社区3组12号"  # given to H1 by the test that reads it back


def place_families(ev) -> tuple[set[str], set[float]]:
    """Gives H1 its address (``FAMILY_ADDRESS``) and every household and visit a position of its own, which no
    station or base shares; returns the world's exact family names (heads and farmers) and the exact coordinates of
    its households, visits and photos."""
    ModelHousehold.objects.filter(pk=ev.pk("H1")).update(address=FAMILY_ADDRESS)
    ModelHousehold.objects.update(lat=F("lat") + 0.0001234, lon=F("lon") + 0.0004321)
    Visit.objects.update(
        lat=F("lat") + 0.0001234,
        lon=F("lon") + 0.0004321,
        client_lat=F("client_lat") + 0.0001234,
        client_lon=F("client_lon") + 0.0004321,
    )
    names = {
        *ModelHousehold.objects.values_list("head_name", flat=True),
        *Farmer.objects.values_list("name", flat=True),
    }
    points = set()
    for rows in (
        ModelHousehold.objects.values_list("lat", "lon"),
        Visit.objects.values_list("lat", "lon", "client_lat", "client_lon"),
        Photo.objects.values_list("exif_lat", "exif_lon"),
    ):
        points |= {value for row in rows for value in row if value is not None}
    return names, points


def is_cell_centre(lat: float, lon: float) -> bool:
    centre = h3.cell_to_latlng(h3.latlng_to_cell(lat, lon, COARSE_RESOLUTION))
    return abs(centre[0] - lat) < 1e-7 and abs(centre[1] - lon) < 1e-7


# --- client ids already taken: one answer whatever the stored record is ----------------------------------------

# A create under a stored id that is not a replay (another payload, another account's record, another county's) is
# refused with one answer, in every create path (visits, the batch push, households, farmers, photos): it says that
# the id is taken and nothing about the record that holds it. (Client ids are random UUIDs: only who was shown an id
# can ask about it.)
ID_TAKEN = {
    "code": "conflict",
    "message": "This id is already taken. Nothing was changed: a new record needs a new id.",
    "fields": {},
}


# --- field evidence: the accounts, their visits and photos ----------------------------------------------------

NETWORK_VISIBLE = VISIBLE  # role -> network endpoint -> world objects it may read
JURISDICTION = {
    "admin": "500235",
    "viewer": "500235",
    "township_viewer": "500235001",
    "expert": "500235",
    "worker": "500235001",
    "worker2": "500235002",
    "commissioner": "500235",
    "station": "500235",
    "province": "50",
    "city": "5002",
}

VILLAGES = {
    "v1": "500235001001",
    "v1b": "500235001003",
    "v2": "500235002001",
    "v9": "500236001001",
    "v8": "500101001001",
}
TOWNSHIPS = {"T1": "500235001000", "T2": "500235002000", "T9": "500236001000", "T8": "500101001000"}
COUNTIES = {"yunyang": "500235000000", "fengjie": "500236000000", "wanzhou": "500101000000"}
# Wanzhou's divisions as boxes (WGS-84), so that its visits are placed there.
WANZHOU_BOXES = {"T8": (108.30, 30.70, 108.40, 30.80), "v8": (108.30, 30.70, 108.40, 30.80)}

# Accounts that record the world's visits, and the person each is linked to. Only the first four are matrix roles.
RECORDERS = {
    "worker": "W1",
    "worker2": "W2",
    "expert": "E1",
    "commissioner": "C1",
    "worker3": "W3",  # township T1, but the goats expert's team
    "commissioner2": "C2",
    "worker9": "W9",  # Fengjie
    "commissioner9": "C9",
    "worker8": "W8",  # Wanzhou, in the other city
    "commissioner8": "C8",
}
EXTRA_ACCOUNTS = {  # account -> (role, jurisdiction) for the recorders that are not matrix roles
    "worker3": (Role.WORKER, "500235001"),
    "commissioner2": (Role.COMMISSIONER, "500235"),
    "worker9": (Role.WORKER, "500236001"),
    "commissioner9": (Role.COMMISSIONER, "500236"),
    "worker8": (Role.WORKER, "500101001"),
    "commissioner8": (Role.COMMISSIONER, "500101"),
}


@dataclass(frozen=True)
class V:
    recorder: str
    target: str  # a world object or a village key
    lon: float
    lat: float
    village: str  # the village the point lies in
    kind: str = "guidance"
    introduced: tuple = ()
    participants: int = 0


VISITS = {
    "V_W1": V("worker", "H1", 108.700, 30.950, "v1", "new_variety", ("脐橙新品种甲",)),
    "V_E1": V("expert", "B1", 108.701, 30.951, "v1"),
    "V_C1": V("commissioner", "S1", 108.702, 30.952, "v1"),
    "V_GONE": V("worker", "H1", 108.703, 30.953, "v1"),  # deleted by its recorder: a tombstone
    "V_W3": V("worker3", "H3", 108.720, 30.950, "v1b", "new_variety", ("山羊新品种乙",)),
    "V_W2": V("worker2", "F2", 108.700, 30.930, "v2", "training", participants=12),
    "V_C2": V("commissioner2", "v2", 108.710, 30.930, "v2"),
    "V_W9": V("worker9", "H9", 109.450, 31.050, "v9", "new_variety", ("奉节品种丙",)),
    "V_C9": V("commissioner9", "S9", 109.460, 31.060, "v9", "training", participants=30),
    "V_W8": V("worker8", "H8", 108.350, 30.750, "v8", "new_variety", ("万州品种丁",)),
    "V_C8": V("commissioner8", "S8", 108.360, 30.760, "v8", "training", participants=25),
}
DELETED = {"V_GONE"}

# role -> the live visits it may read. A bureau account: those that happened in its jurisdiction; an expert: its
# own and its team's; a worker or commissioner: its own; a station manager: those at its station.
VISIBLE_VISITS = {
    "admin": {"V_W1", "V_E1", "V_C1", "V_W3", "V_W2", "V_C2"},
    "viewer": {"V_W1", "V_E1", "V_C1", "V_W3", "V_W2", "V_C2"},
    "township_viewer": {"V_W1", "V_E1", "V_C1", "V_W3"},
    "expert": {"V_E1", "V_W1", "V_W2"},
    "worker": {"V_W1"},
    "worker2": {"V_W2"},
    "commissioner": {"V_C1"},
    "station": {"V_C1"},
}
VISIBLE_VISITS["city"] = VISIBLE_VISITS["admin"] | {"V_W9", "V_C9"}
VISIBLE_VISITS["province"] = VISIBLE_VISITS["city"] | {"V_W8", "V_C8"}
# Roles whose pull (?updated_since=) includes the deleted visit as a tombstone: those that could read it alive.
TOMBSTONE_READERS = {"admin", "viewer", "township_viewer", "expert", "worker", "province", "city"}
# role -> visits it recorded: the only ones an actor may edit, delete or add photos to.
RECORDED = {"worker": {"V_W1", "V_GONE"}, "worker2": {"V_W2"}, "expert": {"V_E1"}, "commissioner": {"V_C1"}}

PHOTOS = {
    "P_W1": "V_W1",
    "P_E1": "V_E1",
    "P_C1": "V_C1",
    "P_GONE": "V_GONE",
    "P_W3": "V_W3",
    "P_W2": "V_W2",
    "P_W9": "V_W9",
    "P_W8": "V_W8",
}

TARGET_FIELD = {"H": "household", "F": "farmer", "B": "base", "S": "station", "v": "village"}
NETWORK_ENDPOINT = {
    "E": "experts",
    "W": "extension-workers",
    "C": "tech-commissioners",
    "H": "model-households",
    "F": "farmers",
    "B": "demonstration-bases",
    "S": "stations",
}

FENGJIE = (re.compile(r"(?<![\d.])500236\d{6}(?!\d)"), re.compile("奉节|永安"))
WANZHOU = (re.compile(r"(?<![\d.])50010[01]\d{6}(?!\d)"), re.compile("万州|高笋塘|市辖区"))


def other_county_patterns(role: str) -> tuple:
    """What names a county the role may not read (its codes and names): Fengjie's and Wanzhou's, or only Wanzhou's
    for the viewer of Chongqing's counties, or none for the province's admin."""
    jurisdiction = JURISDICTION.get(role, "-")
    patterns = ()
    if not COUNTIES["fengjie"].startswith(jurisdiction):
        patterns += FENGJIE
    if not COUNTIES["wanzhou"].startswith(jurisdiction):
        patterns += WANZHOU
    return patterns


def may_read(role: str, name: str) -> bool:
    """Whether ``role`` may read world object or village ``name`` (the network matrix's table, and jurisdictions)."""
    if name.startswith("v"):
        return VILLAGES[name].startswith(JURISDICTION[role])
    endpoint = "field-schools" if name.startswith("FS") else NETWORK_ENDPOINT[name[0]]
    return name in NETWORK_VISIBLE[role].get(endpoint, set())


# --- the Django admin ------------------------------------------------------------------------------------------

# World objects that hold personal data (phone; farmers an ID number too).
PERSONAL_PREFIXES = ("E", "W", "C", "H", "F")
# role -> the world objects whose phone and ID number it reads unmasked (agri.privacy): a bureau admin everything it
# may read, a person their own record, the worker who owns a household the household and its farmers. Everyone else
# reads them masked, wherever they are shown (API or admin).
UNMASKED = {
    "admin": {name for names in _YUNYANG.values() for name in names if name.startswith(PERSONAL_PREFIXES)},
    "worker": {"W1", "H1", "F1"},
    "worker2": {"W2", "H2", "F2"},
    "expert": {"E1"},
    "commissioner": {"C1"},
}
UNMASKED["province"] = {
    name for names in VISIBLE["province"].values() for name in names if name.startswith(PERSONAL_PREFIXES)
}
# Readers of coarsened positions among the wider bureaus (``COARSE_READERS`` are the county-level roles').
LEVEL_COARSE_READERS = {"city"}
# role -> the accounts it manages in the admin (and whose device tokens it sees): a bureau admin those of its
# jurisdiction that are not superusers; nobody else any.
MANAGED_ACCOUNTS = {
    "admin": {*ROLES, "worker3", "commissioner2"},
}
OUT_OF_COUNTY_ACCOUNTS = ("worker9", "commissioner9", "worker8", "commissioner8")


# --- the evidence world ---------------------------------------------------------------------------------------

MARKED_FIELD = {
    Expert: "name",
    ExtensionWorker: "name",
    TechCommissioner: "name",
    ModelHousehold: "head_name",
    Farmer: "name",
    Station: "name",
    DemonstrationBase: "name",
    FieldSchool: "name",
}


@dataclass
class Evidence:
    world: object
    root: Path
    visits: dict = field(default_factory=dict)  # name -> visit id (str)
    photos: dict = field(default_factory=dict)  # name -> photo id (str)
    photo_bytes: dict = field(default_factory=dict)
    uploads: dict = field(default_factory=dict)  # name -> resumable upload id (str)
    accounts: dict = field(default_factory=dict)  # recorder account -> User
    year: int = 0

    def __getitem__(self, name):
        return self.world[name]

    def pk(self, name: str):
        """The id a client sends for a world object, a village, a visit or a photo."""
        if name in VILLAGES:
            return VILLAGES[name]
        if name in self.visits:
            return self.visits[name]
        if name in self.photos:
            return self.photos[name]
        if name in self.uploads:
            return self.uploads[name]
        pk = self.world[name].pk
        return str(pk) if isinstance(pk, uuid.UUID) else pk


_image_seed = iter(range(1, 1_000_000))


def fresh_jpeg() -> bytes:
    """A small JPEG of random noise: its own bytes and perceptual hash, so that no evidence check links two."""
    rng = np.random.default_rng(next(_image_seed))
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def visit_body(ev: Evidence, name: str, **overrides) -> dict:
    v = VISITS[name]
    started = timezone.localtime() - timedelta(hours=3)
    body = {
        "id": str(uuid.uuid4()),
        "kind": v.kind,
        "industry": "citrus",
        "started_at": started.isoformat(),
        "ended_at": (started + timedelta(hours=1)).isoformat(),
        "lat": v.lat,
        "lon": v.lon,
        "accuracy_m": 8.0,
        "source_crs": "wgs84",
        "notes": f"服务记录[{name}]",
        "participants": v.participants,
        "introduced": list(v.introduced),
        "photos_expected": 1,
        TARGET_FIELD[v.target[0]]: ev.pk(v.target),
    }
    body.update(overrides)
    return body


def build_evidence(root: Path) -> Evidence:
    world = map_world(add_other_city(build_world()))
    division_upsert_many(
        [
            DivisionRow(TOWNSHIPS["T8"], "高笋塘街道", "township", COUNTIES["wanzhou"], box(*WANZHOU_BOXES["T8"])),
            DivisionRow(VILLAGES["v8"], "高笋塘社区", "village", TOWNSHIPS["T8"], box(*WANZHOU_BOXES["v8"])),
        ]
    )
    for key, obj in world.objects.items():
        name_field = MARKED_FIELD[type(obj)]
        setattr(obj, name_field, f"{type(obj)._meta.verbose_name}[{key}]")
        updates = [name_field]
        if isinstance(obj, Station):
            obj.host_org = "示范合作社"
            updates.append("host_org")
        obj.save(update_fields=updates)
    ev = Evidence(world=world, root=root)
    ev.accounts = {name: world.users[name] for name in RECORDERS if name in world.users}
    for name, (role, jurisdiction) in EXTRA_ACCOUNTS.items():
        user = f.UserFactory(username=name, role=role, jurisdiction=jurisdiction)
        person = world[RECORDERS[name]]
        person.user = user
        person.save(update_fields=["user"])
        ev.accounts[name] = user
    recorders = {name: login(user, device="recorder") for name, user in ev.accounts.items()}
    for name, v in VISITS.items():
        body = visit_body(ev, name)
        response = recorders[v.recorder].post(f"{API}/visits/", body, format="json")
        assert response.status_code == 201, (name, response.content)
        ev.visits[name] = body["id"]
    ev.year = Visit.objects.get(pk=ev.visits["V_W1"]).visit_date.year
    for photo, visit in PHOTOS.items():
        data = fresh_jpeg()
        response = upload(recorders[VISITS[visit].recorder], ev.visits[visit], data, filename="IMG.jpg")
        assert response.status_code == 201, (photo, response.content)
        ev.photos[photo] = response.json()["id"]
        ev.photo_bytes[photo] = data
    # A resumable upload in progress (no byte in yet) of the worker's visit.
    response = create(recorders["worker"], ev.visits["V_W1"], str(uuid.uuid4()), 5000)
    assert response.status_code == 201, response.content
    ev.uploads["U_W1"] = response["Location"].rstrip("/").rsplit("/", 1)[1]
    for name in DELETED:
        response = recorders[VISITS[name].recorder].delete(f"{API}/visits/{ev.visits[name]}/")
        assert response.status_code == 204, response.content
    return ev


def flush_project_tables() -> None:
    """Empty every table of the project's apps (the module's world is committed, outside any test's transaction)."""
    models = [m for label in ("agri", "geo") for m in apps.get_app_config(label).get_models(include_auto_created=True)]
    connection.ops.execute_sql_flush(
        connection.ops.sql_flush(no_style(), [m._meta.db_table for m in models], allow_cascade=True)
    )
    # On SQLite the flush's DELETEs fire the triggers that log them (PostgreSQL's TRUNCATE does not): empty the log.
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM agri_change")
    assert not any(m.objects.exists() for m in models)


# --- one cell: a request, its status, its body and the database -----------------------------------------------

SNAPSHOT_MODELS = (
    Visit,
    VisitEvent,
    VisitRollup,
    DivisionMonth,
    HexMonth,
    PresenceMonth,
    Visit.attendees.through,
    Photo,
    PhotoUpload,
    PersonalDataAccess,
    ModelHousehold,
    ModelHousehold.industries.through,
    Farmer,
    Station,
    Station.industries.through,
    DemonstrationBase,
    FieldSchool,
    Expert,
    ExtensionWorker,
    TechCommissioner,
    TechCommissioner.stations.through,
    TechCommissioner.bases.through,
    Industry,
    AdminDivision,
)


def snapshot(root: Path):
    """Every row a write of these endpoints could touch, the accounts' tokens and the stored photo files."""
    tables = tuple(tuple(model.objects.order_by("pk").values_list()) for model in SNAPSHOT_MODELS)
    accounts = tuple(User.objects.order_by("pk").values_list("pk", "username", "password", "role", "jurisdiction"))
    tokens = tuple(DeviceToken.objects.order_by("digest").values_list("digest", "user_id"))
    return tables, accounts, tokens, tuple(p.relative_to(root).as_posix() for p in stored_files(root))


def _diff(before, after) -> str:
    names = [m._meta.label for m in SNAPSHOT_MODELS]
    changed = [names[i] for i, (a, b) in enumerate(zip(before[0], after[0], strict=True)) if a != b]
    changed += [what for what, i in (("users", 1), ("tokens", 2), ("photo files", 3)) if before[i] != after[i]]
    return ", ".join(changed)


class Matrix:
    """Runs the cells of one role and collects every failure, so that one run reports them all."""

    def __init__(self, ev: Evidence, role: str, tmp_path: Path, client=None):
        self.ev, self.role, self.tmp_path = ev, role, tmp_path
        self.client = client or login(ev.world.users[role])
        self.cells = 0
        self.failures: list[str] = []
        self.forbidden = forbidden_tokens(ev, role)
        self.patterns = other_county_patterns(role)

    def fail(self, label: str, message: str) -> None:
        self.failures.append(f"{label}: {message}")

    def request(
        self, label, method, url, expected, *, data=None, fmt="json", write=None, headers=None, parse=None, allow=""
    ):
        """One cell. ``write``: True for a write, whose refusal must change nothing. ``parse`` decodes the body into
        (text to scan, parsed value); ``allow``: text the body may name although the role may not read it (what the
        request itself made it). Returns the parsed body (None when empty), or None when the status is wrong."""
        write = method not in ("get", "head") if write is None else write
        before = snapshot(self.ev.root) if write and expected >= 400 else None
        kwargs = {"format": fmt} if data is not None else {}
        response = getattr(self.client, method)(url, data, **kwargs, **(headers or {}))
        self.cells += 1
        sent = url + (json.dumps(data, ensure_ascii=False, default=str) if data is not None else "") + allow
        raw = b"".join(response.streaming_content) if response.streaming else response.content
        if response.status_code != expected:
            self.fail(label, f"{response.status_code}, expected {expected}: {raw[:300]!r}")
            return None
        if before is not None:
            after = snapshot(self.ev.root)
            if after != before:
                self.fail(label, f"refused with {response.status_code} but changed: {_diff(before, after)}")
        if expected >= 400:
            try:
                body = json.loads(raw)
            except ValueError:
                self.fail(label, f"error body is not JSON: {raw[:200]!r}")
                return None
            if set(body) != {"code", "message", "fields"}:
                self.fail(label, f"error body is not the API's error shape: {body}")
            self.scan(label, json.dumps(body, ensure_ascii=False), sent)
            return body
        text, parsed = (parse or parse_json)(raw, self.tmp_path)
        self.scan(label, text, sent)
        return parsed

    def scan(self, label: str, text: str, sent: str = "") -> None:
        """Leaks in ``text``. A token the request itself sent (``sent``) may come back: an error naming the id the
        client gave, or a batch result keyed by it, tells the client nothing it did not know."""
        leaks = sorted({token for token in self.forbidden if token in text and token not in sent})
        leaks += [m.group() for pattern in self.patterns for m in pattern.finditer(text) if m.group() not in sent][:5]
        if leaks:
            self.fail(label, f"body names out-of-scope objects: {leaks}")

    def ids(self, label: str, got, expected_names, lookup) -> None:
        """``got`` (ids from a body) must be exactly the ids of ``expected_names``."""
        names = {str(lookup(name)): name for name in expected_names}
        got = [str(g) for g in got]
        if len(got) != len(set(got)):
            self.fail(label, f"duplicate rows: {got}")
        if set(got) != set(names):
            unknown = sorted(set(got) - set(names))
            self.fail(
                label, f"got {sorted(names.get(g, g) for g in got)}, expected {sorted(expected_names)}: {unknown}"
            )

    def done(self, expected_cells: int) -> None:
        assert not self.failures, f"{self.role}: {len(self.failures)} failing cells:\n  " + "\n  ".join(self.failures)
        assert self.cells == expected_cells, f"{self.role}: ran {self.cells} cells, the tables give {expected_cells}"


def forbidden_tokens(ev: Evidence, role: str) -> set[str]:
    """Strings that must never appear in a body ``role`` gets: markers and ids of what it may not read. An anonymous
    client may read nothing."""
    if role == "anonymous":
        everything = {f"[{key}]" for key in [*ev.world.objects, *ev.visits]} | set(ev.visits.values())
        everything |= set(ev.photos.values()) | {
            str(o.pk) for o in ev.world.objects.values() if isinstance(o.pk, uuid.UUID)
        }
        return everything
    tokens = set()
    for key, obj in ev.world.objects.items():
        if not may_read(role, key):
            tokens.add(f"[{key}]")
            if isinstance(obj.pk, uuid.UUID):
                tokens.add(str(obj.pk))
    readable = VISIBLE_VISITS[role] | ({"V_GONE"} if role in TOMBSTONE_READERS else set())
    for name, visit_id in ev.visits.items():
        if name not in readable:
            tokens |= {visit_id, f"[{name}]"}
    for name, photo_id in ev.photos.items():
        if PHOTOS[name] not in VISIBLE_VISITS[role]:
            tokens.add(photo_id)
    return tokens


# --- body decoders: (text to scan, parsed value) --------------------------------------------------------------


def parse_json(raw: bytes, _tmp=None):
    data = json.loads(raw) if raw else None
    return json.dumps(data, ensure_ascii=False), data


def parse_gis(suffix: str):
    def parse(raw: bytes, tmp_path: Path):
        path = tmp_path / f"{uuid.uuid4().hex}.{suffix}"
        path.write_bytes(raw)
        frame = pyogrio.read_dataframe(path)
        attributes = frame.drop(columns="geometry").to_json(
            force_ascii=False, orient="records", date_format="iso", default_handler=str
        )
        text = attributes + (raw.decode() if suffix in ("geojson", "kml") else "")
        return text, frame

    return parse


def parse_zip(raw: bytes, _tmp=None):
    archive = zipfile.ZipFile(io.BytesIO(raw))
    manifest = archive.read("manifest.csv").decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(manifest)))
    return manifest + "\n".join(archive.namelist()), rows


def parse_xlsx(raw: bytes, _tmp=None):
    book = openpyxl.load_workbook(io.BytesIO(raw), read_only=True)
    rows = [list(row) for sheet in book.worksheets for row in sheet.iter_rows(values_only=True)]
    return "\n".join(",".join("" if c is None else str(c) for c in row) for row in rows), rows


def parse_csv(raw: bytes, _tmp=None):
    text = raw.decode("utf-8-sig")
    return text, list(csv.reader(io.StringIO(text)))


def parse_image(content_type: str):
    def parse(raw: bytes, _tmp=None):
        Image.open(io.BytesIO(raw)).verify()
        return "", content_type  # pixels: nothing to scan

    return parse


def parse_png(raw: bytes, _tmp=None):
    assert raw.startswith(b"\x89PNG\r\n\x1a\n")
    return "", raw


# --- the test modules -----------------------------------------------------------------------------------------


def defined_tests(module: Path) -> set[str]:
    """The test functions a test module defines, read from its source (a test module is never imported)."""
    tree = ast.parse(module.read_text(encoding="utf-8"))
    return {n.name for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")}
