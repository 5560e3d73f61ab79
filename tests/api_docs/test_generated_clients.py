"""Clients generated from the schema, the way a mobile or web developer makes them, build and run against a live server.

- Python: ``openapi-python-client`` (requirements-dev.txt) with clients/openapi-python-client.yaml, 0 warnings, in
  either language of the schema; then the generated package logs in, lists households, creates a base and a visit,
  and pulls.
- TypeScript: ``openapi-typescript`` types and ``openapi-fetch`` calls (clients/ts, ``npm ci``), compiled with
  ``tsc --strict``, run with node. Without node or clients/ts/node_modules these tests are skipped, and say why,
  unless ``REQUIRE_NODE=1`` (set by ``.ci/run``, which runs ``npm ci``): then they fail.

Everything generated goes to a temporary directory.
"""

import ast
import datetime
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.utils import translation
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer

from tests import factories as f
from tests.support import build_world

ROOT = Path(__file__).resolve().parents[2]
PYTHON_CONFIG = ROOT / "clients" / "openapi-python-client.yaml"
TS_PROJECT = ROOT / "clients" / "ts"
BIN = Path(sys.executable).parent
PACKAGE = "nongji_api_client"

# The operations that answer with bytes: each one's generated function gives a File.
BINARY_OPERATIONS = [
    "coverage/coverage_map_png_retrieve",
    "exports/exports_photos_retrieve",
    "photos/photos_display_retrieve",
    "photos/photos_original_retrieve",
    "photos/photos_thumbnail_retrieve",
]


def write_schema(directory: Path, language: str) -> Path:
    """The schema as GET /api/schema/ serves it in ``language``."""
    with translation.override(language):
        schema = SchemaGenerator().get_schema(request=None, public=True)
    path = directory / f"schema.{language}.json"
    path.write_bytes(OpenApiJsonRenderer().render(schema, renderer_context={}))
    return path


