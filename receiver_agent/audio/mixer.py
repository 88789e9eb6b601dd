"""Two sources on one sound card: an announcement over a background programme, the programme lowered.

The engine plays announcements on `main` and background programmes (a relayed station, music) on
`bed`; each channel is the AudioSink of its player. While only one of them is open, its writes go
straight to the card, exactly as without a mixer (the same delay, the same flush), so a play's
timing is untouched. While both are open, each write goes into its channel's queue and a pump mixes
the two queues into the card a few tens of milliseconds ahead, lowering the bed by the ducking gain
with short linear fades: down from the announcement's first sound (the silence a player writes
ahead of a start does not count), back up once the announcement has been over for HOLD_MS.

A channel's delay is where its next write will sound, as ALSA's is: the card's queue, the mix the
card has not taken yet and the channel's own queue; the item player times an announcement's start
over the bed exactly as over a free card. When one channel closes (and the bed is back at full
level) the other's queue goes to the card and the pump stops: a board pays for mixing only while
two sources sound.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import logging

from .sink import SAMPLE_BYTES, SAMPLE_RATE, AudioSink

log = logging.getLogger(__name__)

FRAMES_PER_MS = SAMPLE_RATE // 1000
MIX_AHEAD_FRAMES = 40 * FRAMES_PER_MS  # kept on the card while mixing: a cut-in is heard this soon
URGENT_FRAMES = 15 * FRAMES_PER_MS  # below this a channel with nothing ready is mixed as silence
MAX_QUEUE_BYTES = SAMPLE_RATE * SAMPLE_BYTES  # a second per channel; players keep well under it
PUMP_S = 0.01
DEFAULT_DUCKING_DB = -15
FADE_MS = 250
HOLD_MS = 500  # the bed stays down this long after an announcement, so two in a row are one dip
Q15 = 1 << 15


def gain_of(db: float) -> float:
    """A level in dB as an amplitude factor."""
    return float(10 ** (db / 20))


def mix_block(main: bytes, bed: bytes, gain: float, target: float, step: float) -> tuple[bytes, float]:
    """main plus bed times a gain moving from gain toward target by step a sample, clipped to 16
    bits; returns the mix and the gain reached. main and bed are the same length. (Gains are applied
    in Q15 integers and clipping only looked for when a sample needs it: 6 ms of CPU a second of
    audio on the test machine, against 20 with floats and a clip per sample.)"""
    voice, programme = array.array("h", main), array.array("h", bed)
    if gain == target:
        q = round(gain * Q15)
        mixed = [v + p for v, p in zip(voice, programme, strict=True)] if q == Q15 else \
            [v + (p * q >> 15) for v, p in zip(voice, programme, strict=True)]
    else:
        gains = _ramp(gain, target, step, len(voice))
        gain = gains[-1] if gains else gain
        mixed = [v + (p * round(g * Q15) >> 15) for v, p, g in zip(voice, programme, gains, strict=True)]
    if mixed and (max(mixed) > 32767 or min(mixed) < -32768):
        mixed = [max(-32768, min(32767, sample)) for sample in mixed]
    return array.array("h", mixed).tobytes(), gain


def _ramp(gain: float, target: float, step: float, count: int) -> list[float]:
    """count gains from gain toward target, step a sample, staying at target once there."""
    direction = 1.0 if target > gain else -1.0
    gains = []
    for _ in range(count):
        gain += direction * step
        if (gain - target) * direction >= 0:
            gain = target
        gains.append(gain)
    return gains


def first_sound(pcm: bytes) -> int | None:
    """The index of the first sample that is not silence, None when all are."""
    rest = pcm.lstrip(b"\0")
    return (len(pcm) - len(rest)) // SAMPLE_BYTES if rest else None


class Channel:
    """One source's way to the card (an AudioSink)."""

    def __init__(self, mixer: Mixer, name: str) -> None:
        self.mixer = mixer
        self.name = f"{mixer.card.name} ({name})"
        self.queue = bytearray()
        self.open = False  # reserved or written to since its last flush or release
        self.written = False  # written to since then
        self.software_gain = mixer.card.software_gain  # what the decoder multiplies by: the card's

    def write(self, pcm: bytes) -> int:
        """Queue PCM; the bytes accepted."""
        return self.mixer.write(self, pcm)

    def reserve(self) -> None:
        """A source will start here soon: mix from now on, so that what the card holds ahead of its
        start no longer grows while its player waits for the instant."""
        self.mixer.reserve(self)

    def delay_frames(self) -> int:
        """Frames ahead of this channel's next write."""
        return self.mixer.delay_frames(self)

    def flush(self) -> None:
        """Drop this channel's audio not yet on the card (and the card's queue when only it sounds)."""
        self.mixer.flush(self)

    def release(self) -> None:
        """Its player is done: what it queued still plays, then the other source is alone."""
        self.open = self.written = False

    def set_volume(self, percent: int) -> None:
        """The card's mixer."""
        self.mixer.card.set_volume(percent)

    def check(self) -> str:
        """The card's check."""
        return self.mixer.card.check()

    def close(self) -> None:
        """The card is closed by its owner, not by one of its sources."""


