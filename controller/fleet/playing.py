"""What clusters play now, in words: the title and level of each occurrence on the air, and the names
of the areas the clusters stand in, as the console shows them (never ids)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db.models import Area, Device, Occurrence
from ..notify.hearing import not_heard
from ..presence import LiveState


@dataclass(frozen=True)
class OnAir:
    """An occurrence on the air: its title (empty when it has none) and level."""

    occurrence_id: str
    title: str
    level: str


def on_air(session: Session, occurrence_ids: Iterable[str | None]) -> dict[str, OnAir]:
    """The title and level of each occurrence given that the controller knows."""
    wanted = sorted({o for o in occurrence_ids if o})
    if not wanted:
        return {}
    rows = session.execute(select(Occurrence.id, Occurrence.title, Occurrence.level)
                           .where(Occurrence.id.in_(wanted)))
    return {occurrence_id: OnAir(occurrence_id, title or "", level) for occurrence_id, title, level in rows}


def area_names(session: Session, area_ids: Iterable[str] | None) -> dict[str, str]:
    """The name of each area given (None: of every area)."""
    query = select(Area.id, Area.name)
    if area_ids is not None:
        query = query.where(Area.id.in_(sorted(set(area_ids))))
    return {area_id: name for area_id, name in session.execute(query)}


@dataclass(frozen=True)
class Words:
    """What the console shows in words beside a page of devices: area names, titles on the air."""

    area_names: dict[str, str] = field(default_factory=dict)
    on_air: dict[str, OnAir] = field(default_factory=dict)
    not_heard: dict[str, str] = field(default_factory=dict)  # device id -> why its latest play was not heard


def described(session: Session, page: Sequence[Device], lives: Sequence[LiveState]) -> Words:
    """The names of the devices' areas, the titles of what they play, and which were not heard."""
    return Words(area_names(session, {d.area_id for d in page}),
                 on_air(session, (live.playing for live in lives)), not_heard(session))
