"""Timeouts are written with `asyncio.timeout`, never `asyncio.wait_for`.

On Python 3.11 `asyncio.wait_for` drops a cancellation that arrives just as the awaited thing
completes: the task goes on as if it had not been cancelled. A live session stopped while its
microphone's next block was ready ran on until the microphone hung up (seen under load; the
session test in tests/unit/controller/test_live_sessions.py shows it at the first stop). The
`asyncio.timeout` context manager keeps the cancellation.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("controller", "receiver_agent", "loalang_protocol", "loalang_stack", "benchmarks")


def wait_for_calls(path: Path) -> list[int]:
    """Lines that call asyncio.wait_for (or wait_for imported from asyncio)."""
    tree = ast.parse(path.read_text(), str(path))
    imported = any(isinstance(node, ast.ImportFrom) and node.module == "asyncio"
                   and any(alias.name == "wait_for" for alias in node.names) for node in ast.walk(tree))
    return [node.lineno for node in ast.walk(tree)
            if isinstance(node, ast.Call) and _is_wait_for(node.func, imported)]


def _is_wait_for(called: ast.expr, imported: bool) -> bool:
    if isinstance(called, ast.Attribute):
        module = called.value
        return called.attr == "wait_for" and isinstance(module, ast.Name) and module.id == "asyncio"
    return imported and isinstance(called, ast.Name) and called.id == "wait_for"


def test_no_code_waits_with_asyncio_wait_for() -> None:
    found = [f"{path.relative_to(ROOT)}:{line}" for folder in SOURCES
             for path in sorted((ROOT / folder).rglob("*.py")) for line in wait_for_calls(path)]
    assert found == [], f"use `async with asyncio.timeout(...)` instead: {found}"


def test_the_check_sees_both_spellings(tmp_path: Path) -> None:
    module = tmp_path / "module.py"
    module.write_text("import asyncio\nfrom asyncio import wait_for\n\n"
                      "async def f(e):\n"
                      "    await asyncio.wait_for(e.wait(), 1)\n"
                      "    await wait_for(e.wait(), 1)\n")
    assert wait_for_calls(module) == [5, 6]
