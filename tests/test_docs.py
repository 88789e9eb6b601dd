"""The documentation that is generated or promised stays true."""

from __future__ import annotations

from pathlib import Path

from loalang_stack.settings_doc import render

ROOT = Path(__file__).resolve().parent.parent


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
