"""The public keys each device held, and when: what its receipts are checked against later."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from ..db.models import DeviceKey


def start_key(session: Session, device_id: str, public_key: str, key_id: str, now: datetime) -> None:
    """Record that device_id holds public_key from now on; the key it held before ends now."""
    end_keys(session, device_id, now)
    session.add(DeviceKey(device_id=device_id, key_id=key_id, public_key=public_key, valid_from=now))


def end_keys(session: Session, device_id: str, now: datetime) -> None:
    """Record that device_id holds no key from now on (it enrols again, or is deleted)."""
    session.execute(update(DeviceKey).where(DeviceKey.device_id == device_id, DeviceKey.valid_until.is_(None))
                    .values(valid_until=now))
