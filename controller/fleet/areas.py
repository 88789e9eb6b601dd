"""The area tree: any depth, usually province / optional region / commune / village."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from loalang_protocol.slugs import check_slug, slugify

from ..db.models import Area, Base
from ..errors import DomainError

DEFAULT_TIMEZONE = "Asia/Ho_Chi_Minh"
MAX_DEPTH = 12
RESERVED_IDS = frozenset({"outlines"})  # /areas/outlines is the map's outlines, not an area


class AreaError(DomainError):
    """A request about areas cannot be carried out; code and message say why."""

    def __init__(self, code: str, message: str, status: int = 422, field: str | None = None) -> None:
        super().__init__(code, message, status, field)


def parent_map(session: Session) -> dict[str, str | None]:
    """Every area id with its parent id."""
    return {area_id: parent for area_id, parent in session.execute(select(Area.id, Area.parent_id))}


def chain(parents: dict[str, str | None], area_id: str) -> list[str]:
    """Area ids from the root down to area_id."""
    path: list[str] = []
    current: str | None = area_id
    while current is not None:
        if current in path or len(path) > MAX_DEPTH:
            raise AreaError("area_tree_corrupt", f"area tree is corrupt around {area_id}", 409)
        path.append(current)
        current = parents.get(current)
    return list(reversed(path))


def subtree(parents: dict[str, str | None], root_id: str) -> set[str]:
    """root_id and every area below it."""
    children: dict[str | None, list[str]] = {}
    for child, parent in parents.items():
        children.setdefault(parent, []).append(child)
    found, todo = set(), [root_id]
    while todo:
        current = todo.pop()
        found.add(current)
        todo.extend(children.get(current, []))
    return found


def unique_id(session: Session, wanted: str, model: type[Base] = Area) -> str:
    """wanted, or wanted with a number appended if a row of model already has that id."""
    candidate, n = wanted, 2
    while session.get(model, candidate) is not None:
        candidate = check_slug(f"{wanted[:44].rstrip('-')}-{n}")
        n += 1
    return candidate


def create_area(
    session: Session,
    name: str,
    level: str,
    parent_id: str | None,
    area_id: str | None = None,
    **attributes: object,
) -> Area:
    """Create an area under parent_id (None for a root)."""
    if parent_id is not None and session.get(Area, parent_id) is None:
        raise AreaError("unknown_area", f"parent area {parent_id!r} does not exist", field="parent_id")
    if parent_id is not None and len(chain(parent_map(session), parent_id)) >= MAX_DEPTH:
        raise AreaError("too_deep", f"areas may be at most {MAX_DEPTH} levels deep", field="parent_id")
    if area_id is not None:
        check_slug(area_id, "area id")
        if area_id in RESERVED_IDS:
            raise AreaError("area_id_reserved", f"{area_id!r} is a word of the API, not an area id",
                            field="id")
        if session.get(Area, area_id) is not None:
            raise AreaError("area_exists", f"area {area_id!r} already exists", field="id")
    else:
        wanted = slugify(name)
        area_id = unique_id(session, f"{wanted}-area" if wanted in RESERVED_IDS else wanted)
    area = Area(id=area_id, name=name, level=level, parent_id=parent_id, **attributes)
    if parent_id is None and area.timezone is None:
        area.timezone = DEFAULT_TIMEZONE
    session.add(area)
    session.flush()
    return area


def zone_of(session: Session, area_id: str | None) -> str:
    """The time zone of an area (inherited down the tree); the default one for the whole tree (None)."""
    zone = effective(session, area_id, "timezone") if area_id is not None else None
    return str(zone or DEFAULT_TIMEZONE)


def effective(session: Session, area_id: str, attribute: str) -> object:
    """An attribute inherited downward: the nearest area on the chain that sets it."""
    current = session.get(Area, area_id)
    for _ in range(MAX_DEPTH + 1):  # a corrupt tree (a loop) ends here too
        if current is None:
            return None
        value = getattr(current, attribute)
        if value is not None:
            return value
        current = session.get(Area, current.parent_id) if current.parent_id is not None else None
    return None


def visible(areas: Iterable[Area], allowed: set[str] | None) -> list[Area]:
    """Areas within a user's scope (None: all)."""
    return [a for a in areas if allowed is None or a.id in allowed]

