"""API keys of API clients: `lk.<client id>.<secret>`, of which only a hash is stored.

The client id in the key finds the client without a search; the secret is 32 random bytes, so a
plain SHA-256 is enough to store it (nothing to brute-force), compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

PREFIX = "lk"


def new_key(client_id: str) -> tuple[str, str]:
    """A new key for client_id and the hash to store."""
    key = f"{PREFIX}.{client_id}.{secrets.token_urlsafe(32)}"
    return key, key_hash(key)


def key_hash(key: str) -> str:
    """The stored form of a key."""
    return hashlib.sha256(key.encode()).hexdigest()


def client_id_of(key: str) -> str | None:
    """The client id a key names, or None when it is not an API key."""
    parts = key.split(".")
    if len(parts) != 3 or parts[0] != PREFIX or not parts[1] or len(key) > 200:
        return None
    return parts[1]


def matches(key: str, stored_hash: str) -> bool:
    """True when key is the one stored_hash was made from."""
    return hmac.compare_digest(key_hash(key), stored_hash)
