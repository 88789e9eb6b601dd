"""How far ahead a broadcast made now starts: far enough that every receiver has it, and its file.

Every receiver starts at one shared instant, so the instant must leave time for the slowest of
them: the controller publishes the targets' desired state once, the broker fans it out, each
receiver verifies and applies it and, for a library file not in its cache yet, downloads the
file from the controller. The fan-out and the downloads both grow with the number of receivers:
a commune's few dozen need only the configured floor (`broadcast_margin_ms`), a province's
thousands need more, in proportion. The rates are settings, measured for the machine that runs
the controller by benchmarks/fanout.py (docs/benchmarks.md).
"""

from __future__ import annotations

import math

from ..settings import Settings

MAX_MARGIN_MS = 600_000  # beyond ten minutes, an operator should schedule instead


def start_margin_ms(settings: Settings, receivers: int, file_bytes: int) -> int:
    """The margin for a broadcast reaching this many receivers, each perhaps downloading file_bytes."""
    fan_out_s = receivers * settings.broadcast_margin_per_receiver_ms / 1000
    downloads_s = 0.0
    if file_bytes:
        downloads_s = receivers / settings.media_downloads_per_s \
            + receivers * file_bytes / (settings.media_download_mb_per_s * 1_000_000)
    wanted = settings.broadcast_margin_ms + math.ceil((fan_out_s + downloads_s) * 1000)
    return min(MAX_MARGIN_MS, wanted)
