"""Every stable error code the controller raises has the console's own sentence, in Vietnamese and
in English (controller/web/js/errors.js)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]
RAISED = re.compile(r'(?:Refused|\w+Error|super\(\)\.__init__)\(\s*"([a-z_]+)"')


def test_each_error_code_is_said_in_both_languages() -> None:
    sources = (path.read_text() for path in (ROOT / "controller").rglob("*.py"))
    codes = {code for source in sources for code in RAISED.findall(source)}
    assert len(codes) > 20, codes
    table = (ROOT / "controller" / "web" / "js" / "errors.js").read_text()
    vietnamese, english = table.split("\n  en: {\n")
    for code in sorted(codes):
        assert f"err_{code}:" in vietnamese, f"no Vietnamese sentence for {code}"
        assert f"err_{code}:" in english, f"no English sentence for {code}"


def test_a_failed_jobs_error_code_is_said_in_both_languages() -> None:
    from controller.jobs import INTERRUPTED

    table = (ROOT / "controller" / "web" / "js" / "errors.js").read_text()
    vietnamese, english = table.split("\n  en: {\n")
    assert f"err_{INTERRUPTED}:" in vietnamese and f"err_{INTERRUPTED}:" in english
