"""The house's one rule: imports point one way.

`simulators` import nothing of the project; `bus` (contract, transport, recording) imports only
itself; adapters and the fusion engine import `bus` (and themselves) only; the runnable nodes may
import everything. Read from the source with `ast`, so a lazy import inside a function counts too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OURS = ("bus", "adapters", "simulators", "fusion", "nodes")
ALLOWED = {
    "simulators": {"simulators"},
    "bus": {"bus"},
    "adapters": {"bus", "adapters"},
    "fusion": {"bus", "fusion"},
    "nodes": set(OURS),
}


def _imported_packages(path: Path) -> set[tuple[int, str]]:
    """(line, top-level package) of every absolute import of ours in one file."""
    found: set[tuple[int, str]] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found.update((node.lineno, name.split(".")[0]) for name in names if name.split(".")[0] in OURS)
    return found


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_imports_point_one_way(layer: str) -> None:
    arrows_up = [
        f"{path.relative_to(ROOT)}:{line} imports {package}"
        for path in sorted((ROOT / layer).rglob("*.py"))
        for line, package in sorted(_imported_packages(path))
        if package not in ALLOWED[layer]
    ]
    assert arrows_up == [], f"{layer} may import only {sorted(ALLOWED[layer])}"


def test_every_package_has_a_layer() -> None:
    packages = {path.parent.name for path in ROOT.glob("*/__init__.py")} - {"tests"}
    assert packages == set(ALLOWED)
