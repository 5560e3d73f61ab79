"""The layer rules of docs/architecture.md, checked on the source: which package may import which.

- a resource's views (``agri/api/*_views.py``) import the API's floor, serializers and services/selectors, never
  another views module;
- nothing under ``agri/`` outside ``agri/api/`` imports DRF or drf-spectacular (domain code raises
  ``agri.errors``; the API maps them to HTTP), nor ``agri.api`` itself. The one exception is knox's token
  model base class;
- ``geo`` is a library: it imports nothing from ``agri`` or ``api_docs``.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DRF_PACKAGES = ("rest_framework", "drf_spectacular", "knox")
ALLOWED_DRF = {("agri/models/accounts.py", "knox.models")}  # a model base class: the token table


def imports(path: Path) -> list[str]:
    """Every module ``path`` imports, at any depth (functions included), as absolute dotted names."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
            found += [f"{node.module}.{alias.name}" for alias in node.names]
    return found


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def python_files(folder: str) -> list[Path]:
    return sorted(p for p in (ROOT / folder).rglob("*.py") if "migrations" not in p.parts)


def is_views_module(name: str) -> bool:
    last = name.split(".")[-1]
    return name.startswith("agri.api.") and (last == "views" or last.endswith("_views"))


@pytest.mark.parametrize("path", sorted((ROOT / "agri" / "api").glob("*_views.py")), ids=rel)
def test_a_views_module_imports_no_other_views_module(path):
    own = f"agri.api.{path.stem}"
    offending = sorted(name for name in imports(path) if is_views_module(name) and not name.startswith(own))
    assert offending == [], f"{rel(path)} imports views modules"


@pytest.mark.parametrize(
    "path", [p for p in python_files("agri") if "api" not in p.relative_to(ROOT / "agri").parts[:1]], ids=rel
)
def test_only_the_api_package_imports_drf(path):
    offending = sorted(
        name
        for name in imports(path)
        if name.split(".")[0] in DRF_PACKAGES
        and not any(rel(path) == where and (name + ".").startswith(allowed + ".") for where, allowed in ALLOWED_DRF)
    )
    assert offending == [], f"{rel(path)} imports DRF outside agri/api"


@pytest.mark.parametrize(
    "path", [p for p in python_files("agri") if "api" not in p.relative_to(ROOT / "agri").parts[:1]], ids=rel
)
def test_the_domain_does_not_import_the_api(path):
    """Models, services, selectors, imaging and the rest of agri know nothing of the API built on them."""
    offending = sorted(name for name in imports(path) if name == "agri.api" or name.startswith("agri.api."))
    assert offending == [], f"{rel(path)} imports from agri/api"


@pytest.mark.parametrize("path", python_files("geo"), ids=rel)
def test_geo_imports_nothing_from_agri(path):
    offending = sorted(name for name in imports(path) if name.split(".")[0] in ("agri", "api_docs"))
    assert offending == [], f"{rel(path)} imports from agri"


def test_the_rules_see_an_offending_import(tmp_path):
    """The checks read what they claim to: a module importing a views module and DRF is caught."""
    module = tmp_path / "sample.py"
    module.write_text(
        "from agri.api.visit_views import VisitFilterSet\n"
        "def f():\n    from rest_framework.exceptions import APIException\n",
        encoding="utf-8",
    )
    names = imports(module)
    assert any(is_views_module(name) for name in names)
    assert any(name.split(".")[0] in DRF_PACKAGES for name in names)
