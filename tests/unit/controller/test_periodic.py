"""A periodic check keeps running through failures: logged once each, quiet kinds not at all."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from controller.periodic import every

pytestmark = pytest.mark.unit


def test_a_failing_step_is_logged_and_tried_again_and_quiet_failures_are_not_logged(
        caplog: pytest.LogCaptureFixture) -> None:
    rounds: list[int] = []

    async def step() -> None:
        rounds.append(len(rounds))
        raise (ConnectionError if len(rounds) % 2 else ValueError)("down")

    async def run() -> None:
        task = asyncio.create_task(every(0.01, step, "the test check", quiet=(ConnectionError,)))
        while len(rounds) < 4:
            await asyncio.sleep(0.01)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(run())
    logged = [r.getMessage() for r in caplog.records]
    assert len(rounds) >= 4, "it went on after each failure"
    assert logged and all(m == "the test check failed; trying again" for m in logged)
    assert len(logged) == len(rounds) // 2, "only the ValueErrors were logged"
