"""Every cluster in a scope at a glance, for the dashboard: where it stands, whether it is online, what
it plays (titled), and the names of the scope's areas. A few database queries and one Redis round
trip, whatever the size of the fleet."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select

from ..db.models import Device
from ..db.session import Database
from ..notify.hearing import not_heard
from ..presence import PresenceStore
from .playing import OnAir, area_names, on_air


@dataclass
class Overview:
    """The clusters column by column: the i-th entry of every list is the i-th cluster (by id)."""

    ids: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    area_ids: list[str] = field(default_factory=list)
    latitudes: list[float | None] = field(default_factory=list)
    longitudes: list[float | None] = field(default_factory=list)
    online: list[bool] = field(default_factory=list)
    playing: list[str | None] = field(default_factory=list)
    not_heard: list[str | None] = field(default_factory=list)  # why its latest plays were not heard, or None
    on_air: dict[str, OnAir] = field(default_factory=dict)  # title and level of what plays, by occurrence
    area_names: dict[str, str] = field(default_factory=dict)  # every area of the scope, by id


async def overview(db: Database, presence: PresenceStore, areas: set[str] | None) -> Overview:
    """Every device in the areas given (None: all), with its live presence and what it plays.

    A device plays only while online: the telemetry of one that dropped off still names what it
    played last."""
    query = select(Device.id, Device.name, Device.area_id, Device.latitude, Device.longitude)
    if areas is not None:
        query = query.where(Device.area_id.in_(sorted(areas)))
    with db.session() as session:
        rows = session.execute(query.order_by(Device.id)).all()
        unheard = not_heard(session)
    now = await presence.fleet_now()
    result = Overview()
    for device_id, name, area_id, latitude, longitude in rows:
        online = device_id in now.online
        result.ids.append(device_id)
        result.names.append(name)
        result.area_ids.append(area_id)
        result.latitudes.append(latitude)
        result.longitudes.append(longitude)
        result.online.append(online)
        result.playing.append(now.playing.get(device_id) if online else None)
        result.not_heard.append(unheard.get(device_id))
    with db.session() as session:
        result.on_air = on_air(session, result.playing)
        result.area_names = area_names(session, areas)
    return result
