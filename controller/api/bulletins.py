"""Bulletins and their schedules: draft, submit, approve or reject, schedule, stop, preview."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator
from sqlalchemy import or_, select

from ..airtime.service import Airtime
from ..context import Services
from ..db.models import Area, Bulletin, Schedule
from ..errors import DomainError
from ..jobs import JobFailed
from ..live.sources import MAX_URL_LENGTH, SourceError, check_relay_url, shown_url
from ..media import library, speech
from ..media.library import Ingest
from ..scheduling import bulletins, preview, schedules
from ..scheduling.scheduler import note_change
from ..scheduling.schedules import Confirmation
from ..security.roles import Permission
from .deps import (
    AirtimeDep,
    Principal,
    PrincipalDep,
    ServicesDep,
    ViewerDep,
    ensure_in_scope,
    ensure_station_allowed,
    require,
)
from .schemas import CalendarDay, Name, SlugField, SpokenText, _In

router = APIRouter(tags=["bulletins"])
Scheduler = Annotated[Principal, Depends(require(Permission.SCHEDULE))]
Approver = Annotated[Principal, Depends(require(Permission.APPROVE))]
LOCAL_TIME = r"^\d{4}-\d{2}-\d{2}T([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?$"
LocalTime = Annotated[str, StringConstraints(pattern=LOCAL_TIME)]


class BulletinCreate(_In):
    """A new bulletin: a library file, text to be spoken (Vietnamese by default), or a station to relay
    for a window of duration_ms each time it is scheduled."""

    title: Name = Field(examples=["Bản tin sáng thứ Hai"])
    level: Literal["background", "normal", "priority", "emergency"] = Field(
        "normal", description="background: any other item cuts in (for a relayed station's programme)")
    media_sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")] | None = None
    text: SpokenText | None = Field(
        None, examples=["Thông báo lịch tiêm phòng cho trẻ em vào sáng thứ Bảy."])
    relay_url: Annotated[str, StringConstraints(max_length=MAX_URL_LENGTH)] | None = Field(
        None, examples=["https://radio.example.vn/vov1.mp3"], description="an http(s) station (Icecast, HLS)")
    duration_ms: int | None = Field(None, ge=60_000, le=86_400_000,
                                    description="for a relay: how long each scheduled window lasts")
    area_id: SlugField | None = Field(None, description="owner area (default: your own); its policy applies")

    @model_validator(mode="after")
    def _one_source(self) -> BulletinCreate:
        if sum(x is not None for x in (self.media_sha256, self.text, self.relay_url)) != 1:
            raise DomainError("one_source", "give exactly one of media_sha256, text and relay_url", 422)
        if self.relay_url is not None:
            if self.duration_ms is None:
                raise DomainError("relay_needs_duration",
                                  "a relay needs duration_ms, the length of its window", 422, "duration_ms")
            if self.level == "emergency":
                raise DomainError("relay_not_emergency", "a relayed station cannot be an emergency bulletin "
                                  "(broadcast a live emergency instead)", 422, "level")
            try:
                check_relay_url(self.relay_url)
            except SourceError as exc:
                raise DomainError("bad_station", str(exc), 422, "relay_url") from None
        elif self.duration_ms is not None:
            raise DomainError("duration_for_relay_only", "duration_ms is for a relay only (a file has its "
                              "own length)", 422, "duration_ms")
        return self


class BulletinPublic(BaseModel):
    """A bulletin as the API shows it."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    title: str
    level: str
    media_sha256: str | None
    relay_url: str | None = Field(description="the relayed station (without any credentials)")
    duration_ms: int | None = Field(description="a relay's window")
    text: str | None
    job_id: str | None
    area_id: str
    status: str = Field(description="preparing, draft, pending, approved, rejected or failed")
    reviewed: bool = Field(description="approved by an approver (not at once, in an area that needs no "
                           "approval): only such a bulletin plays where approval is required")
    note: str
    created_by: str
    created_at: datetime
    decided_by: str | None
    decided_at: datetime | None

    @field_validator("relay_url")
    @classmethod
    def _hide_credentials(cls, url: str | None) -> str | None:
        return shown_url(url) if url else url


class Decision(_In):
    """An approver's note."""

    note: Annotated[str, StringConstraints(max_length=500)] = ""