def generate_python(schema: Path, out: Path) -> str:
    """openapi-python-client's output (the generator's own ruff hook formats the code: ruff is in the venv)."""
    result = subprocess.run(
        [BIN / "openapi-python-client", "generate", "--path", schema, "--output-path", out, "--config", PYTHON_CONFIG],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"},
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return output


def identifiers(package: Path) -> set[str]:
    """Every name the generated Python code defines or uses."""
    names = set()
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                names.add(node.name)
            elif isinstance(node, ast.arg):
                names.add(node.arg)
            elif isinstance(node, ast.Name):
                names.add(node.id)
            elif isinstance(node, ast.Attribute):
                names.add(node.attr)
    return names


@pytest.fixture(scope="module")
def python_clients(tmp_path_factory, django_db_blocker) -> dict[str, tuple[Path, str]]:
    """language -> (the generated project's directory, the generator's output)."""
    out = {}
    with django_db_blocker.unblock():
        for language in ("en", "zh-hans"):
            directory = tmp_path_factory.mktemp(f"python-{language}")
            project = directory / "client"
            out[language] = project, generate_python(write_schema(directory, language), project)
    return out


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_openapi_python_client_generates_everything_without_a_warning(python_clients, language):
    project, output = python_clients[language]
    assert not re.search(r"warning|error", output, re.IGNORECASE), output
    package = project / PACKAGE
    models = (package / "models" / "__init__.py").read_text(encoding="utf-8")
    for model in ["DemonstrationBase", "DemonstrationBaseRequest", "PolygonGeometry", "MultiPolygonGeometry", "Error"]:
        assert re.search(rf"\b{model}\b", models), model
    for operation in BINARY_OPERATIONS:
        source = (package / "api" / f"{operation}.py").read_text(encoding="utf-8")
        assert re.search(r"response_200 = File\(", source), operation
    for operation in ["demonstration_bases_create", "uploads_create", "uploads_partial_update"]:
        assert list(package.rglob(f"{operation}.py")), operation


def test_the_generated_python_names_are_ascii_and_the_same_in_both_languages(python_clients):
    trees = {}
    for language, (project, _output) in python_clients.items():
        package = project / PACKAGE
        files = sorted(path.relative_to(package).as_posix() for path in package.rglob("*.py"))
        assert all(name.isascii() for name in files), [name for name in files if not name.isascii()]
        names = identifiers(package)
        assert [name for name in names if not name.isascii()] == []
        trees[language] = files, names
    assert trees["en"] == trees["zh-hans"]


@pytest.fixture
def client_package(python_clients):
    """The generated package (English schema), importable for one test."""
    project = python_clients["en"][0]
    sys.path.insert(0, str(project))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(project))
        for name in [name for name in sys.modules if name == PACKAGE or name.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


def test_the_generated_python_client_logs_in_lists_creates_and_pulls(client_package, live_server):
    world = build_world()
    api = importlib.import_module(f"{PACKAGE}.api")
    models = importlib.import_module(f"{PACKAGE}.models")
    Client = client_package.Client
    AuthenticatedClient = client_package.AuthenticatedClient
    login = importlib.import_module(f"{api.__name__}.auth.auth_login_create")
    households_list = importlib.import_module(f"{api.__name__}.model_households.model_households_list")
    base_create = importlib.import_module(f"{api.__name__}.demonstration_bases.demonstration_bases_create")
    visit_create = importlib.import_module(f"{api.__name__}.visits.visits_create")
    visit_retrieve = importlib.import_module(f"{api.__name__}.visits.visits_retrieve")
    pull = importlib.import_module(f"{api.__name__}.sync.sync_retrieve")
    english = {"Accept-Language": "en"}

    # A refused login is a typed Error, not an exception.
    anonymous = Client(base_url=live_server.url, headers=english, raise_on_unexpected_status=True)
    refused = login.sync(client=anonymous, body=models.LoginRequest(username="admin", password="wrong"))
    assert isinstance(refused, models.Error)
    assert refused.code == "invalid_credentials"

    def log_in(username):
        token = login.sync(client=anonymous, body=models.LoginRequest(username=username, password=f.PASSWORD))
        assert isinstance(token, models.Token), token
        return AuthenticatedClient(
            base_url=live_server.url,
            token=token.token,
            prefix="Token",
            headers=english,
            raise_on_unexpected_status=True,
        )

    bureau = log_in("admin")
    households = households_list.sync(client=bureau, page_size=50)
    assert isinstance(households, models.PaginatedModelHouseholdList), households
    expected = {str(world[h].id) for h in ("H1", "H2", "H3")}
    assert {str(h.id) for h in households.results} == expected

    ring = [[108.758, 30.948], [108.762, 30.948], [108.762, 30.952], [108.758, 30.952], [108.758, 30.948]]
    base = base_create.sync(
        client=bureau,
        body=models.DemonstrationBaseRequest(
            name="Python 示范基地",
            industry="citrus",
            lat=30.95,
            lon=108.76,
            village_code=world.divisions["v1"].code,
            area_mu="12.50",
            status=models.BaseStatusEnum.CERTIFIED,
            certified_on=datetime.date(2026, 3, 1),
            parcel=models.PolygonGeometryRequest(type_=models.PolygonTypeEnum.POLYGON, coordinates=[ring]),
        ),
    )
    assert isinstance(base, models.DemonstrationBase), base
    assert isinstance(base.parcel, models.PolygonGeometry)
    assert base.parcel.coordinates == [ring]

    field = log_in("worker")
    visit_id = uuid.uuid4()
    visit = visit_create.sync(
        client=field,
        body=models.VisitWriteRequest(
            id=visit_id,
            kind=models.KindEnum.GUIDANCE,
            industry="citrus",
            household=world["H1"].id,
            started_at=datetime.datetime.fromisoformat("2026-03-14T09:30:00+08:00"),
            lat=30.95614,
            lon=108.76893,
            notes="Python",
        ),
    )
    assert isinstance(visit, models.Visit), visit
    assert visit.id == visit_id
    missing = visit_retrieve.sync(client=field, id=uuid.UUID(int=0))
    assert isinstance(missing, models.Error)
    assert missing.code == "not_found"

    # A first pull pages with sync_token to the end; the next one, with the last token, has only what changed since.
    seen, token, pages = set(), None, 0
    while True:
        page = pull.sync(client=field, page_size=5, **({"sync_token": token} if token else {}))
        assert isinstance(page, models.SyncPage), page
        pages += 1
        seen |= {(record.type_.value, str(record.id)) for record in page.results}
        token = page.sync_token
        if page.next_ is None:
            break
    assert pages > 1
    assert ("visit", str(visit_id)) in seen
    assert ("base", str(base.id)) in seen
    assert ("household", str(world["H1"].id)) in seen
    assert ("household", str(world["H2"].id)) not in seen  # another township's
    again = pull.sync(client=field, sync_token=token)
    assert isinstance(again, models.SyncPage)
    assert again.results == []


def _node_or_skip() -> Path:
    reasons = []
    if shutil.which("node") is None:
        reasons.append("node is not installed")
    if not (TS_PROJECT / "node_modules" / ".bin" / "tsc").exists():
        reasons.append("clients/ts has no node_modules: run `npm ci` there")
    if reasons:
        reason = "; ".join(reasons)
        if os.environ.get("REQUIRE_NODE") == "1":
            pytest.fail(f"REQUIRE_NODE=1 but {reason}")
        pytest.skip(reason)
    return TS_PROJECT / "node_modules" / ".bin"


@pytest.fixture(scope="module")
def ts_program(tmp_path_factory, django_db_blocker) -> Path:
    """clients/ts compiled with `tsc --strict` against types generated from the schema, in a temporary directory:
    the JavaScript to run."""
    bin_ = _node_or_skip()
    work = tmp_path_factory.mktemp("ts")
    shutil.copytree(TS_PROJECT / "src", work / "src", ignore=shutil.ignore_patterns("schema.d.ts"))
    shutil.copy(TS_PROJECT / "tsconfig.json", work)
    shutil.copy(TS_PROJECT / "package.json", work)
    (work / "node_modules").symlink_to(TS_PROJECT / "node_modules", target_is_directory=True)
    with django_db_blocker.unblock():
        schema = write_schema(work, "zh-hans")
    generate = subprocess.run(
        [bin_ / "openapi-typescript", schema, "--default-non-nullable", "false", "-o", work / "src" / "schema.d.ts"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=work,
    )
    assert generate.returncode == 0, generate.stdout + generate.stderr
    assert not re.search(r"warn|error", generate.stdout + generate.stderr, re.IGNORECASE), generate.stderr
    build = subprocess.run(
        [bin_ / "tsc", "-p", "tsconfig.json", "--strict"], capture_output=True, text=True, timeout=300, cwd=work
    )
    assert build.returncode == 0, build.stdout + build.stderr
    return work / "build" / "main.js"


def test_the_typescript_client_compiles_strictly_and_runs_against_a_live_server(ts_program, live_server):
    world = build_world()
    visit_id = str(uuid.uuid4())
    run = subprocess.run(
        ["node", ts_program, live_server.url, "admin", "worker", f.PASSWORD, str(world["H1"].id), visit_id],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    steps = {line["step"]: line for line in map(json.loads, run.stdout.splitlines())}
    assert steps["refused"] == {"step": "refused", "status": 400, "code": "invalid_credentials"}
    assert steps["login"]["role"] in ("bureau_admin", "worker")
    assert sorted(steps["households"]["ids"]) == sorted(str(world[h].id) for h in ("H1", "H2", "H3"))
    assert steps["households"]["count"] == 3
    assert steps["base"]["parcel_type"] == "Polygon"
    assert steps["visit"] == {"step": "visit", "id": visit_id, "kind": "guidance"}
    assert steps["missing"] == {"step": "missing", "status": 404, "code": "not_found"}
    records = set(steps["pull"]["records"])
    assert steps["pull"]["pages"] > 1
    assert {f"visit:{visit_id}", f"base:{steps['base']['id']}", f"household:{world['H1'].id}"} <= records
    assert f"household:{world['H2'].id}" not in records
    assert steps["pull again"]["records"] == []
