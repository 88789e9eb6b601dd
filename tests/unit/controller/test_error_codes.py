"""Every stable error code the API can return has the console's own sentence, in Vietnamese and in
English (controller/web/js/errors.js), and the Vietnamese sentence has no English word in it.

The codes are collected from the source: the first argument of every DomainError (and of its
subclasses, JobFailed and MediaRejected) raised in controller/, plus the codes of the API's error
handlers, the device refusals and the job states.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.api.error_answers import handler_codes
from controller.jobs import INTERNAL_ERROR, INTERRUPTED
from loalang_protocol.http_auth import Refusal
from tests.console_words import english_in, sentences

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]
CODE = re.compile(r"[a-z][a-z0-9_]+")


def _trees() -> list[ast.AST]:
    return [ast.parse(path.read_text()) for path in (ROOT / "controller").rglob("*.py")]


def error_classes(trees: list[ast.AST]) -> set[str]:
    """DomainError, the classes derived from it, and JobFailed (a job's error code)."""
    found = {"DomainError", "JobFailed"}
    classes = [node for tree in trees for node in ast.walk(tree) if isinstance(node, ast.ClassDef)]
    while True:
        more = {c.name for c in classes if any(isinstance(b, ast.Name) and b.id in found for b in c.bases)}
        if more <= found:
            return found
        found |= more


def _callee(node: ast.Call, classes: set[str]) -> bool:
    """Whether a call builds an error that carries a code: an error class, or super().__init__ in one."""
    function = node.func
    if isinstance(function, ast.Name):
        return function.id in classes
    return isinstance(function, ast.Attribute) and function.attr == "__init__" \
        and isinstance(function.value, ast.Call) and isinstance(function.value.func, ast.Name) \
        and function.value.func.id == "super"


def _first_argument_strings(node: ast.Call) -> Iterator[str]:
    if not node.args:
        return
    for part in ast.walk(node.args[0]):
        if isinstance(part, ast.Constant) and isinstance(part.value, str) and CODE.fullmatch(part.value):
            yield part.value


def raised_codes() -> set[str]:
    """Codes given as the first argument of an error class's constructor (or its super().__init__)."""
    trees = _trees()
    classes = error_classes(trees)
    calls = [node for tree in trees for node in ast.walk(tree) if isinstance(node, ast.Call)]
    return {code for call in calls if _callee(call, classes) for code in _first_argument_strings(call)}


def every_code() -> set[str]:
    """Every code the API can return."""
    device_refusals = {refusal.value for refusal in Refusal}
    return raised_codes() | handler_codes() | device_refusals | {INTERRUPTED, INTERNAL_ERROR}


def test_the_collection_finds_the_codes_of_every_kind_of_error() -> None:
    codes = every_code()
    assert {"wrong_login", "confirmation_wrong", "unknown_area", "bad_id", "invalid_input", "not_found",
            "internal_error", "media_damaged", "device_signature_invalid", "job_interrupted"} <= codes
    assert len(codes) > 100, sorted(codes)


@pytest.mark.parametrize("code", sorted(every_code()))
def test_each_error_code_is_said_in_both_languages(code: str) -> None:
    vietnamese, english = sentences()
    assert vietnamese.get(code), f"no Vietnamese sentence for {code}"
    assert english.get(code), f"no English sentence for {code}"


def test_no_vietnamese_sentence_has_an_english_word() -> None:
    vietnamese, _ = sentences()
    found = {code: english_in(text) for code, text in vietnamese.items()}
    assert {code: words for code, words in found.items() if words} == {}


def test_the_check_would_see_an_english_word() -> None:
    assert english_in("Không đăng nhập được: wrong user name or password") == ["wrong", "user", "name", "or",
                                                                                 "password"]
    assert english_in("Lỗi: confirm the emergency with your password (confirm_password)")


def test_the_errors_page_lists_every_code() -> None:
    written = (ROOT / "docs" / "errors.md").read_text()
    assert [code for code in sorted(every_code()) if f"| `{code}` |" not in written] == []
