"""Password hashing with argon2id, run in a small pool of worker threads off the event loop.

argon2 is slow on purpose and releases the GIL while it works; in the pool, a flood of login
attempts waits its turn there instead of stalling live audio, the feed and every other request.
"""

from __future__ import annotations

import asyncio
import functools
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
# Two workers: this project's machines have two cores, and the event loop needs one of them.
_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="argon2")


def hash_password(password: str) -> str:
    """Hash a password for storage."""
    return _hasher.hash(password)


@functools.cache
def _dummy_hash() -> str:
    """A valid hash of a random password, so that unknown users cost as much time as known ones; made
    at the first login, not at import (every command of the controller imports this module)."""
    return _hasher.hash("not-a-user-password-0f3c")


def verify_password(stored_hash: str | None, password: str) -> bool:
    """True when password matches stored_hash; takes the same time when there is no user."""
    try:
        return _hasher.verify(stored_hash or _dummy_hash(), password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


async def hash_in_pool(password: str) -> str:
    """hash_password, in the worker pool."""
    return await asyncio.get_running_loop().run_in_executor(_POOL, hash_password, password)


async def verify_in_pool(stored_hash: str | None, password: str) -> bool:
    """verify_password, in the worker pool (excess calls queue there)."""
    return await asyncio.get_running_loop().run_in_executor(_POOL, verify_password, stored_hash, password)