class ScheduleCreate(_In):
    """When and where: a recurrence in the bulletin's area's local time, and target areas or devices."""

    kind: Literal["once", "daily", "weekly", "dates", "rrule"] = Field(examples=["weekly"])
    start_local: LocalTime = Field(examples=["2026-12-07T06:30"],
                                   description="first play, local wall time (seconds optional)")
    weekdays: list[Annotated[int, Field(ge=0, le=6)]] = Field([], examples=[[0, 3]], description="0 = Monday")
    dates: list[CalendarDay] = Field([], max_length=366, examples=[["2026-12-24", "2027-01-01"]])
    until_local: CalendarDay | None = Field(None, description="last day of plays (inclusive)")
    rule: Annotated[str, StringConstraints(max_length=500)] | None = Field(
        None, examples=["FREQ=MONTHLY;BYMONTHDAY=1"], description="an RRULE, for kind rrule")
    area_ids: list[SlugField] = Field([], max_length=500, examples=[["thon-dong", "thon-tay"]])
    device_ids: list[SlugField] = Field([], max_length=500)
    max_lateness_ms: int = Field(300_000, ge=0, le=86_400_000, description="how late a play may still start")
    quiet_override: bool = Field(False, description="play even inside the targets' quiet hours (audited)")
    confirm_password: Annotated[str, StringConstraints(max_length=1024)] | None = Field(
        None, description="your password again, where an emergency schedule is confirmed by password")

    @field_validator("start_local")
    @classmethod
    def _real_date(cls, value: str) -> str:
        if not 2000 <= datetime.fromisoformat(value).year <= 2100:
            raise DomainError("date_out_of_range", "give a start between the years 2000 and 2100", 422)
        return value


class SchedulePublic(BaseModel):
    """A schedule, with its next plays."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    bulletin_id: str
    kind: str
    start_local: str
    timezone: str
    weekdays: list[int]
    dates: list[str]
    until_local: str | None
    rule: str | None
    area_ids: list[str]
    device_ids: list[str]
    max_lateness_ms: int
    quiet_override: bool
    active: bool
    awaiting_confirmation: bool = Field(description="an emergency schedule waiting for a second approver")
    confirmed_by: str | None = Field(description="who confirmed an emergency schedule")
    created_by: str
    recurrence: str = Field("", description="RFC 5545 text")
    next_plays_ms: list[int] = Field([], description="the next plays (UTC ms), at most 10")


@router.post("/bulletins", response_model=BulletinPublic, status_code=201, summary="Draft a bulletin")
async def create_bulletin(body: BulletinCreate, services: ServicesDep, principal: Scheduler) -> Bulletin:
    """A draft from a library file, or from text (spoken in the background: `preparing` until done)."""
    area_id = body.area_id or principal.area_id
    if area_id is None:
        raise DomainError("area_required", "give the bulletin's area_id", 422, "area_id")
    ensure_in_scope(principal, area_id)
    if body.relay_url is not None:
        await ensure_station_allowed(services, body.relay_url, "relay_url")
    fields = body.model_dump() | {"area_id": area_id}
    if body.text is not None:
        fields["text"] = speech.clean_text(body.text)
    with services.db.session() as session:
        bulletin = bulletins.create(session, principal.username, fields)
    if bulletin.text is not None and bulletin.media_sha256 is None:
        bulletin.job_id = await _speak(services, principal, bulletin)
        with services.db.session() as session:
            stored = session.get(Bulletin, bulletin.id)
            if stored is not None and stored.job_id is None:
                stored.job_id = bulletin.job_id
    return bulletin


async def _speak(services: Services, principal: Principal, bulletin: Bulletin) -> str:
    ingest = Ingest(title=bulletin.title, kind="speech", actor=principal.username, area_id=bulletin.area_id,
                    text=bulletin.text)

    async def job(progress: Any) -> dict[str, Any]:
        try:
            item = await library.from_text(services, services.speech, ingest, progress)
        except JobFailed as exc:
            with services.db.session() as session:
                bulletins.media_ready(session, bulletin.id, None, str(exc))
            raise
        with services.db.session() as session:
            bulletins.media_ready(session, bulletin.id, item["sha256"], None)
        return item

    return await services.jobs.start(bulletins.SPEECH_JOB, principal.username, job, subject=bulletin.id)


@router.get("/bulletins", response_model=list[BulletinPublic], summary="List bulletins in your scope")
async def list_bulletins(
    services: ServicesDep, principal: ViewerDep,
    status_filter: Annotated[str | None, Query(alias="status", pattern="^[a-z]{1,16}$")] = None,
) -> list[Bulletin]:
    """Newest first; filter by status (for example `pending`, for approvers)."""
    with services.db.session() as session:
        query = select(Bulletin).order_by(Bulletin.created_at.desc())
        if status_filter:
            query = query.where(Bulletin.status == status_filter)
        return [b for b in session.scalars(query) if principal.can_see(b.area_id)]


@router.get("/bulletins/{bulletin_id}", response_model=BulletinPublic, summary="Get a bulletin")
async def get_bulletin(bulletin_id: str, services: ServicesDep, principal: ViewerDep) -> Bulletin:
    """One bulletin in your scope."""
    return _visible(services, principal, bulletin_id)


@router.post("/bulletins/{bulletin_id}/submit", response_model=BulletinPublic, summary="Submit for approval")
async def submit_bulletin(bulletin_id: str, services: ServicesDep, principal: Scheduler) -> Bulletin:
    """Approved at once where the area needs no approval; else pending for an approver."""
    _visible(services, principal, bulletin_id)
    with services.db.session() as session:
        bulletin = session.get(Bulletin, bulletin_id)
        assert bulletin is not None
        return bulletins.submit(session, principal.username, bulletin)


@router.post("/bulletins/{bulletin_id}/approve", response_model=BulletinPublic, summary="Approve")
async def approve_bulletin(bulletin_id: str, body: Decision, services: ServicesDep,
                           principal: Approver) -> Bulletin:
    """An approver of the bulletin's area approves it (not their own)."""
    return await _decide(services, principal, bulletin_id, True, body.note)


