"""A broker login renewed ahead of its expiry, while nothing plays.

On a NATS cluster a device's login is a JWT that expires (docs/nats.md); the node closes the
connection when it does and refuses the login after, and the agent would then restart with a new one
in the middle of whatever it played. So the agent reads its login's times (no key is needed to read
them) and, once 75 to 85 percent of the login's life has passed (a point of its own per device, so a
fleet enrolled on one day does not ask on one day), asks the controller for a new login while no
item and no live stream plays, and reconnects with it at once. A Mosquitto password is not a JWT and
never expires: nothing is done.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json

RENEW_FROM = 0.75  # of the login's life
RENEW_SPREAD = 0.10
LONGEST_CHECK_S = 3600.0


def login_times(password: str | None) -> tuple[int, int] | None:
    """When a login that is a JWT was issued and expires; None for a password or a JWT without both."""
    parts = (password or "").split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, binascii.Error):
        return None
    if not isinstance(claims, dict):
        return None
    issued, expires = claims.get("iat"), claims.get("exp")
    if not (isinstance(issued, int) and isinstance(expires, int)) or expires <= issued:
        return None
    return issued, expires


def renewal_due_at(device_id: str, issued: int, expires: int) -> float:
    """When the device should renew a login issued and expiring at these times."""
    share = int.from_bytes(hashlib.sha256(device_id.encode()).digest()[:4], "big") / 2**32
    return issued + (expires - issued) * (RENEW_FROM + RENEW_SPREAD * share)


def check_every_s(issued: int, expires: int) -> float:
    """How often to look: often enough to find a quiet moment well before the expiry."""
    return min(LONGEST_CHECK_S, max(1.0, (expires - issued) / 50))
