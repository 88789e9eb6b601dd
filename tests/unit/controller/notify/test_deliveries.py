"""A finished broadcast raises an incident only for the clusters that never played it; stopped and
preempted are not failures."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.db.models import Area, Broadcast, Device
from controller.db.session import Database, migrate
from controller.notify.deliveries import failed_delivery
from controller.notify.rules import Kind

pytestmark = pytest.mark.unit


def test_only_the_clusters_that_never_played_make_the_incident(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'deliveries.sqlite3'}"
    migrate(url)
    db = Database(url)
    with db.session() as session:
        session.add(Area(id="thon-1a", name="Thôn 1A", level="village"))
        session.add(Area(id="thon-1b", name="Thôn 1B", level="village"))
        session.flush()
        for device_id, area in (("loa-1", "thon-1a"), ("loa-2", "thon-1b"), ("loa-3", "thon-1b")):
            session.add(Device(id=device_id, name=f"Cụm {device_id}", area_id=area, latitude=18.7,
                               longitude=105.7))
        broadcast = Broadcast(id="bc-1", title="Họp thôn", level="normal", area_ids=["thon-1a", "thon-1b"],
                              device_ids=[], status="on_air", created_by="admin")
        played = {"loa-1": {"state": "completed"}, "loa-2": {"state": "preempted"},
                  "loa-3": {"state": "stopped"}}
        assert failed_delivery(session, broadcast, played) is None
        states = {**played, "loa-2": {"state": "offline"}, "loa-3": {"state": "missed"}}
        raised = failed_delivery(session, broadcast, states)
    assert raised is not None and raised.kind == Kind.DELIVERY_FAILED and raised.subject == "bc-1"
    assert raised.area_ids == ["thon-1b"] and raised.title == "Họp thôn: 2/3"
    assert raised.details["devices"] == {"loa-2": "offline", "loa-3": "missed"}
    assert raised.details["device_names"] == {"loa-2": "Cụm loa-2", "loa-3": "Cụm loa-3"}
    db.engine.dispose()