@router.post("/bulletins/{bulletin_id}/reject", response_model=BulletinPublic, summary="Reject")
async def reject_bulletin(bulletin_id: str, body: Decision, services: ServicesDep,
                          principal: Approver) -> Bulletin:
    """An approver sends it back with a note; its author may change and submit it again."""
    return await _decide(services, principal, bulletin_id, False, body.note)


async def _decide(services: Services, principal: Principal, bulletin_id: str, approve: bool,
                  note: str) -> Bulletin:
    _visible(services, principal, bulletin_id)
    with services.db.session() as session:
        bulletin = session.get(Bulletin, bulletin_id)
        assert bulletin is not None
        decided = bulletins.decide(session, principal.username, bulletin, approve, note)
    await note_change(services.redis)
    return decided


@router.post("/bulletins/{bulletin_id}/schedules", response_model=SchedulePublic, status_code=201,
             summary="Schedule an approved bulletin")
async def create_schedule(bulletin_id: str, body: ScheduleCreate, services: ServicesDep, airtime: AirtimeDep,
                          principal: PrincipalDep) -> SchedulePublic:
    """Once, daily, weekly, on dates or by RRULE, to areas and devices in your scope.

    The airtime gate decides first (docs/airtime.md). Plays inside a target's quiet hours are
    refused (422 lists them) unless quiet_override is set. An emergency schedule is confirmed at
    scheduling: with `confirm_password`, or it waits for a second approver's
    `POST /schedules/{id}/confirm` and plays nothing until then. The scheduler publishes the
    plays of the coming days within a second or two.
    """
    confirmation = await _decided(airtime, principal, _visible(services, principal, bulletin_id), body)
    with services.db.session() as session:
        bulletin = session.get(Bulletin, bulletin_id)
        assert bulletin is not None
        schedule = schedules.create(session, principal.username, bulletin, _fields(body), confirmation)
        session.flush()
        public = describe(schedule)
    await note_change(services.redis)
    return public


async def _decided(airtime: Airtime, principal: Principal, bulletin: Bulletin,
                   body: ScheduleCreate) -> Confirmation:
    """Ask the airtime gate; the schedule's confirmation: who confirmed by password, or awaiting."""
    grant = await airtime.authorise_schedule(principal, bulletin, body.area_ids, body.device_ids,
                                             body.quiet_override, body.confirm_password)
    if grant.confirmation == "second_approver":
        return schedules.AWAITING
    return principal.username if grant.confirmed_by_password else None


def _fields(body: ScheduleCreate) -> dict[str, Any]:
    return body.model_dump(exclude={"confirm_password"})


@router.get("/schedules", response_model=list[SchedulePublic], summary="List schedules in your scope")
async def list_schedules(services: ServicesDep, principal: ViewerDep) -> list[SchedulePublic]:
    """Active schedules (and those awaiting a second approver) whose bulletin belongs to your scope."""
    with services.db.session() as session:
        rows = session.execute(select(Schedule, Bulletin).join(Bulletin).where(
            or_(Schedule.active.is_(True), Schedule.awaiting_confirmation.is_(True))))
        return [describe(s) for s, b in rows if principal.can_see(b.area_id)]


