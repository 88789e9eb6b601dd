"""Canonical JSON: the exact bytes that signatures cover."""

from __future__ import annotations

import json
from typing import Any


def canonical_json(value: Any) -> bytes:
    """Serialise value with sorted keys, no whitespace and ASCII escapes, so both sides agree."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    ).encode("ascii")
