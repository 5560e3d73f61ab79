"""The test suite's own layout: a test module never imports another test module or a conftest.

What two test modules share lives in a conftest.py (fixtures) or a support module (plain helpers and tables):
importing a test module runs its module-level code a second time under another name and ties the two modules'
tests together; importing a conftest bypasses pytest, which loads it by itself.
"""

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
IMPORTERS = ("import_module", "__import__")


def _is_forbidden(dotted: str) -> bool:
    """Whether a dotted module name ends in a test module or a conftest."""
    last = dotted.rsplit(".", 1)[-1]
    return last == "conftest" or last.startswith("test_")


def _package_of(path: Path, level: int) -> str:
    """The package a relative import of ``level`` dots in ``path`` starts from."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[: len(parts) - level])


def _is_package(dotted: str) -> bool:
    return (ROOT / Path(*dotted.split("."))).is_dir() if dotted else True


def forbidden_imports(path: Path, source: str | None = None) -> list[str]:
    """Every import in ``path`` (or in ``source``, read as if it were that file) of a module named ``test_*`` or
    ``conftest``, as ``line: module``, in the order of the lines."""
    found = []
    source = path.read_text(encoding="utf-8") if source is None else source
    for node in ast.walk(ast.parse(source, filename=str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = _package_of(path, node.level)
                base = f"{package}.{base}" if base else package
            names = [base]
            if _is_package(base):  # ``from tests.agri.api import test_visits`` names modules
                names += [f"{base}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in IMPORTERS and node.args and isinstance(node.args[0], ast.Constant):
                names = [str(node.args[0].value)]
        found += [(node.lineno, name) for name in names if _is_forbidden(name)]
    return [f"{line}: {name}" for line, name in sorted(set(found))]


def python_files() -> list[Path]:
    return sorted(p for p in TESTS.rglob("*.py") if ".venv" not in p.parts)


def test_the_checker_finds_every_form_of_import():
    """The check itself: each way of importing a test module or a conftest is caught, plain helpers are not."""
    package = TESTS / "agri" / "api"
    sample = package / "sample_for_the_layout_check.py"  # never written: the text below is parsed as if it were
    source = "\n".join(
        [
            "import tests.agri.api.test_visits",
            "from tests.agri.api import test_visits",
            "from tests.agri.api.test_visits import visit",
            "from tests.conftest import login",
            "from . import test_coverage",
            "from .test_coverage import push",
            "from ..conftest import mapped_world",
            "importlib.import_module('tests.agri.api.test_visits')",
            "from tests.support import login",
            "from tests.agri.map_support import visit",
            "import pytest",
        ]
    )
    assert forbidden_imports(sample, source) == [
        "1: tests.agri.api.test_visits",
        "2: tests.agri.api.test_visits",
        "3: tests.agri.api.test_visits",
        "4: tests.conftest",
        "5: tests.agri.api.test_coverage",
        "6: tests.agri.api.test_coverage",
        "7: tests.agri.conftest",
        "8: tests.agri.api.test_visits",
    ]


def test_no_test_module_imports_a_test_module_or_a_conftest():
    """Every Python file under tests/ (test modules, conftests and support modules alike)."""
    files = python_files()
    assert any(p.name == "test_visits.py" for p in files) and len(files) > 40
    offenders = {str(p.relative_to(ROOT)): found for p in files if (found := forbidden_imports(p))}
    assert not offenders, "move what is shared into a conftest.py or a support module:\n" + "\n".join(
        f"  {path}: {', '.join(found)}" for path, found in sorted(offenders.items())
    )
