"""The documentation that is generated or promised stays true."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from loalang_stack.settings_doc import render

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


def test_configuration_reference_matches_the_settings() -> None:
    written = (ROOT / "docs" / "configuration.md").read_text()
    assert written == render(), "run: .venv/bin/python -m loalang_stack.settings_doc > docs/configuration.md"


def test_readme_starts_with_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text().splitlines()
    commands = [line.split("#")[0].strip() for line in readme[:12] if line.startswith("make ")]
    assert commands == ["make demo", "make test"]


def test_every_doc_the_readme_links_exists() -> None:
    readme = (ROOT / "README.md").read_text()
    for name in ("architecture", "protocol", "security", "operations", "benchmarks", "configuration"):
        if f"docs/{name}.md" in readme:
            assert (ROOT / "docs" / f"{name}.md").exists(), name


def test_every_test_the_security_table_names_exists() -> None:
    written = (ROOT / "docs" / "security.md").read_text()
    named = re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", written)
    assert len(named) >= 40, "the table names the tests that prove each defence"
    for path, name in named:
        source = ROOT / path
        assert source.is_file(), f"docs/security.md names {path}, which is gone"
        assert f"def {name}(" in source.read_text(), f"docs/security.md names {path}::{name}, which is gone"
