"""The airtime service: the one way anything reaches a loudspeaker.

Broadcast now (files, text, bulletins, live sources), confirmations, stops, low-level
occurrences, schedules (decided here when they are made), CAP alerts and the commands that sound
or switch the amplifier all come through `Airtime`. Each asks the gate (gate.py, over the table in
rules.py) with who, what, where and when; the decision is audited either way (`airtime.grant` or
`airtime.refuse`, a refusal in a transaction of its own so that it stays when the request fails).
Routers, the scheduler, the scheduled relays and the alert intake keep no rules of their own.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from loalang_protocol.mqtt import NotConnected

from .. import audit
from ..broadcasting import broadcasts, on_air
from ..broadcasting.margin import start_margin_ms
from ..context import Services
from ..db.models import Area, Broadcast, Bulletin, Device, MediaItem, Occurrence, Schedule
from ..errors import DomainError
from ..fleet import commands
from ..fleet.areas import parent_map
from ..fleet.occurrences import OccurrenceError
from ..fleet.occurrences import add as add_occurrence_row
from ..fleet.occurrences import remove as remove_occurrence_row
from ..jobs import JobFailed
from ..live import stations
from ..live.registry import LiveSessions
from ..live.sources import SourceError
from ..media import library, speech
from ..media.library import Ingest
from ..security.attempts import TooManyAttempts
from ..security.principal import Principal
from ..security.roles import Permission, allows
from . import gate, publishing, rules
from .gate import Ask, Grant, Refused
from .rules import Command, Level, Reach, Road, Verdict

log = logging.getLogger(__name__)
LIVE_TITLE = "Trực tiếp"


@dataclass(frozen=True)
class NowRequest:
    """Broadcast now: exactly one source (bulletin, library file, text, or a live source)."""

    level: str
    area_ids: tuple[str, ...] = ()
    device_ids: tuple[str, ...] = ()
    bulletin_id: str | None = None
    media_sha256: str | None = None
    text: str | None = None
    live_kind: str | None = None
    live_url: str | None = None
    title: str | None = None
    max_lateness_ms: int = 60_000
    quiet_override: bool = False
    confirm_password: str | None = None
    in_reply_to: str | None = None  # the earlier broadcast this one corrects or answers


@dataclass(frozen=True)
class Stopped:
    """What stop-all did."""

    areas: list[str]
    broadcasts_withdrawn: list[str]
    command_ids: list[str]
    broker_reached: bool  # false: the broker was away; devices stop as they come back to it


class Airtime:
    """Decides, audits and carries out every change of what devices play."""

    def __init__(self, services: Services, live: LiveSessions) -> None:
        self.services = services
        self.live = live

    # -- the decision --------------------------------------------------------------------

    async def authorise(self, ask: Ask) -> Grant:
        """The gate's decision on ask, audited; raises Refused or TooManyAttempts (audited too)."""
        try:
            with self.services.db.session() as session:
                grant = gate.check(session, ask)
            if grant.confirmed_by_password:
                await self._verify_confirmation(ask, grant)
            with self.services.db.session() as session:
                audit.record(session, ask.who.username, "airtime.grant", _targets(ask), **ask.described(),
                             confirmation=grant.confirmation,
                             confirmed_by_password=grant.confirmed_by_password)
            return grant
        except (Refused, TooManyAttempts) as refusal:
            self._refused(ask.who, _targets(ask), refusal, **ask.described())
            raise

    async def _verify_confirmation(self, ask: Ask, grant: Grant) -> None:
        """The confirmation password against the user's, counted with the failed logins of the user
        name and address (verified off the event loop)."""
        if not await self.services.attempts.password_right(ask.who.username, ask.who.address or "unknown",
                                                           grant.password_hash, ask.confirm_password or ""):
            raise gate.wrong_confirmation()

    def _refused(self, who: Principal, targets: list[str], refusal: DomainError, **detail: Any) -> None:
        with self.services.db.session() as session:
            audit.record(session, who.username, "airtime.refuse", targets, code=refusal.code,
                         reason=refusal.message, **detail)
        log.info("airtime refused to %s (%s): %s", who.username, refusal.code, refusal.message)

    # -- broadcast now ---------------------------------------------------------------------

    async def broadcast_now(self, who: Principal, request: NowRequest) -> Broadcast:
        """Put something on the air at one shared instant on every target (or await a second approver)."""
        media, duration_ms = self._known_file(request)
        self._check_reply(who, request.in_reply_to)
        if request.live_kind == "relay":
            await self._check_station(request.live_url or "")
        grant = await self.authorise(Ask(
            who=who, road=Road.LIVE if request.live_kind else Road.BROADCAST, level=request.level,
            area_ids=request.area_ids, device_ids=request.device_ids, source=_source_kind(request),
            media_sha256=media, bulletin_id=request.bulletin_id, duration_ms=duration_ms,
            quiet_override=request.quiet_override, confirm_password=request.confirm_password))
        item, title = await self._file(who, request) if request.live_kind is None else (None, LIVE_TITLE)
        fields = {"level": request.level, "bulletin_id": request.bulletin_id, "title": request.title or title,
                  "area_ids": sorted(set(request.area_ids)), "device_ids": sorted(set(request.device_ids)),
                  "max_lateness_ms": request.max_lateness_ms, "quiet_override": request.quiet_override,
                  "live": {"kind": request.live_kind, "url": request.live_url} if request.live_kind else None,
                  "in_reply_to": request.in_reply_to}
        with self.services.db.session() as session:
            broadcast = broadcasts.create(session, who.username, fields, item,
                                          awaiting=grant.confirmation == "second_approver")
            session.flush()
            if broadcast.status == "on_air":
                await self.start(session, broadcast)
            return broadcast

    def _check_reply(self, who: Principal, earlier: str | None) -> None:
        """A broadcast answers only an earlier one its author can see."""
        if earlier is None:
            return
        with self.services.db.session() as session:
            try:
                visible_broadcast(session, who, earlier)
            except DomainError:
                raise DomainError("unknown_broadcast", "in_reply_to names no broadcast you can see", 422,
                                  "in_reply_to") from None

    def _known_file(self, request: NowRequest) -> tuple[str | None, int]:
        """The file a request names (directly or through its bulletin) and its length, when known now."""
        with self.services.db.session() as session:
            sha = request.media_sha256
            if request.bulletin_id is not None:
                bulletin = session.get(Bulletin, request.bulletin_id)
                sha = bulletin.media_sha256 if bulletin is not None else None
            item = session.get(MediaItem, sha) if sha else None
            return (request.media_sha256, item.duration_ms if item else 0)

    async def _check_station(self, url: str) -> None:
        try:
            await stations.check_configured(url, self.services.settings)
        except SourceError as exc:
            raise DomainError("station_not_allowed", str(exc), 422, "url") from None

    async def _file(self, who: Principal, request: NowRequest) -> tuple[MediaItem, str]:
        """The file to play and its title: the bulletin's, the library's, or text spoken now."""
        with self.services.db.session() as session:
            if request.bulletin_id is not None:
                bulletin = session.get(Bulletin, request.bulletin_id)
                if bulletin is None or bulletin.media_sha256 is None:
                    raise DomainError("bulletin_not_playable", "the bulletin has no file to play", 409,
                                      "bulletin_id")
                return _item(session, bulletin.media_sha256), bulletin.title
            if request.media_sha256 is not None:
                item = _item(session, request.media_sha256)
                return item, item.title
        text = speech.clean_text(request.text or "")
        try:
            ingest = Ingest(title=request.title or text[:60], kind="speech", actor=who.username,
                            area_id=who.area_id, text=text)
            stored = await library.from_text(self.services, self.services.speech, ingest, lambda _: None)
        except JobFailed as exc:
            raise DomainError(exc.code, str(exc), 422, "text") from None
        with self.services.db.session() as session:
            return _item(session, stored["sha256"]), ingest.title

    async def start(self, session: Session, broadcast: Broadcast, prelude_ms: int = 0,
                    valid_until_ms: int | None = None) -> None:
        """Put a decided broadcast on the air (a live one with its source's first audio). Everything
        the session wrote is committed before anything is awaited (controller/db/write_guard.py)."""
        news = on_air.news(session, broadcast)
        if broadcast.live_kind is not None:
            session.commit()
            await on_air.announce(self.services, [news])
            if broadcast.live_kind == "relay":
                self.live.start_relay(broadcast.id, broadcast.live_url or "")
            return
        media = session.get(MediaItem, broadcast.media_sha256) if broadcast.media_sha256 else None
        file_bytes = media.size if media is not None else 0
        settings = self.services.settings

        def margin(receivers: int) -> int:
            return start_margin_ms(settings, receivers, file_bytes)

        await publishing.go_on_air(self.services, session, broadcast, margin_ms=margin,
                                   prelude_ms=prelude_ms, valid_until_ms=valid_until_ms, news=[news])

    async def confirm(self, who: Principal, broadcast_id: str) -> Broadcast:
        """A second approver (not its author, with approval rights over every target) puts it on the air."""
        with self.services.db.session() as session:
            broadcast = visible_broadcast(session, who, broadcast_id)
            try:
                if not allows(who.role, Permission.APPROVE):
                    raise Refused("role_not_allowed", f"role {who.role} may not confirm", 403)
                broadcasts.confirm(session, who.username, broadcast)
            except DomainError as refusal:
                self._refused(who, [broadcast.id], refusal, road="confirm")
                raise
            audit.record(session, who.username, "airtime.grant", [broadcast.id], road="confirm",
                         level=broadcast.level)
            await self.start(session, broadcast)
            return broadcast

    # -- taking off the air ------------------------------------------------------------------

    async def stop(self, who: Principal, broadcast_id: str) -> Broadcast:
        """Take one broadcast off the air everywhere it reaches (a live one ends within a second or two)."""
        self._may_stop(who)
        with self.services.db.session() as session:
            broadcast = visible_broadcast(session, who, broadcast_id)
            if broadcast.status not in publishing.TAKEN_OFF:
                raise DomainError("broadcast_over", f"the broadcast is {broadcast.status.replace('_', ' ')}")
        await publishing.take_off_air(self.services, who.username, [broadcast.id], by=who.username)
        self.live.stop(broadcast.id)
        with self.services.db.session() as session:
            return visible_broadcast(session, who, broadcast_id)

    async def stop_all(self, who: Principal, area_id: str | None) -> Stopped:
        """Silence every loudspeaker in the caller's scope (or one area of it) within seconds."""
        self._may_stop(who)
        with self.services.db.session() as session:
            roots = _stop_roots(session, who, area_id)
            withdrawn = broadcasts.reaching_only(session, roots, int(time.time() * 1000))
            audit.record(session, who.username, "broadcast.stop_all", roots, withdrawn=withdrawn)
        await publishing.take_off_air(self.services, who.username, withdrawn, by=who.username)
        for broadcast_id in withdrawn:
            self.live.stop(broadcast_id)
        reason = {"reason": f"stop-all by {who.username}"[:64]}
        try:
            command_ids = [await commands.send_to_area(self.services, area, "stop", reason) for area in roots]
        except (NotConnected, TimeoutError):
            log.warning("stop-all by %s: broker unreachable; the withdrawals reach devices when it is back",
                        who.username)
            return Stopped(roots, withdrawn, [], broker_reached=False)
        return Stopped(roots, withdrawn, command_ids, broker_reached=self.services.link.connected.is_set())

    def _may_stop(self, who: Principal) -> None:
        if not allows(who.role, Permission.SCHEDULE):
            raise Refused("role_not_allowed", f"role {who.role} may not stop broadcasts", 403)

    async def withdraw_alerts(self, who: Principal, broadcast_ids: list[str], reason: str) -> list[str]:
        """Stop the broadcasts of cancelled alerts, and tell their devices to stop at once."""
        with self.services.db.session() as session:
            rows = session.scalars(select(Broadcast).where(Broadcast.id.in_(broadcast_ids),
                                                           Broadcast.status == "on_air")).all()
            reach = [(list(b.area_ids), list(b.device_ids)) for b in rows]
        stopped = await publishing.take_off_air(self.services, who.username, [b.id for b in rows],
                                                by=who.username)
        args = {"reason": reason[:64]}
        for areas, devices in reach:
            for area in areas:
                await commands.send_to_area(self.services, area, "stop", args)
            for device in devices:
                await commands.send_to_device(self.services, device, "stop", args)
        return stopped

    # -- low-level occurrences ------------------------------------------------------------

    async def add_occurrence(self, who: Principal, area_id: str | None, device_id: str | None,
                             fields: dict[str, Any], confirm_password: str | None) -> str:
        """One play for an area or a device (admins of the whole tree only); returns its id."""
        if (area_id is None) == (device_id is None):
            raise DomainError("one_target", "give exactly one of area_id and device_id", 422, "area_id")
        source = fields.get("source") or {}
        await self.authorise(Ask(
            who=who, road=Road.OCCURRENCE, level=str(fields.get("level")),
            area_ids=(area_id,) if area_id else (), device_ids=(device_id,) if device_id else (),
            source=str(source.get("type", "?"))[:16],
            media_sha256=source.get("sha256") if source.get("type") == "media" else None,
            start_ms=int(fields.get("start_ms", 0)), duration_ms=int(fields.get("duration_ms", 0)),
            quiet_override=bool(fields.get("quiet_override")), confirm_password=confirm_password))
        try:
            return await add_occurrence_row(self.services, who.username, area_id, device_id, fields)
        except OccurrenceError as exc:
            raise DomainError("occurrence_invalid", str(exc), 422) from None

    async def remove_occurrence(self, who: Principal, occurrence_id: str) -> None:
        """Withdraw a play that has not happened yet (whole-tree admins, like adding one)."""
        with self.services.db.session() as session:
            row = session.get(Occurrence, occurrence_id[:48])
            if row is None or not _occurrence_visible(session, who, row):
                raise DomainError("unknown_occurrence", "no such occurrence", 404)
        allowed = rules.verdict(who.role, Road.OCCURRENCE, Level.NORMAL) is Verdict.YES
        if who.scope is not None or not allowed:
            refusal = Refused("whole_tree_only", "occurrences are for admins of the whole tree only", 403)
            self._refused(who, [occurrence_id[:48]], refusal, road="occurrence")
            raise refusal
        try:
            await remove_occurrence_row(self.services, who.username, occurrence_id[:48])
        except OccurrenceError as exc:
            raise DomainError("unknown_occurrence", str(exc), 404) from None

    # -- schedules -----------------------------------------------------------------------

    async def authorise_schedule(self, who: Principal, bulletin: Bulletin, area_ids: list[str],
                           device_ids: list[str], quiet_override: bool,
                           confirm_password: str | None) -> Grant:
        """May who schedule this bulletin to these targets? (Each play's quiet hours are checked where
        the schedule is made.)"""
        return await self.authorise(Ask(
            who=who, road=Road.SCHEDULE, level=bulletin.level, area_ids=tuple(area_ids),
            device_ids=tuple(device_ids), source="relay" if bulletin.relay_url else "bulletin",
            bulletin_id=bulletin.id, quiet_override=quiet_override, confirm_password=confirm_password))

    def confirm_schedule(self, who: Principal, schedule: Schedule) -> None:
        """A second approver (not its author) lets an emergency schedule play; in the caller's session."""
        problem = None
        if not allows(who.role, Permission.APPROVE):
            problem = Refused("role_not_allowed", f"role {who.role} may not confirm", 403)
        elif not schedule.awaiting_confirmation:
            problem = Refused("nothing_to_confirm", "the schedule needs no confirmation", 409)
        elif schedule.created_by == who.username:
            problem = Refused("same_person", "the second approver must be someone else", 403)
        if problem is not None:
            self._refused(who, [schedule.id], problem, road="confirm")
            raise problem

    # -- CAP alerts ----------------------------------------------------------------------------

    def check_alert_source(self, who: Principal) -> None:
        """Only a warning centre's client may post alerts at all (audited when refused)."""
        levels = rules.LEVELS_ON[Road.ALERT]
        if not any(rules.verdict(who.role, Road.ALERT, level) is Verdict.YES for level in levels):
            refusal = Refused("role_not_allowed", f"role {who.role} may not post alerts", 403)
            self._refused(who, [], refusal, road=Road.ALERT.value)
            raise refusal

    async def sound_alert(self, who: Principal, fields: dict[str, Any], item: MediaItem, prelude_ms: int,
                          valid_until_ms: int | None) -> Broadcast:
        """Put a warning centre's alert on the air (its attention signal first), inside its scope."""
        await self.authorise(Ask(
            who=who, road=Road.ALERT, level=fields["level"], area_ids=tuple(fields["area_ids"]),
            device_ids=tuple(fields["device_ids"]), source="alert", media_sha256=item.sha256,
            duration_ms=item.duration_ms, quiet_override=True))
        with self.services.db.session() as session:
            broadcast = broadcasts.create(session, who.username, fields, session.get(MediaItem, item.sha256),
                                          awaiting=False)
            session.flush()
            await self.start(session, broadcast, prelude_ms=prelude_ms, valid_until_ms=valid_until_ms)
            return broadcast

    # -- commands ------------------------------------------------------------------------------

    async def command(self, who: Principal, reach: Reach, target: str, name: str, args: dict[str, Any],
                      quiet_override: bool = False) -> str:
        """Send a signed command to one device or an area, when who may; returns its id."""
        seconds = _tone_seconds(args) if name == Command.TEST_TONE else None
        detail = {"road": "command", "command": name, "reach": reach.value, "quiet_override": quiet_override}
        try:
            with self.services.db.session() as session:
                gate.check_command(session, who, reach, target, name, seconds, quiet_override)
        except Refused as refusal:
            self._refused(who, [target], refusal, **detail)
            raise
        send = commands.send_to_device if reach is Reach.DEVICE else commands.send_to_area
        command_id = await send(self.services, target, name, args)
        with self.services.db.session() as session:
            audit.record(session, who.username, f"{reach.value}.command", [target], name=name, id=command_id)
            if name in rules.SOUNDING_COMMANDS:
                audit.record(session, who.username, "airtime.grant", [target], **detail, id=command_id)
        return command_id


