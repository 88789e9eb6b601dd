"""The fleet at a glance: every cluster in a scope with its live presence and what it plays, from one
query and the fleet-wide indexes in Redis."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import pytest
from redis.asyncio import Redis

from controller.db.models import Area, Device, Occurrence
from controller.db.session import Database, migrate
from controller.fleet.areas import parent_map, subtree
from controller.fleet.overview import overview
from controller.fleet.playing import OnAir
from controller.presence import FleetNow, PresenceStore
from loalang_protocol.messages import DeviceStatus, Telemetry
from tests.testkit import Stack

pytestmark = pytest.mark.unit

OWN_DB = 5  # a Redis database of this test's own, so the fleet-wide indexes hold only its devices


def database(tmp_path: Path) -> Database:
    url = f"sqlite:///{tmp_path / 'overview.sqlite3'}"
    migrate(url)
    return Database(url)


def two_communes(db: Database, suffix: str) -> dict[str, str]:
    """Communes a and b under a province, a village in each, and the clusters below; returns the
    clusters' areas by id."""
    names = {"xa-a": "Xã A", "thon-a": "Thôn A"}
    areas = [("tinh", None, "province"), ("xa-a", "tinh", "commune"), ("thon-a", "xa-a", "village"),
             ("xa-b", "tinh", "commune"), ("thon-b", "xa-b", "village")]
    clusters = {f"{name}-{suffix}": area for name, area in [
        ("never", "thon-a"), ("idle", "thon-a"), ("playing", "xa-a"), ("dropped", "thon-a"),
        ("theirs", "thon-b")]}
    with db.session() as session:
        session.add_all(Area(id=id_, name=names.get(id_, id_), parent_id=parent, level=level)
                        for id_, parent, level in areas)
        session.flush()
        session.add_all(Occurrence(id=occurrence_id, level="normal", start_ms=1000, duration_ms=5000,
                                   source={"type": "tone", "frequency_hz": 440}, max_lateness_ms=0,
                                   issued_ms=1000, title=title, created_by="admin")
                        for occurrence_id, title in (("occ-sang", "Bản tin sáng"), ("occ-khac", "Tin khác")))
        session.add_all(Device(id=device_id, name=f"Cụm {device_id}", area_id=area, latitude=18.5 + i,
                               longitude=105.5 + i) for i, (device_id, area) in enumerate(clusters.items()))
    return clusters


async def live(store: PresenceStore, device_id: str, online: bool, playing: str | None = None) -> None:
    """A birth (or a will after one) and a telemetry report, as the bridge writes them."""
    status = DeviceStatus(online=True, boot=1, conn=1, install_id="i-1", ts=1000)
    await store.apply_status(device_id, status, now_ms=1000)
    await store.store_telemetry(device_id, Telemetry(ts=1000, uptime_s=5, playing=playing))
    if not online:
        await store.apply_status(device_id, status.model_copy(update={"online": False}), now_ms=2000)


def test_the_overview_holds_every_cluster_in_scope_with_its_live_state(stack: Stack, tmp_path: Path) -> None:
    db = database(tmp_path)
    suffix = secrets.token_hex(3)
    clusters = two_communes(db, suffix)
    with db.session() as session:
        commune_a = subtree(parent_map(session), "xa-a")  # an operator of commune a

    async def scenario() -> None:
        redis = Redis(port=stack.redis_port, db=OWN_DB)
        await redis.flushdb()
        store = PresenceStore(redis)
        assert await store.fleet_now() == FleetNow(set(), {}), "empty indexes read as empty"
        await live(store, f"idle-{suffix}", online=True)
        await live(store, f"playing-{suffix}", online=True, playing="occ-sang")
        await live(store, f"dropped-{suffix}", online=False, playing="occ-cu")  # its last telemetry
        await live(store, f"theirs-{suffix}", online=True, playing="occ-khac")
        ours = await overview(db, store, commune_a)
        everyone = await overview(db, store, None)
        await store.store_telemetry(f"playing-{suffix}", Telemetry(ts=2000, uptime_s=6))  # it finished
        finished = await overview(db, store, commune_a)
        for device_id in clusters:
            await store.forget(device_id)
        assert (await overview(db, store, None)).online == [False] * len(clusters)
        await redis.aclose()

        assert ours.ids == sorted(d for d, area in clusters.items() if area != "thon-b")
        states = dict(zip(ours.ids, zip(ours.online, ours.playing, strict=True), strict=True))
        assert states == {f"dropped-{suffix}": (False, None), f"idle-{suffix}": (True, None),
                          f"never-{suffix}": (False, None), f"playing-{suffix}": (True, "occ-sang")}
        playing = ours.ids.index(f"playing-{suffix}")
        assert (ours.names[playing], ours.area_ids[playing], ours.latitudes[playing],
                ours.longitudes[playing]) == (f"Cụm playing-{suffix}", "xa-a", 20.5, 107.5)
        assert everyone.ids == sorted(clusters) and everyone.playing[everyone.ids.index(f"theirs-{suffix}")]
        assert ours.on_air == {"occ-sang": OnAir("occ-sang", "Bản tin sáng", "normal")}, "titled, in scope"
        assert ours.area_names == {"xa-a": "Xã A", "thon-a": "Thôn A"}, "the scope's areas by name"
        assert finished.playing == [None] * 4 and finished.online == ours.online

    asyncio.run(scenario())
    db.engine.dispose()
