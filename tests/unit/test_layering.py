"""The layering: `shared/` is the contracts and thin adapters every service uses and imports no
service; a service talks to another only through events, so it imports none of another's code;
nothing in either imports the composition root (`lapor_hub`) or the development helpers. Read
with `ast`, so an import inside a function counts too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from services.router.domain import load_routing_table
from shared.agencies import agency_names, districts, region_names

ROOT = Path(__file__).resolve().parents[2]
SERVICES = sorted(p.name for p in (ROOT / "services").iterdir() if (p / "__init__.py").exists())
NEVER_IMPORTED = ("lapor_hub", "testkit", "tests", "bench")


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            found.append((node.lineno, "<relative>"))
    return found


def _top(module: str, depth: int) -> str:
    return ".".join(module.split(".")[:depth])


def _violations(folder: Path, allowed: set[str], root: Path = ROOT) -> list[str]:
    """Each import of lapor-hub's own code from outside `allowed` (package prefixes)."""
    ours = {"shared", "services", *NEVER_IMPORTED}
    problems = []
    for path in sorted(folder.rglob("*.py")):
        for line, module in _imports(path):
            if module == "<relative>":
                problems.append(f"{path.relative_to(root)}:{line}: a relative import")
                continue
            if module.split(".")[0] not in ours:
                continue
            if module == "services" or not any(
                module == prefix or module.startswith(prefix + ".") for prefix in allowed
            ):
                problems.append(f"{path.relative_to(root)}:{line}: imports {module}")
    return problems


def test_shared_imports_no_service() -> None:
    assert _violations(ROOT / "shared", {"shared"}) == []


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_imports_no_other_service(service: str) -> None:
    assert _violations(ROOT / "services" / service, {"shared", f"services.{service}"}) == []


def test_the_walk_sees_an_import_inside_a_function(tmp_path: Path) -> None:
    (tmp_path / "late.py").write_text("def f():\n    from services.router import domain\n")
    assert _imports(tmp_path / "late.py") == [(2, "services.router")]
    assert _violations(tmp_path, {"shared"}, tmp_path) == ["late.py:2: imports services.router"]


def test_the_routing_table_names_the_agencies_and_places_every_service_knows() -> None:
    table = load_routing_table()
    assert {a.code: a.name for a in table.agencies} == agency_names()
    assert {r.code: r.name for r in table.regions} == region_names()
    assert {(d.code, d.region, d.name) for d in table.districts} == {
        (d.code, d.region_code, d.name) for d in districts()
    }
