"""Every test module declares exactly one tier, and lives in that tier's folder.

`make test-fast` runs `-m unit` and `make test` runs `-m unit` then `-m e2e`: a module that declared no tier
would run in neither, one that declared both would run twice. The declaration is read from the source (ast),
so a module is checked without importing it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

TESTS = Path(__file__).resolve().parents[1]
TIERS = {"unit": TESTS / "unit", "e2e": TESTS / "e2e"}


def collected_files() -> list[Path]:
    """Every file pytest collects under tests/ (its default names: test_*.py and *_test.py)."""
    found = set(TESTS.rglob("test_*.py")) | set(TESTS.rglob("*_test.py"))
    return sorted(path for path in found if "__pycache__" not in path.parts)


def marker_names(node: ast.expr) -> list[str]:
    """The names of the `pytest.mark.NAME` (or `pytest.mark.NAME(...)`) in a `pytestmark` value."""
    if isinstance(node, ast.List | ast.Tuple):
        return [name for item in node.elts for name in marker_names(item)]
    if isinstance(node, ast.Call):
        node = node.func
    if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute)
            and node.value.attr == "mark"):
        return [node.attr]
    return []


def declared(tree: ast.Module) -> list[list[str]]:
    """The marker names of each module-level assignment to `pytestmark`."""
    values: list[ast.expr] = []
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets = [node.target]
        else:
            continue
        if any(isinstance(target, ast.Name) and target.id == "pytestmark" for target in targets):
            values.append(node.value)
    return [marker_names(value) for value in values]


def tier_of(path: Path) -> str | None:
    """The module's one tier, or None when it declares none, several, or declares `pytestmark` twice."""
    assignments = declared(ast.parse(path.read_text(), str(path)))
    if len(assignments) != 1:
        return None
    tiers = [name for name in assignments[0] if name in TIERS]
    return tiers[0] if len(tiers) == 1 else None


def test_the_tests_are_found() -> None:
    modules = collected_files()
    assert any(path.is_relative_to(TIERS["unit"]) for path in modules)
    assert any(path.is_relative_to(TIERS["e2e"]) for path in modules)
    assert Path(__file__).resolve() in modules


def test_every_test_module_declares_exactly_one_tier() -> None:
    wrong = [str(path.relative_to(TESTS.parent)) for path in collected_files() if tier_of(path) is None]
    assert not wrong, (
        "each test module needs one module-level `pytestmark = pytest.mark.unit` or `pytest.mark.e2e` "
        f"(or a list holding exactly one of them): {wrong}")


def test_each_tier_lives_in_its_folder() -> None:
    misplaced = [f"{path.relative_to(TESTS.parent)} is {tier}"
                 for path in collected_files()
                 if (tier := tier_of(path)) is not None and not path.is_relative_to(TIERS[tier])]
    assert not misplaced, f"unit modules belong under tests/unit, e2e ones under tests/e2e: {misplaced}"


def test_no_test_marks_a_tier_of_its_own() -> None:
    """A tier marker on a function or class would put that test in a second tier, run twice."""
    doubled = []
    for path in collected_files():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                continue
            names = [name for decorator in node.decorator_list for name in marker_names(decorator)]
            if any(name in TIERS for name in names):
                doubled.append(f"{path.relative_to(TESTS.parent)}::{node.name}")
    assert not doubled, f"the tier is the module's, not the test's: {doubled}"


@pytest.mark.parametrize(("source", "tier"), [
    ("pytestmark = pytest.mark.unit", "unit"),
    ("pytestmark = [pytest.mark.e2e, pytest.mark.sounds]", "e2e"),
    ("pytestmark: list[pytest.MarkDecorator] = [pytest.mark.skipif(True, reason='x'), pytest.mark.unit]",
     "unit"),
    ("", None),
    ("pytestmark = pytest.mark.sounds", None),
    ("pytestmark = [pytest.mark.unit, pytest.mark.e2e]", None),
    ("pytestmark = pytest.mark.unit\npytestmark = pytest.mark.unit", None),
    ("def test_x():\n    pytestmark = pytest.mark.unit", None),
])
def test_a_module_has_a_tier_when_it_names_exactly_one(tmp_path: Path, source: str, tier: str | None) -> None:
    module = tmp_path / "test_example.py"
    module.write_text(f"import pytest\n\n{source}\n")
    assert tier_of(module) == tier