@router.delete("/schedules/{schedule_id}", status_code=204, summary="Stop a schedule")
async def stop_schedule(schedule_id: str, services: ServicesDep, principal: Scheduler) -> None:
    """Its future plays are withdrawn from the devices within seconds."""
    with services.db.session() as session:
        schedule = session.get(Schedule, schedule_id)
        bulletin = session.get(Bulletin, schedule.bulletin_id) if schedule else None
        if schedule is None or bulletin is None:
            raise DomainError("unknown_schedule", "no such schedule", 404)
        ensure_in_scope(principal, bulletin.area_id)
        schedules.deactivate(session, principal.username, schedule)
    await note_change(services.redis)


@router.put("/schedules/{schedule_id}", response_model=SchedulePublic, summary="Edit a schedule")
async def replace_schedule(schedule_id: str, body: ScheduleCreate, services: ServicesDep, airtime: AirtimeDep,
                           principal: PrincipalDep) -> SchedulePublic:
    """Give a schedule new times or targets: the answer is a new schedule (a new id) that takes the
    old one's place in one step; the old one is stopped. Checked like a new schedule."""
    with services.db.session() as session:
        old = session.get(Schedule, schedule_id[:48])
        bulletin = session.get(Bulletin, old.bulletin_id) if old else None
    if old is None or bulletin is None:
        raise DomainError("unknown_schedule", "no such schedule", 404)
    ensure_in_scope(principal, bulletin.area_id)
    confirmation = await _decided(airtime, principal, bulletin, body)
    with services.db.session() as session:
        old = session.get(Schedule, schedule_id[:48])
        assert old is not None
        schedule = schedules.replace(session, principal.username, old, bulletin, _fields(body), confirmation)
        session.flush()
        public = describe(schedule)
    await note_change(services.redis)
    return public


@router.post("/schedules/{schedule_id}/confirm", response_model=SchedulePublic,
             summary="Confirm an emergency schedule as the second approver")
async def confirm_schedule(schedule_id: str, services: ServicesDep, airtime: AirtimeDep,
                           principal: PrincipalDep) -> SchedulePublic:
    """Someone other than its author, with approval rights over its targets, lets it play."""
    with services.db.session() as session:
        schedule = session.get(Schedule, schedule_id[:48])
        bulletin = session.get(Bulletin, schedule.bulletin_id) if schedule else None
        if schedule is None or bulletin is None or not principal.can_see(bulletin.area_id) or not all(
                principal.can_see(area) for area in schedules.target_areas(session, schedule)):
            raise DomainError("unknown_schedule", "no such schedule", 404)
        airtime.confirm_schedule(principal, schedule)
        schedules.confirm(session, principal.username, schedule)
        public = describe(schedule)
    await note_change(services.redis)
    return public


@router.get("/schedule-preview", response_model=list[preview.Play], summary="What plays where on a day")
async def schedule_preview(
    services: ServicesDep, principal: ViewerDep,
    area_id: Annotated[str, Query(max_length=48)], day: Annotated[CalendarDay, Query(alias="date")],
) -> list[preview.Play]:
    """Every play reaching the area's devices that day (from its own schedules, those of the areas above
    and below it), in local time, with quiet hours and overlaps marked."""
    ensure_in_scope(principal, area_id)
    with services.db.session() as session:
        if session.get(Area, area_id) is None:
            raise DomainError("unknown_area", "no such area", 404)
        return preview.day(session, area_id, day)


def describe(schedule: Schedule) -> SchedulePublic:
    """A schedule with its recurrence text and next plays."""
    public = SchedulePublic.model_validate(schedule)
    try:
        recurrence = schedules.recurrence_of(schedule)
        public.recurrence = recurrence.describe()
        now = int(datetime.now().timestamp() * 1000)
        public.next_plays_ms = recurrence.between(now, now + 366 * 86_400_000)[:10]
    except ValueError:
        pass
    return public


def _visible(services: Services, principal: Principal, bulletin_id: str) -> Bulletin:
    with services.db.session() as session:
        bulletin = session.get(Bulletin, bulletin_id[:48])
    if bulletin is None:
        raise DomainError("unknown_bulletin", "no such bulletin", 404)
    ensure_in_scope(principal, bulletin.area_id)
    return bulletin