class Mixer:
    """The card's two sources: `main` (announcements and everything else) and `bed` (background)."""

    def __init__(self, card: AudioSink, ducking_db: float = DEFAULT_DUCKING_DB, fade_ms: int = FADE_MS,
                 hold_ms: int = HOLD_MS) -> None:
        self.card = card
        self.main = Channel(self, "main")
        self.bed = Channel(self, "bed")
        self.ducked_gain = gain_of(ducking_db)
        self.fade_frames = max(1, fade_ms * FRAMES_PER_MS)
        self.hold_frames = hold_ms * FRAMES_PER_MS
        self.bed_gain = 1.0  # the bed's gain on the last sample mixed
        self.mixed_frames = 0  # written to the card by the pump, for tests and telemetry
        self._since_main = 0  # frames mixed since main last had audio of its own in the mix
        self._voiced = False  # main has sounded, and not been over for the hold since: the bed is down
        self._pending = b""  # mixed, not yet taken by the card
        self._pump: asyncio.Task[None] | None = None
        self._card_holds: Channel | None = None  # whose audio the card has, outside mixing

    @property
    def mixing(self) -> bool:
        """Whether the two sources are being mixed now."""
        return self._pump is not None

    def set_ducking_db(self, db: float) -> None:
        """How far the bed goes down under an announcement (a fade takes it there)."""
        self.ducked_gain = gain_of(db)

    # -- what the channels ask ---------------------------------------------------------------

    def reserve(self, channel: Channel) -> None:
        channel.open = True
        if not self.mixing and self._other(channel).open:
            self._start_mixing()

    def write(self, channel: Channel, pcm: bytes) -> int:
        channel.open = channel.written = True
        if not self.mixing:
            if not self._other(channel).open:
                if self._pending:  # the end of the last mix goes first
                    self._pending = self._pending[self.card.write(self._pending):]
                    if self._pending:
                        return 0
                self._card_holds = channel
                return self.card.write(pcm)
            self._start_mixing()
        room = MAX_QUEUE_BYTES - len(channel.queue)
        taken = max(0, min(room, len(pcm)))
        taken -= taken % SAMPLE_BYTES
        channel.queue += pcm[:taken]
        return taken

    def delay_frames(self, channel: Channel) -> int:
        card = self.card.delay_frames()
        if not self.mixing:
            return card + len(self._pending) // SAMPLE_BYTES
        return card + (len(self._pending) + len(channel.queue)) // SAMPLE_BYTES

    def flush(self, channel: Channel) -> None:
        channel.queue.clear()
        channel.open = channel.written = False
        other = self._other(channel)
        if self._pump is not None and not other.open and not other.queue:
            self._pump.cancel()  # both stopped (a cut-in): nothing of the mix is left to hear
            self._pump = None
            self._card_holds = channel
        if not self.mixing and self._card_holds is channel:
            self.card.flush()
            self._pending = b""
            self.bed_gain = 1.0
        # while the other source goes on, the few tens of milliseconds already mixed play out

    def _other(self, channel: Channel) -> Channel:
        return self.bed if channel is self.main else self.main

    # -- the pump ----------------------------------------------------------------------------

    def _start_mixing(self) -> None:
        """A bed joining an announcement starts low; an announcement joining a bed fades it down."""
        joining_a_voice = self._card_holds is self.main
        self.bed_gain = self.ducked_gain if joining_a_voice else 1.0
        self._voiced = joining_a_voice
        self._since_main = 0
        self._pump = asyncio.get_running_loop().create_task(self._run(), name="mixer")

    async def _run(self) -> None:
        me = asyncio.current_task()
        try:
            while self._pump is me and not self._finished():
                self.pump()
                await asyncio.sleep(PUMP_S)
        except Exception:
            log.exception("mixing failed; the channels go to the card as they are")
        finally:
            if self._pump is me:  # not stopped by a flush meanwhile
                self._stop_mixing()

    def pump(self) -> None:
        """Mix what the card needs to keep MIX_AHEAD_FRAMES queued."""
        if self._pending:
            self._pending = self._pending[self.card.write(self._pending):]
            if self._pending:
                return
        ahead = self.card.delay_frames()
        wanted = MIX_AHEAD_FRAMES - ahead
        if wanted <= 0:
            return
        frames = self._frames_ready(ahead, wanted)
        if frames == 0:
            return
        main, main_frames = self._take(self.main, frames)
        bed, _ = self._take(self.bed, frames)
        mixed = self._mix(main, bed, main_frames)
        self.mixed_frames += frames
        self._pending = mixed[self.card.write(mixed):]

    def _mix(self, main: bytes, bed: bytes, main_frames: int) -> bytes:
        """Mix a block, the bed's fade starting at the announcement's first sound or ending the hold."""
        if main_frames:
            self._since_main = 0
        else:
            self._since_main += len(main) // SAMPLE_BYTES
            self._voiced = self._voiced and self._since_main < self.hold_frames
        onset = 0
        if not self._voiced and main_frames:
            sound = first_sound(main)
            self._voiced = sound is not None
            onset = sound if sound is not None else 0
        step = (1.0 - self.ducked_gain) / self.fade_frames
        cut = onset * SAMPLE_BYTES
        head, self.bed_gain = mix_block(main[:cut], bed[:cut], self.bed_gain, 1.0, step)
        target = self.ducked_gain if self._voiced else 1.0
        tail, self.bed_gain = mix_block(main[cut:], bed[cut:], self.bed_gain, target, step)
        return head + tail

    def _frames_ready(self, ahead: int, wanted: int) -> int:
        """As many frames as every channel that is writing has ready (kept in step); when the card is
        nearly dry, whatever one has, the other's gap mixed as silence."""
        queued = [len(c.queue) // SAMPLE_BYTES for c in (self.main, self.bed)]
        ready = [q for c, q in zip((self.main, self.bed), queued, strict=True) if c.open and c.written]
        frames = min(ready) if ready else max(queued)
        if frames == 0 and ahead < URGENT_FRAMES:
            frames = max(queued)
        return min(wanted, frames)

    @staticmethod
    def _take(channel: Channel, frames: int) -> tuple[bytes, int]:
        """frames of the channel's queue (silence where it has fewer) and how many were its own."""
        size = frames * SAMPLE_BYTES
        data = bytes(channel.queue[:size])
        del channel.queue[:size]
        return data + bytes(size - len(data)), len(data) // SAMPLE_BYTES

    def _finished(self) -> bool:
        """A source is over: main closed and played out with the bed back at full level, or the bed
        closed and played out."""
        main_over = not self.main.open and not self.main.queue and self.bed_gain == 1.0
        bed_over = not self.bed.open and not self.bed.queue
        return main_over or bed_over

    def _stop_mixing(self) -> None:
        """The source left goes straight to the card again, behind what was mixed."""
        self._pump = None
        left = self.main if self.main.open or self.main.queue else self.bed
        rest = self._pending + bytes(left.queue)
        left.queue.clear()
        accepted = self.card.write(rest)
        self._pending = rest[accepted:]
        self._card_holds = left
        self.bed_gain = 1.0

    async def close(self) -> None:
        """Stop the pump (the agent's end)."""
        pump, self._pump = self._pump, None
        if pump is not None:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump
