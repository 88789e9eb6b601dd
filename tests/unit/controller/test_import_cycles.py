"""The controller's modules import each other without a circle (the airtime service, live sessions,
desired state and the service container once formed one)."""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path, modules: set[str]) -> set[str]:
    """The project modules a file imports at its top level, those for type checking included (a
    circle that only the type checker sees is still a circle to a reader)."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rsplit(".", 1)[0]
    found = set()
    tree = ast.parse(path.read_text())
    top = [*tree.body, *(child for node in tree.body if isinstance(node, ast.If) for child in node.body)]
    for node in top:
        if not isinstance(node, ast.ImportFrom):
            continue
        base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1]) if node.level else ""
        target = ".".join(filter(None, (base, node.module)))
        for alias in node.names:
            candidate = f"{target}.{alias.name}"
            found.add(candidate if candidate in modules else target)
    return found & modules


def test_the_controller_has_no_import_cycle() -> None:
    files = sorted((ROOT / "controller").rglob("*.py"))
    modules = {module_name(path) for path in files}
    graph = {module_name(path): imported(path, modules) - {module_name(path)} for path in files}
    try:
        TopologicalSorter(graph).prepare()
    except CycleError as cycle:
        raise AssertionError(f"import cycle: {' -> '.join(cycle.args[1])}") from None