def _targets(ask: Ask) -> list[str]:
    return [*ask.area_ids, *ask.device_ids][:50]


def _source_kind(request: NowRequest) -> str:
    if request.live_kind:
        return request.live_kind
    return "bulletin" if request.bulletin_id else "file" if request.media_sha256 else "text"


def _tone_seconds(args: dict[str, Any]) -> float:
    try:
        return float(args.get("seconds", 1.0))
    except (TypeError, ValueError):
        raise DomainError("bad_arguments", "seconds must be a number", 422, "args") from None


def _item(session: Session, sha256: str) -> MediaItem:
    item = session.get(MediaItem, sha256)
    if item is None:
        raise DomainError("unknown_media", "no such media in the library", 422, "media_sha256")
    return item


def visible_broadcast(session: Session, who: Principal, broadcast_id: str) -> Broadcast:
    """The broadcast when every area it reaches is in the caller's scope, else 404."""
    broadcast = session.get(Broadcast, broadcast_id[:48])
    if broadcast is None or not broadcast_in_scope(session, who, broadcast):
        raise DomainError("unknown_broadcast", "no such broadcast", 404)
    return broadcast


def broadcast_in_scope(session: Session, who: Principal, broadcast: Broadcast) -> bool:
    """Whether every area the broadcast reaches is in the caller's scope."""
    return all(who.can_see(area) for area in broadcasts.target_areas(
        session, broadcast.area_ids, broadcast.device_ids))


def _stop_roots(session: Session, who: Principal, area_id: str | None) -> list[str]:
    if area_id is not None:
        if not who.can_see(area_id) or session.get(Area, area_id) is None:
            raise Refused("outside_scope", f"{area_id} is outside your area", 403, "area_id")
        return [area_id]
    if who.area_id is not None:
        return [who.area_id]
    return sorted(area for area, parent in parent_map(session).items() if parent is None)


def _occurrence_visible(session: Session, who: Principal, row: Occurrence) -> bool:
    if row.area_id is not None:
        return who.can_see(row.area_id)
    device = session.get(Device, row.device_id) if row.device_id else None
    return device is not None and who.can_see(device.area_id)


