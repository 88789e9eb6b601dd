"""Devices over time: presence changes (for uptime), telemetry samples (for charts), data budgets.

Presence changes are all kept; telemetry is sampled at most every `telemetry_history_s` per
device (a Redis key remembers the last sample) and both are pruned after `history_keep_days`.
A device whose mobile data this month reaches 80 % of its budget is warned about once a month.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from loalang_protocol.messages import Telemetry

from .. import audit, feed
from ..context import Services
from ..db.models import Device, PresenceChange, TelemetrySample

log = logging.getLogger(__name__)

DATA_WARNING_AT = 0.8


async def note_presence(services: Services, device_id: str, online: bool, at_ms: int, reason: str) -> None:
    """Record that a device went online or offline (and tell the feed)."""
    def write() -> tuple[str, str] | None:
        with services.db.session() as session:
            session.add(PresenceChange(device_id=device_id, online=online, at_ms=at_ms, reason=reason[:16]))
            device = session.get(Device, device_id)
            return (device.area_id, device.name) if device is not None else None
    known = await asyncio.to_thread(write)
    if known is not None:
        await feed.publish(services.redis, "online" if online else "offline", [known[0]], device_id=device_id,
                           device_name=known[1], reason=reason[:16])


async def note_telemetry(services: Services, device_id: str, telemetry: Telemetry) -> None:
    """Keep a sample if the last one is old enough; warn once a month at 80 % of the data budget."""
    interval = services.settings.telemetry_history_s
    if await services.redis.set(f"loa:telemetry-sampled:{device_id}", 1, nx=True, ex=interval):
        def write() -> None:
            with services.db.session() as session:
                session.add(TelemetrySample(
                    device_id=device_id, at_ms=telemetry.ts, uptime_s=telemetry.uptime_s,
                    load1=telemetry.load1,
                    mem_used_pct=telemetry.mem_used_pct, disk_free_mb=telemetry.disk_free_mb,
                    cpu_temp_c=telemetry.cpu_temp_c, signal_dbm=telemetry.signal_dbm,
                    data_month_bytes=telemetry.data_month_bytes))
        await asyncio.to_thread(write)
    await _check_budget(services, device_id, telemetry)


async def _check_budget(services: Services, device_id: str, telemetry: Telemetry) -> None:
    if telemetry.data_month_bytes is None or not telemetry.data_month:
        return
    with services.db.session() as session:
        device = session.get(Device, device_id)
        budget = device.data_budget_mb if device is not None else None
    if not budget or telemetry.data_month_bytes < DATA_WARNING_AT * budget * 1_000_000:
        return
    key = f"loa:data-warning:{device_id}:{telemetry.data_month}"
    if await services.redis.set(key, telemetry.data_month_bytes, nx=True, ex=40 * 86_400):
        used = telemetry.data_month_bytes / 1_000_000
        log.warning("device %s: %.0f MB of mobile data used in %s, %.0f %% of its %s MB budget",
                    device_id, used, telemetry.data_month, 100 * used / budget, budget)
        with services.db.session() as session:
            audit.record(session, "system", "device.data_warning", [device_id], month=telemetry.data_month,
                         used_mb=round(used, 1), budget_mb=budget)


def presence_changes(session: Session, device_id: str, limit: int) -> list[dict[str, Any]]:
    """The device's latest comings and goings, newest first."""
    rows = session.scalars(select(PresenceChange).where(PresenceChange.device_id == device_id)
                           .order_by(PresenceChange.at_ms.desc()).limit(limit))
    return [{"at_ms": r.at_ms, "online": r.online, "reason": r.reason} for r in rows]


def uptime(session: Session, device_id: str, from_ms: int, to_ms: int) -> dict[str, Any]:
    """How long the device was online in [from_ms, to_ms), from its presence changes."""
    before = session.scalars(select(PresenceChange).where(
        PresenceChange.device_id == device_id, PresenceChange.at_ms < from_ms)
        .order_by(PresenceChange.at_ms.desc()).limit(1)).first()
    changes = session.scalars(select(PresenceChange).where(
        PresenceChange.device_id == device_id, PresenceChange.at_ms >= from_ms, PresenceChange.at_ms < to_ms)
        .order_by(PresenceChange.at_ms)).all()
    online_ms = _online_ms(bool(before and before.online), [(c.at_ms, c.online) for c in changes],
                           from_ms, to_ms)
    window = max(1, to_ms - from_ms)
    return {"from_ms": from_ms, "to_ms": to_ms, "online_s": round(online_ms / 1000, 1),
            "uptime_pct": round(100 * online_ms / window, 2), "changes": len(changes)}


def uptime_percent(session: Session, windows: dict[str, int], to_ms: int) -> dict[str, float]:
    """Uptime in percent of many devices at once, each from its own start (windows) to to_ms.

    Reads the devices' whole presence log, which pruning keeps short (the kept days, and each
    device's last change before them).
    """
    if not windows:
        return {}
    rows = session.execute(select(PresenceChange.device_id, PresenceChange.at_ms, PresenceChange.online)
                           .where(PresenceChange.device_id.in_(sorted(windows)), PresenceChange.at_ms < to_ms)
                           .order_by(PresenceChange.device_id, PresenceChange.at_ms)).all()
    changes: dict[str, list[tuple[int, bool]]] = {}
    for device_id, at_ms, online in rows:
        changes.setdefault(device_id, []).append((at_ms, online))
    percent = {}
    for device_id, from_ms in windows.items():
        history_ = changes.get(device_id, [])
        before = [online for at_ms, online in history_ if at_ms < from_ms]
        inside = [(at_ms, online) for at_ms, online in history_ if at_ms >= from_ms]
        online_ms = _online_ms(bool(before and before[-1]), inside, from_ms, to_ms)
        percent[device_id] = round(100 * online_ms / max(1, to_ms - from_ms), 1)
    return percent


def _online_ms(online: bool, changes: list[tuple[int, bool]], from_ms: int, to_ms: int) -> int:
    """Time online in [from_ms, to_ms), given the state at from_ms and the changes after it, in order."""
    online_ms, since = 0, from_ms
    for at_ms, now_online in changes:
        if online:
            online_ms += at_ms - since
        online, since = now_online, at_ms
    if online:
        online_ms += to_ms - since
    return online_ms


def samples(session: Session, device_id: str, from_ms: int, to_ms: int) -> list[dict[str, Any]]:
    """The telemetry samples of [from_ms, to_ms), oldest first."""
    rows = session.scalars(select(TelemetrySample).where(
        TelemetrySample.device_id == device_id, TelemetrySample.at_ms >= from_ms,
        TelemetrySample.at_ms < to_ms)
        .order_by(TelemetrySample.at_ms).limit(10_000))
    return [{"at_ms": r.at_ms, "uptime_s": r.uptime_s, "load1": r.load1, "mem_used_pct": r.mem_used_pct,
             "disk_free_mb": r.disk_free_mb, "cpu_temp_c": r.cpu_temp_c, "signal_dbm": r.signal_dbm,
             "data_month_bytes": r.data_month_bytes} for r in rows]


def prune(session: Session, before_ms: int) -> None:
    """Forget samples and presence changes older than before_ms (keeping each device's last change)."""
    session.execute(delete(TelemetrySample).where(TelemetrySample.at_ms < before_ms))
    old = session.scalars(select(PresenceChange).where(PresenceChange.at_ms < before_ms)
                          .order_by(PresenceChange.at_ms)).all()
    last: dict[str, PresenceChange] = {}
    for change in old:
        if change.device_id in last:
            session.delete(last[change.device_id])
        last[change.device_id] = change
