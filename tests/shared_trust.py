"""One TLS context for every httpx client of a test process that asks for the default trust.

httpx builds a TLS context for each client and each `httpx.get`, https or not, and building one
reads the whole CA bundle: about 50 ms of CPU here. The tests make thousands of clients (every
fleet, every login, every one-off request), which came to a third of a test worker's CPU. A context
is safe to share; what it trusts is the same. A client given its own context (`verify=...`), or
trusting no one, is left alone.
"""

from __future__ import annotations

import functools
import ssl
from typing import Any

from httpx._transports import default as transports  # where clients build their context


def share_default_trust() -> None:
    """Make every httpx client that asks for the default trust use one context (once per process)."""
    build = transports.create_ssl_context
    if getattr(build, "shares_default_trust", False):
        return
    shared = functools.cache(lambda: build())

    def create(verify: Any = True, cert: Any = None, trust_env: bool = True) -> ssl.SSLContext:
        if verify is True and cert is None and trust_env:
            return shared()
        return build(verify=verify, cert=cert, trust_env=trust_env)

    create.shares_default_trust = True  # type: ignore[attr-defined]
    transports.create_ssl_context = create
