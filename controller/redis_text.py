"""Redis replies as text.

redis-py types its replies `bytes | str` because a client may be made with
decode_responses; the controller's client is not, so they arrive as bytes.
"""

from __future__ import annotations


def text(value: bytes | str) -> str:
    """A Redis reply (bytes, or str from a client with decode_responses) as str."""
    return value.decode() if isinstance(value, bytes) else value
