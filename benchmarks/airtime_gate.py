"""What the airtime gate's decision costs at a province's size.

Builds a province in a fresh SQLite database (migrated like the controller's): regions, communes,
villages and devices, one village in twenty asking for approval and one in fifty confirming
emergencies by a second approver, and times the gate's decision for a province-wide broadcast
(every area it reaches: approval, quiet hours and confirmation of each), a commune's broadcast and
one device's test tone.

    .venv/bin/python -m benchmarks.airtime_gate --communes 300 --villages 10 --devices 2
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from controller.airtime import gate
from controller.airtime.gate import Ask, Refused
from controller.airtime.rules import Reach, Road
from controller.db.models import Area, Bulletin, Device, MediaItem
from controller.db.session import Database, migrate
from controller.security.principal import Principal

PROVINCE = "tinh"


def build(db: Database, communes: int, villages: int, devices: int) -> None:
    """The province tree, its devices and a bulletin an approver approved."""
    with db.session() as session:
        session.add(Area(id=PROVINCE, name="Tỉnh", parent_id=None, level="province",
                         quiet_start="00:00", quiet_end="00:00"))
        session.flush()
        for c in range(communes):
            commune = f"xa-{c}"
            session.add(Area(id=commune, name=commune, parent_id=PROVINCE, level="commune"))
            session.flush()
            for v in range(villages):
                index = c * villages + v
                village = f"thon-{c}-{v}"
                session.add(Area(id=village, name=village, parent_id=commune, level="village",
                                 approval="required" if index % 20 == 0 else None,
                                 emergency_confirm="second_approver" if index % 50 == 0 else None))
                session.flush()
                for d in range(devices):
                    session.add(Device(id=f"loa-{c}-{v}-{d}", name="loa", area_id=village,
                                       latitude=18.7, longitude=105.7))
        session.add(MediaItem(sha256="a" * 64, title="tin", kind="upload", duration_ms=60_000, size=1,
                              area_id=None, created_by="admin"))
        session.flush()
        session.add(Bulletin(id="b-1", title="tin", level="normal", media_sha256="a" * 64, area_id=PROVINCE,
                             status="approved", created_by="op", decided_by="duyet", reviewed=True))


def timed(runs: int, decide: Callable[[], object]) -> tuple[float, float]:
    """p50 and max of decide's wall time, in milliseconds."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        decide()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), max(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--communes", type=int, default=300)
    parser.add_argument("--villages", type=int, default=10)
    parser.add_argument("--devices", type=int, default=2)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'gate.sqlite3'}"
        migrate(url)
        db = Database(url)
        build(db, args.communes, args.villages, args.devices)
        admin = Principal(1, "admin", "admin", None)
        asks = {
            "province-wide broadcast (bulletin, normal)": Ask(admin, Road.BROADCAST, "normal",
                                                               area_ids=(PROVINCE,), bulletin_id="b-1"),
            "province-wide emergency (second approver somewhere)": Ask(admin, Road.BROADCAST, "emergency",
                                                                       area_ids=(PROVINCE,)),
            "one commune's broadcast (bulletin, normal)": Ask(admin, Road.BROADCAST, "normal",
                                                              area_ids=("xa-1",), bulletin_id="b-1"),
        }
        areas = 1 + args.communes * (1 + args.villages)
        print(f"{areas} areas, {areas - 1 - args.communes} villages, "
              f"{args.communes * args.villages * args.devices} devices; {args.runs} runs each")
        for name, ask in asks.items():
            def decide(ask: Ask = ask) -> None:
                with db.session() as session, contextlib.suppress(Refused):
                    gate.check(session, ask)
            p50, worst = timed(args.runs, decide)
            print(f"{name}: p50 {p50:.1f} ms, max {worst:.1f} ms")

        def tone() -> None:
            with db.session() as session:
                gate.check_command(session, admin, Reach.DEVICE, "loa-1-1-0", "test-tone", 2.0, False)
        p50, worst = timed(args.runs, tone)
        print(f"one device's test tone: p50 {p50:.1f} ms, max {worst:.1f} ms")
        db.engine.dispose()


if __name__ == "__main__":
    main()
