"""One background loop for the controller's periodic checks: run a step every interval, forever."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


async def every(interval_s: float, step: Callable[[], Awaitable[object]], what: str,
                quiet: tuple[type[BaseException], ...] = ()) -> None:
    """Sleep interval_s, then run step, forever; never raises. A failure is logged ("what failed;
    trying again") and the next round tries again; those of the quiet kinds (told elsewhere, such as
    Redis being gone) are passed over in silence."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            await step()
        except quiet:
            pass
        except Exception:
            log.exception("%s failed; trying again", what)
