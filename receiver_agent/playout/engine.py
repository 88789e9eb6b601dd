"""The playout engine: asks the arbiter what to do every few milliseconds and does it.

It owns the item on air (a player task), the background programme under it (the bed, mixed
lowered under an announcement), the interrupted items, the amplifier and the receipts: every
outcome becomes a signed device event, written to disk before it is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loalang_protocol.chunks import AudioChunk
from loalang_protocol.messages import Occurrence, StreamSource

from ..amplifier import Amplifier
from ..audio.microphone import Microphone
from ..audio.mixer import Channel, Mixer
from ..audio.sink import SAMPLE_RATE, AudioSink
from ..hearing.analysis import unknown
from ..hearing.check import JUDGED_S, HearingCheck, Played
from ..media.cache import DownloadError, MediaCache
from ..timekeeper import TimeKeeper
from ..waiting import wait_at_most
from .arbiter import Drop, Interrupt, Interrupted, Item, Level, Playing, Situation, Start, decide
from .decoder import DecodeError, PcmSource
from .player import Player, Progress
from .schedule import Schedule
from .silence import SilentDecoder
from .sources import open_source
from .stream import StreamPlayer

if TYPE_CHECKING:
    from ..streams import StreamReceiver

log = logging.getLogger(__name__)

TICK_S = 0.02
LOOKAHEAD_MS = 60
IDLE_S = 1.0
QUIET_S = 5.0  # nothing scheduled, nothing playing (the amplifier's watchdog allows 10 s)
PREPARE_MS = 2000  # decoders start this long before their item, so the start never waits for ffmpeg
FETCH_INTERVAL_S = 2.0
FETCH_HORIZON_MS = 48 * 3600 * 1000
MAX_DECODER_RESTARTS = 2
DROP_RECEIPTS = {"late": "missed", "time_unknown": "missed", "media_missing": "missed",
                 "quiet_hours": "skipped", "preempted": "preempted"}
Recorder = Callable[[str, dict[str, Any]], Coroutine[Any, Any, None]]


@dataclass
class Prepared:
    """A decoder started ahead of its item, with its first PCM already read."""

    decoder: PcmSource
    task: asyncio.Task[bytes]
    attention: bool  # made with the attention signal, the file being missing then


@dataclass
class Current:
    """The item on air."""

    item: Item
    occurrence: Occurrence
    start_position_ms: int
    task: asyncio.Task[None]
    decoder: PcmSource | None  # None for a live stream, which decodes its own chunks
    progress: Progress = field(default_factory=Progress)
    restarts: int = 0
    attention: bool = False  # the attention signal stands in for a file still missing
    on_bed: bool = False  # a background programme, on the mixer's bed


class Engine:
    """Runs the schedule on the sound card."""

    def __init__(self, schedule: Schedule, cache: MediaCache, sink: AudioSink, amplifier: Amplifier,
                 timekeeper: TimeKeeper, record: Recorder, attention: Path,
                 volume: Callable[[], int], emergency_floor: int = 90, decode: bool = True,
                 microphone: Microphone | None = None) -> None:
        self.schedule = schedule
        self.cache = cache
        self.sink = sink
        self.amplifier = amplifier
        self.time = timekeeper
        self.record = record
        self.attention = attention
        self.volume = volume
        self.emergency_floor = emergency_floor
        self.decode = decode  # False in a large simulation: silence of the right length, no ffmpeg
        self.hearing = HearingCheck(microphone) if microphone is not None else None
        opening_s = JUDGED_S if self.hearing is not None else 0.0
        self.mixer = Mixer(sink)
        self.player = Player(self.mixer.main, clock_ms=timekeeper.now_ms, keep_opening_s=opening_s)
        self.bed_player = Player(self.mixer.bed, clock_ms=timekeeper.now_ms)
        self._hearing_checks: set[asyncio.Task[None]] = set()
        self._volume_set = 0
        self.current: Current | None = None  # on air in the announcement slot
        self.bed: Current | None = None  # the background programme
        self.interrupted: dict[str, Interrupted] = {}
        self._reported_failures: set[tuple[str, str]] = set()
        self._prepared: dict[str, Prepared] = {}
        self._attention_sounded: set[str] = set()
        self._downloading_reported: set[str] = set()
        self._wake = asyncio.Event()
        self._fetch_wake = asyncio.Event()
        self.streams: StreamReceiver | None = None  # set by the agent
        self._stream_players: dict[str, StreamPlayer] = {}
        self._streams_started: set[str] = set()

    # -- the loop ----------------------------------------------------------------------------

    async def run(self) -> None:
        """Tick until cancelled; downloads run beside it."""
        fetcher = asyncio.create_task(self._fetch_loop())
        try:
            while True:
                self.amplifier.heartbeat()
                self.time.update()
                try:
                    await self.tick()
                except Exception:
                    log.exception("playout tick failed; going on")
                self._wake.clear()
                await wait_at_most(self._wake, self._pause_s())
        finally:
            fetcher.cancel()
            for check in list(self._hearing_checks):
                check.cancel()
            await self.stop_current()
            await self.stop_bed()
            await self.mixer.close()
            for item_id in list(self._prepared):
                await self._discard_prepared(item_id)
            self.amplifier.force_off()

    @property
    def on_air(self) -> Current | None:
        """What is heard now: the announcement, else the background programme."""
        return self.current or self.bed

    def next_item(self) -> Item | None:
        """The next pending occurrence to start, for telemetry and the status page."""
        now = self.time.now_ms()
        upcoming = [item for _, item in self.schedule.pending() if item.start_ms > now]
        return min(upcoming, key=lambda item: item.start_ms, default=None)

    def wake(self) -> None:
        """Look again now (the schedule changed), and for files to fetch."""
        self._wake.set()
        self._fetch_wake.set()

    def _pause_s(self) -> float:
        """Sleep until the next thing to do, up to IDLE_S: a decoder to prepare, an amplifier to
        switch on, a start to decide. The player times a start itself, so an item handed to it is
        no reason to tick. Tick fast only at a start, while a stream plays and while an item waits
        to resume. The end of a play and a change of schedule wake the loop at once. (A board
        spares its CPU; a simulator wakes each of its thousands a few times around a start instead
        of thirty.)"""
        if self.interrupted or self._streams_started:
            return TICK_S
        now = self.time.now_ms()
        pending = [item for _, item in self.schedule.pending()]
        if not pending and self.current is None and self.bed is None and not self._prepared:
            return QUIET_S
        playing = self._on_air()
        starts = [item.start_ms for item in pending if item.start_ms > now and item.id not in playing]
        if self._prepared and not starts:
            return TICK_S  # a prepared item is due
        if any(start - LOOKAHEAD_MS <= now for start in starts):
            return TICK_S  # a start to decide now
        amplifier_ms = self.amplifier.lead_s * 1000 + LOOKAHEAD_MS
        moments = (PREPARE_MS, amplifier_ms, LOOKAHEAD_MS)  # before each start
        wakes = [start - ahead for start in starts for ahead in moments if start - ahead > now]
        if not wakes:
            return IDLE_S
        return max(TICK_S, min(IDLE_S, (min(wakes) - now) / 1000))

    async def tick(self) -> None:
        """One decision."""
        now = self.time.now_ms()
        if self.streams is not None:
            await self.streams.sync()
        finished = await self._collect_finished()
        bed_finished = await self._collect_bed_finished()
        await self._stop_withdrawn()
        items = await self._playable_items(now)
        self._prepare_amplifier(items, now)
        await self._prepare_decoders(items, now)
        await self._end_streams_gone(now)
        self.mixer.set_ducking_db(self.schedule.ducking_db())
        situation = Situation(
            now_ms=now + LOOKAHEAD_MS, playing=self._playing(self.current), bed=self._playing(self.bed),
            pending=tuple(items), interrupted=self._interrupted_now(),
            quiet_hours=self.schedule.quiet_at(now),
            time_known=self.time.known, time_known_since_ms=self.time.known_since_ms,
            playing_finished=finished, bed_finished=bed_finished,
        )
        for action in decide(situation):
            if isinstance(action, Start):
                await self._start(action.item, action.position_ms, now)
            elif isinstance(action, Interrupt):
                await self._interrupt(action.item, action.position_ms)
            elif isinstance(action, Drop):
                await self._drop(action.item, action.reason, action.position_ms)
        await self._arm(situation, now)

    def _playing(self, slot: Current | None) -> Playing | None:
        return Playing(slot.item, self._position_ms(slot)) if slot is not None else None

    def _interrupted_now(self) -> tuple[Interrupted, ...]:
        """The interrupted items as the schedule has them now: an item is kept as it was when it
        started playing, and a relay's or a live stream's lease has been renewed since."""
        if not self.interrupted:
            return ()
        current = {item.id: item for _, item in self.schedule.pending()}
        return tuple(replace(cut, item=current.get(cut.item.id, cut.item))
                     for cut in self.interrupted.values())

    async def _arm(self, situation: Situation, now: int) -> None:
        """On a free air, hand a file's start to the player as the amplifier switches on, not at the
        last moment: the player waits for the instant itself, and a busy moment just before it (a
        slow board, thousands of simulated receivers in one process) no longer makes it late.
        Only a start is taken from this early look; what it would cut, drop or resume is decided
        at the usual moment, and an item that arrives meanwhile still interrupts the armed one."""
        if self.current is not None or self.interrupted or not self.time.known:
            return
        ahead = int(self.amplifier.lead_s * 1000) + LOOKAHEAD_MS
        if self.bed is not None:  # an announcement over the bed goes in behind what the card holds
            ahead += self.mixer.bed.delay_frames() // (SAMPLE_RATE // 1000)
        files = tuple(item for item in situation.pending
                      if not item.stream and situation.now_ms < item.start_ms <= now + ahead
                      and (self.bed is None or item.level != Level.BACKGROUND))
        if not files:
            return  # nothing in the window: no early look on this tick
        early = replace(situation, now_ms=now + ahead, playing=None, pending=files, interrupted=(),
                        quiet_hours=self.schedule.quiet_at(now + ahead), playing_finished=False)
        for action in decide(early):
            if isinstance(action, Start) and action.position_ms == 0 and action.item.start_ms > now:
                await self._start(action.item, 0, now)
                return

    async def _playable_items(self, now: int) -> list[Item]:
        """Pending items whose audio is at hand; those whose file never came are missed.

        An emergency whose file is missing is playable once with the attention signal instead,
        and again with its file when the file arrives in time.
        """
        playable = []
        for occurrence, item in self.schedule.pending():
            if item.id in self.interrupted or item.id in self._on_air():
                continue
            if item.stream:
                if self._stream_flowing(occurrence):
                    playable.append(item)
                continue  # a silent stream waits (its lease decides when it is over)
            if self._file_missing(occurrence):
                if item.level == Level.EMERGENCY and item.id not in self._attention_sounded:
                    playable.append(item)
                elif item.too_late(now) and self.time.known:
                    await self._drop(item, "media_missing")
                continue
            playable.append(item)
        return playable

    def _on_air(self) -> set[str]:
        """The ids of what plays now, in either slot."""
        return {slot.item.id for slot in (self.current, self.bed) if slot is not None}

    def _stream_flowing(self, occurrence: Occurrence) -> bool:
        source = occurrence.source
        return isinstance(source, StreamSource) and self.streams is not None and self.streams.fresh(
            source.stream)

    def _file_missing(self, occurrence: Occurrence) -> bool:
        return occurrence.source.type == "media" and not self.cache.has(occurrence.source.sha256)

    def _prepare_amplifier(self, items: list[Item], now: int) -> None:
        if not self.time.known or self.current is not None or self.bed is not None:
            return
        lead_ms = self.amplifier.lead_s * 1000
        quiet = self.schedule.quiet_at(now)
        if any(now <= item.start_ms <= now + lead_ms + LOOKAHEAD_MS
               and (not quiet or item.level == Level.EMERGENCY or item.quiet_override) for item in items):
            self.amplifier.switch_on()

    async def _prepare_decoders(self, items: list[Item], now: int) -> None:
        wanted = {item.id for item in items if now < item.start_ms <= now + PREPARE_MS and not item.stream}
        for item_id in list(self._prepared):
            if item_id not in wanted and not any(i.id == item_id and i.start_ms <= now for i in items):
                await self._discard_prepared(item_id)
        for item_id in wanted - set(self._prepared):
            occurrence = self.schedule.occurrence(item_id)
            if occurrence is None:
                continue
            decoder = self._decoder(occurrence, 0)
            await decoder.start()
            self._prepared[item_id] = Prepared(decoder, asyncio.create_task(self.player.preroll(decoder)),
                                               self._file_missing(occurrence))

    async def _discard_prepared(self, item_id: str) -> None:
        prepared = self._prepared.pop(item_id, None)
        if prepared is not None:
            prepared.task.cancel()
            await prepared.decoder.stop()

    # -- actions -----------------------------------------------------------------------------

    async def _start(self, item: Item, position_ms: int, now: int) -> None:
        occurrence = self.schedule.occurrence(item.id)
        if occurrence is None:
            return
        if isinstance(occurrence.source, StreamSource):
            await self._start_stream(item, occurrence, occurrence.source)
            return
        resumed = item.id in self.interrupted
        self.interrupted.pop(item.id, None)
        start_at = max(item.start_ms, now) if not resumed else now
        if not self.amplifier.on:
            self.amplifier.switch_on()
            start_at = max(start_at, now + int(self.amplifier.lead_s * 1000))
        self._set_volume_for(item)
        prepared = self._prepared.pop(item.id, None) if position_ms == 0 else None
        if prepared is not None and prepared.attention != self._file_missing(occurrence):
            prepared.task.cancel()
            await prepared.decoder.stop()  # the file arrived (or went) since the decoder was made
            prepared = None
        first: bytes | None = None
        if prepared is not None:
            decoder = prepared.decoder
            try:
                first = await prepared.task
            except DecodeError:
                await decoder.stop()
                prepared = None
        if prepared is None:
            decoder = self._decoder(occurrence, position_ms)
            await decoder.start()
        attention = self._file_missing(occurrence)
        if attention:
            self._attention_sounded.add(item.id)
        progress = Progress()
        on_bed = item.level == Level.BACKGROUND
        player = self.bed_player if on_bed else self.player
        (self.mixer.bed if on_bed else self.mixer.main).reserve()
        task = asyncio.create_task(
            self._play(player, decoder, start_at, progress, occurrence, position_ms, resumed, first,
                       attention))
        task.add_done_callback(lambda _: self._wake.set())  # its end is looked at at once
        self._take_slot(Current(item, occurrence, position_ms, task, decoder, progress, attention=attention,
                                on_bed=on_bed))

    def _take_slot(self, current: Current) -> None:
        if current.on_bed:
            self.bed = current
        else:
            self.current = current

    async def _play(self, player: Player, decoder: PcmSource, start_at: float, progress: Progress,
                    occurrence: Occurrence, position_ms: int, resumed: bool, first: bytes | None,
                    attention: bool) -> None:
        def started(at_ms: float) -> None:
            data = {"occurrence": occurrence.id, "position_ms": position_ms, "at_ms": int(at_ms),
                    "late_ms": int(at_ms - occurrence.start_ms) if not resumed else None,
                    "audio": "attention_signal" if attention else occurrence.source.type}
            asyncio.get_running_loop().create_task(self.record("resumed" if resumed else "started", data))

        await player.play(decoder, start_at, progress, started, first)

    def _set_volume_for(self, item: Item) -> None:
        """The device's volume, raised to the emergency floor for an emergency."""
        emergency = item.level == Level.EMERGENCY
        self._volume_set = max(self.volume(), self.emergency_floor) if emergency else self.volume()
        self.sink.set_volume(self._volume_set)

    async def _start_stream(self, item: Item, occurrence: Occurrence, source: StreamSource) -> None:
        """Play a live stream from its newest chunks; it ends when the stream falls silent."""
        assert self.streams is not None
        resumed = item.id in self.interrupted or item.id in self._streams_started
        self.interrupted.pop(item.id, None)
        if not self.amplifier.on:
            self.amplifier.switch_on()
        self._set_volume_for(item)
        on_bed = item.level == Level.BACKGROUND
        channel = self.mixer.bed if on_bed else self.mixer.main
        player = StreamPlayer(channel, source.latency_ms, clock_ms=self.time.precise_ms,
                              gain=self.sink.software_gain, name=f"stream {source.stream}")
        for chunk in self.streams.take(source.stream):
            player.put(chunk)
        self._stream_players[source.stream] = player
        self._streams_started.add(item.id)
        await self.record("resumed" if resumed else "started", {
            "occurrence": occurrence.id, "position_ms": 0, "at_ms": self.time.now_ms(),
            "late_ms": None, "audio": "stream"})
        task = asyncio.create_task(self._play_stream(player, source.stream))
        task.add_done_callback(lambda _: self._wake.set())
        self._take_slot(Current(item, occurrence, 0, task, None, on_bed=on_bed))

    async def _play_stream(self, player: StreamPlayer, stream_id: str) -> None:
        try:
            await player.play()
        finally:
            if self._stream_players.get(stream_id) is player:
                del self._stream_players[stream_id]

    def on_stream_chunk(self, stream_id: str, chunk: AudioChunk) -> bool:
        """A verified chunk: to the stream's player when it plays (True), else a reason to look again."""
        player = self._stream_players.get(stream_id)
        if player is None:
            self.wake()
            return False
        player.put(chunk)
        return True

    async def _end_streams_gone(self, now: int) -> None:
        """A live stream withdrawn is over (recorded completed); one whose lease ran out only pauses.

        A lease runs out when the controller could not renew it in time (the network was gone for
        longer than the lease): once it is renewed the stream plays again.
        """
        for item_id in list(self._streams_started):
            occurrence = self.schedule.occurrence(item_id)
            lease_ms = occurrence.valid_until_ms if occurrence is not None else None
            if occurrence is not None and (lease_ms is None or now < lease_ms):
                continue
            if item_id in self._on_air():
                await self._stop_slot_of(item_id)
                self._release_amplifier()
            if occurrence is None:
                self.interrupted.pop(item_id, None)
                self._streams_started.discard(item_id)
                await self.record("completed", {"occurrence": item_id})

    def _position_ms(self, current: Current) -> int:
        if current.decoder is None:
            return 0
        player = self.bed_player if current.on_bed else self.player
        return player.position_ms(current.progress, current.start_position_ms)

    def _decoder(self, occurrence: Occurrence, position_ms: int) -> PcmSource:
        if not self.decode:
            return SilentDecoder(occurrence.duration_ms - position_ms, occurrence.id)
        source = occurrence.source
        media = self.cache.path(source.sha256) if source.type == "media" and self.cache.has(source.sha256) \
            else None  # None: the attention signal stands in for an emergency's missing file
        return open_source(occurrence, position_ms, self.sink.software_gain, media, self.attention)

    async def _interrupt(self, item: Item, position_ms: int) -> None:
        await self._stop_slot_of(item.id)
        self.interrupted[item.id] = Interrupted(item, position_ms)
        await self.record("interrupted", {"occurrence": item.id, "position_ms": position_ms})

    async def _drop(self, item: Item, reason: str, position_ms: int = 0) -> None:
        self.interrupted.pop(item.id, None)
        await self._discard_prepared(item.id)
        self.schedule.mark_done(item.id)
        receipt = DROP_RECEIPTS.get(reason, "missed")
        await self.record(receipt, {"occurrence": item.id, "reason": reason, "position_ms": position_ms})
        log.info("occurrence %s %s (%s)", item.id, receipt, reason)

    async def stop_all(self, reason: str) -> list[str]:
        """Silence now: stop the item on air and drop the interrupted ones, each with a `stopped` receipt."""
        slots = [slot for slot in (self.current, self.bed) if slot is not None]
        stopped = [(slot.item.id, self._position_ms(slot)) for slot in slots]
        stopped += [(item_id, waiting.cut_at_ms) for item_id, waiting in self.interrupted.items()]
        self.interrupted.clear()
        for item_id, _ in stopped:
            self.schedule.mark_done(item_id)  # first: a tick running meanwhile must not start them again
            self._streams_started.discard(item_id)
        await self.stop_current()
        await self.stop_bed()
        for item_id, position in stopped:
            await self.record("stopped", {"occurrence": item_id, "position_ms": position, "reason": reason})
        if stopped:
            self.amplifier.release()
            log.info("stopped %s (%s)", ", ".join(item_id for item_id, _ in stopped), reason)
        self.wake()
        return [item_id for item_id, _ in stopped]

    async def _stop_withdrawn(self) -> None:
        """A file item the controller withdrew (its broadcast stopped) falls silent now, and one
        waiting to resume never does; each gets a `stopped` receipt. (A stop command does this at
        once; the withdrawal does it too when that command was lost, for example while the broker
        was away. Live streams end by their own rule: _end_streams_gone.)"""
        withdrawn: list[tuple[str, int]] = []
        for slot in (self.current, self.bed):
            if slot is not None and not slot.item.stream and self.schedule.occurrence(slot.item.id) is None:
                withdrawn.append((slot.item.id, self._position_ms(slot)))
                await self._stop_slot_of(slot.item.id)
                self._release_amplifier()
        for item_id, waiting in list(self.interrupted.items()):
            if not waiting.item.stream and self.schedule.occurrence(item_id) is None:
                del self.interrupted[item_id]
                withdrawn.append((item_id, waiting.cut_at_ms))
        for item_id, position in withdrawn:
            await self.record("stopped", {"occurrence": item_id, "position_ms": position,
                                          "reason": "withdrawn"})
            log.info("occurrence %s stopped (withdrawn)", item_id)

    async def stop_current(self) -> None:
        """Stop the item on air in the announcement slot at once (flushing its audio)."""
        current, self.current = self.current, None
        await self._stop(current, self.mixer.main)

    async def stop_bed(self) -> None:
        """Stop the background programme at once."""
        bed, self.bed = self.bed, None
        await self._stop(bed, self.mixer.bed)

    async def _stop_slot_of(self, item_id: str) -> None:
        if self.bed is not None and self.bed.item.id == item_id:
            await self.stop_bed()
        elif self.current is not None and self.current.item.id == item_id:
            await self.stop_current()

    @staticmethod
    async def _stop(slot: Current | None, channel: Channel) -> None:
        if slot is None:
            return
        slot.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, DecodeError):
            await slot.task
        channel.flush()
        if slot.decoder is not None:
            await slot.decoder.stop()

    def _release_amplifier(self) -> None:
        """Audio ended: the amplifier may go off after its hold, unless the other slot still plays."""
        if self.current is None and self.bed is None:
            self.amplifier.release()

    async def _collect_finished(self) -> bool:
        """Whether the announcement slot's item ended (its receipt recorded)."""
        current = self.current
        if current is None or not current.task.done():
            return False
        self.current = None
        self.mixer.main.release()
        return await self._ended(current)

    async def _collect_bed_finished(self) -> bool:
        """Whether the background programme ended."""
        bed = self.bed
        if bed is None or not bed.task.done():
            return False
        self.bed = None
        self.mixer.bed.release()
        return await self._ended(bed)

    async def _ended(self, current: Current) -> bool:
        """Record how an item that stopped by itself ended; a decoder that failed restarts."""
        error = None if current.task.cancelled() else current.task.exception()
        if current.decoder is None:
            return self._stream_paused(current, error)
        await current.decoder.stop()
        if error is None and current.attention:
            log.info("occurrence %s: attention signal sounded; its file is awaited", current.item.id)
        elif error is None:
            self.schedule.mark_done(current.item.id)
            checking = self._check_heard(current)
            await self.record("completed", {"occurrence": current.item.id,
                                            "heard": "pending" if checking else "unknown"})
        elif isinstance(error, DecodeError) and current.restarts < MAX_DECODER_RESTARTS:
            position = self._position_ms(current)
            log.warning("occurrence %s: decoder failed, restarting at %s ms", current.item.id, position)
            self.interrupted[current.item.id] = Interrupted(current.item, position)
            return True
        else:
            self.schedule.mark_done(current.item.id)
            await self.record("failed", {"occurrence": current.item.id, "reason": str(error)[:200]})
        self._release_amplifier()
        return True

    def _check_heard(self, current: Current) -> bool:
        """Start the hearing check of a play that ended (a `heard` event follows); False without a
        microphone or without audio to judge."""
        progress = current.progress
        if self.hearing is None or not progress.opening or progress.started_system_s is None:
            return False
        mixer = self._volume_set if self.sink.software_gain == 1.0 else None
        # the system clock's start, taken at the start: the agent's time may have moved since
        played = Played(progress.started_system_s, bytes(progress.opening), mixer)
        check = asyncio.create_task(self._report_heard(current.item.id, played))
        self._hearing_checks.add(check)
        check.add_done_callback(self._hearing_checks.discard)
        return True

    async def _report_heard(self, item_id: str, played: Played) -> None:
        assert self.hearing is not None
        try:
            verdict = await self.hearing.verdict(played)
        except Exception:
            log.exception("occurrence %s: the hearing check failed", item_id)
            verdict = unknown("check_failed")
        if verdict.verdict == "no":
            log.warning("occurrence %s played but not heard (%s)", item_id, verdict.reason)
        await self.record("heard", {"occurrence": item_id, **verdict.as_receipt()})

    def _stream_paused(self, current: Current, error: BaseException | None) -> bool:
        """A stream that fell silent waits for its chunks (its lease decides when it is over)."""
        if error is not None:
            log.error("stream occurrence %s failed: %s", current.item.id, error)
        else:
            log.info("stream occurrence %s: silent, other sources may play", current.item.id)
        self._release_amplifier()
        return True

    # -- downloads ---------------------------------------------------------------------------

    def _forget_what_left_the_schedule(self) -> None:
        """What was told once per file or item (downloading, a failure, the attention signal) is kept
        only while the schedule holds it: a board runs for months, and these sets would grow by every
        bulletin it ever had."""
        ids, files = self.schedule.known()
        self._downloading_reported &= files
        self._reported_failures = {key for key in self._reported_failures if key[0] in files}
        self._attention_sounded &= ids

    async def _fetch_loop(self) -> None:
        while True:
            self._fetch_wake.clear()
            try:
                await self.fetch_due()
            except Exception:
                log.exception("media fetch round failed; going on")
            await wait_at_most(self._fetch_wake, FETCH_INTERVAL_S)  # a new schedule is looked at at once

    async def fetch_due(self) -> None:
        """Download what the schedule needs soonest, one file at a time."""
        self._forget_what_left_the_schedule()
        needed = self.schedule.media_needed(self.time.now_ms(), FETCH_HORIZON_MS)
        keep = {occ.source.sha256 for occ in needed if occ.source.type == "media"}
        for occurrence in needed:
            source = occurrence.source
            if source.type != "media" or self.cache.has(source.sha256):
                continue
            if not self.cache.may_try(source.sha256):
                continue
            if source.sha256 not in self._downloading_reported:
                self._downloading_reported.add(source.sha256)
                await self.record("downloading", {"sha256": source.sha256, "occurrence": occurrence.id})
            try:
                await asyncio.to_thread(self.cache.fetch, source.sha256, source.size, keep)
            except DownloadError as exc:
                key = (source.sha256, exc.reason)
                if key not in self._reported_failures:
                    self._reported_failures.add(key)
                    await self.record("download-failed", {"sha256": source.sha256, "reason": exc.reason,
                                                          "occurrence": occurrence.id})
            else:
                self._wake.set()  # an item waiting for this file may start now
                await self.record("downloaded", {"sha256": source.sha256, "size": source.size,
                                                 "occurrence": occurrence.id})

