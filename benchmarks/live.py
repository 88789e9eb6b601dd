"""Live broadcasting at default settings: delay, timing against the latency, skew, overhead and CPU.

Starts the project's own Mosquitto, Redis and controller (LOALANG_LIVE_* left at their defaults)
and three receiver agents (separate processes with simulated sound cards) in one village, and
puts a live microphone broadcast on the air for it. A WebSocket client plays the console: it
sends 48 kHz mono s16le PCM in 20 ms blocks in real time, a -60 dBFS noise floor (a quiet
microphone) with a 30 ms burst (a chirp from 1 to 3 kHz, whose cross-correlation has one sharp
peak) every 700 ms. A second client subscribes to the stream's chunk topic with the controller's
broker account and decodes every chunk, which gives each burst's presentation time. Then, from
the cards' recordings (time log of every 10 ms period, sample offset inside it):

1. mouth to speaker: a burst's onset on a card minus the capture time of its first sample (the
   block holding it was sent, minus 20 ms, plus its place in the block);
2. controller to speaker: the onset minus the burst's presentation time, against the latency;
3. skew: pairwise cross-correlation of the cards' recordings in wall time, one 0.7 s window per
   burst (1 to 3 again in steady_card_clock, with each period at its due time instead of the time
   its card's thread logged; and unplayed_at_end_ms, the audio the cards never played at the end);
4. overhead per chunk and bytes on the wire per receiver-hour from the chunks received (with the
   agents' own stream_bytes telemetry as a cross-check);
5. CPU of the controller (streaming minus idle) and of each agent while playing.

Skew is measured on the bursts every card played. With --faults the agents believe their clocks
are off by -400, 0 and +700 ms (LOALANG_SIMULATED_CLOCK_ERROR_S: each then takes the controller's
time from the signed clock exchange alone), and each reaches the broker through its own
tests/mqttfaults.py proxy, which holds every packet from the broker for up to 40 ms and loses 2 %
of the QoS 0 publications (stream chunks, clock replies); the faults section tells what the
proxies did and which offsets the agents learned.

    .venv/bin/python -m benchmarks.live --seconds 30
    .venv/bin/python -m benchmarks.live --seconds 30 --faults
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import opuslib
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from websockets.sync.client import connect as ws_connect

from benchmarks.stack import PASSWORD, LiveStack, live_stack, machine, rss_mb
from controller.settings import Settings
from loalang_protocol import chunks, topics
from loalang_protocol.chunks import SIGNATURE_SIZE, AudioChunk
from loalang_protocol.topics import AreaTopic, StreamTopic
from loalang_stack import broker
from loalang_stack.services import ControllerProcess
from receiver_agent import config as config_file
from receiver_agent.audio.simulated import THREAD_NAME, read_recording
from receiver_agent.playout.stream import OPUS_LOOKAHEAD
from tests.mqttfaults import MqttFaults
from tests.testkit import Fleet, learned_offset_ms, route_through, wait_for

API = "/api/v1"
AREA = "thon-a"
AGENTS = 3
RATE = 48_000
PERIOD = 480  # samples in one period of the simulated card (10 ms)
BLOCK = 960  # 20 ms, what the console sends
BURST = 1_440  # 30 ms
BURST_EVERY = 33_600  # 700 ms
FIRST_BURST = RATE + 317  # a second in, somewhere inside a block
NOISE_DBFS = -60.0
ONSET_FRACTION = 0.2  # a burst starts at its first sample above this share of its peak
MIN_PEAK = 3_000  # a stretch whose peak is lower holds no burst (the bursts peak at 16,383)
SEARCH_S = 0.25  # a burst is looked for this far either side of where it is expected
MAX_LAG = 480  # skew is looked for within ±10 ms
RESTART_S = 0.05  # a longer step in a card's time log: its clock stopped (idle) and started again
SETTLED_S = 3.0  # bursts sent earlier may go out before the agents have joined the stream
WARM_UP_S = 5.0  # CPU while streaming is measured from this far into the stream (or its middle) to its end
IDLE_S = 10.0
TELEMETRY_S = 10.0
SETTLED_CLOCK_MS = 3.0  # an agent's estimate of the controller's clock is this close before speaking
CLOCK_TIMEOUT_S = 60.0
CLOCK_ERRORS_S = (-0.4, 0.0, 0.7)  # with --faults: how far off each agent believes its clock is
JITTER_MS = 40.0  # with --faults: every packet from the broker is held for up to this long
LOSS = 0.02  # with --faults: the share of QoS 0 publications (chunks, clock replies) lost
TCP_IP_BYTES = 52  # IPv4 (20) and TCP (20, plus 12 of timestamps) headers, one packet per chunk
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
DEFAULTS = {name: Settings.model_fields[name].default
            for name in ("live_latency_ms", "live_chunk_ms", "live_bitrate", "live_lease_s")}


# --- the console's microphone ----------------------------------------------------------------


def microphone_signal(seconds: float) -> tuple[np.ndarray, list[int]]:
    """PCM for the console to send, and the index of each burst's first sample."""
    blocks = int(seconds * RATE) // BLOCK
    noise = np.random.default_rng(7).normal(0.0, 10 ** (NOISE_DBFS / 20), blocks * BLOCK)
    t = np.arange(BURST) / RATE
    sweep = 2000 / (BURST / RATE)  # Hz per second
    chirp = 0.5 * np.sin(2 * np.pi * (1000 * t + sweep / 2 * t * t))
    starts = list(range(FIRST_BURST, len(noise) - BURST, BURST_EVERY))
    for start in starts:
        noise[start:start + BURST] = chirp
    return (noise * 32767).astype("<i2"), starts


def speak(url: str, token: str, pcm: np.ndarray, after_block: Callable[[int], None]
          ) -> tuple[list[float], dict[str, Any]]:
    """Send the PCM in 20 ms blocks in real time; returns when each block went and the on-air message."""
    sent: list[float] = []
    with ws_connect(url, additional_headers={"Authorization": f"Bearer {token}"}) as socket:
        started = time.monotonic()
        for index, block in enumerate(pcm.reshape(-1, BLOCK)):
            pause = started + (index + 1) * BLOCK / RATE - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            sent.append(time.time())
            socket.send(block.tobytes())
            after_block(index)
        on_air: dict[str, Any] = json.loads(socket.recv(timeout=5))
    return sent, on_air


def capture_times(sent: list[float], starts: list[int]) -> list[float]:
    """When each burst's first sample was captured (a block is captured in the 20 ms before it goes)."""
    return [sent[start // BLOCK] - BLOCK / RATE + (start % BLOCK) / RATE for start in starts]


# --- the broker side ---------------------------------------------------------------------------


class Listener:
    """Subscribes with the controller's broker account and keeps every message with its arrival time."""

    def __init__(self, port: int, password: str, subscriptions: list[str]) -> None:
        self.messages: list[tuple[float, str, bytes, bool]] = []
        self._subscribed = threading.Event()
        self._refused: list[Any] = []
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-live-{os.getpid()}")
        self._client.username_pw_set(broker.CONTROLLER_USERNAME, password)
        self._client.on_connect = lambda client, *_: client.subscribe([(s, 0) for s in subscriptions])
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message
        self._client.connect("127.0.0.1", port)
        self._client.loop_start()
        if not self._subscribed.wait(10) or self._refused:
            raise RuntimeError(f"the listener's subscriptions were not granted: {self._refused}")

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, codes: list[Any],
                      *_: Any) -> None:
        self._refused += [code for code in codes if code.is_failure]
        self._subscribed.set()

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        self.messages.append((time.time(), message.topic, bytes(message.payload), bool(message.retain)))

    def received(self, topic: str) -> list[tuple[float, bytes]]:
        """Arrival time and payload of every message on topic that was not a retained one."""
        return [(at, payload) for at, name, payload, retained in list(self.messages)
                if name == topic and not retained]

    def close(self) -> None:
        """Disconnect."""
        self._client.loop_stop()
        self._client.disconnect()


@dataclass
class DecodedStream:
    """The stream as a receiver decodes it: samples and the presentation time of each (s)."""

    samples: np.ndarray
    pts_s: np.ndarray

    def burst_pts(self, expected: float) -> float | None:
        """Presentation time of the burst expected near this time."""
        window = np.nonzero((self.pts_s >= expected - SEARCH_S) & (self.pts_s < expected + SEARCH_S))[0]
        if not window.size:
            return None
        found = onset(self.samples[window[0]:window[-1] + 1])
        return None if found is None else float(self.pts_s[window[0] + found])


def decode_stream(stream: list[AudioChunk]) -> DecodedStream:
    """Decode the chunks in order with one decoder, as an agent does (the encoder's delay taken off)."""
    decoder = opuslib.Decoder(RATE, 1)
    samples, pts = [], []
    for chunk in stream:
        pcm = np.frombuffer(b"".join(decoder.decode(frame, BLOCK) for frame in chunk.frames), "<i2")
        samples.append(pcm.astype(float))
        pts.append(chunk.pts_us / 1e6 + (np.arange(len(pcm)) - OPUS_LOOKAHEAD) / RATE)
    return DecodedStream(np.concatenate(samples), np.concatenate(pts))


def onset(samples: np.ndarray) -> int | None:
    """Index of the first sample of the burst in a stretch of audio (None when none is in it)."""
    magnitude = np.abs(samples)
    if not magnitude.size or magnitude.max() < MIN_PEAK:
        return None
    return int(np.argmax(magnitude > ONSET_FRACTION * magnitude.max()))


# --- the cards ---------------------------------------------------------------------------------


def steady(walls: np.ndarray) -> np.ndarray:
    """A card's time log as its own clock keeps it: each period at its due time (none wakes up early)."""
    due = walls.copy()
    for run in np.split(np.arange(len(walls)), np.nonzero(np.diff(walls) > RESTART_S)[0] + 1):
        if run.size:
            since_start = (run - run[0]) * PERIOD / RATE
            due[run] = (walls[run] - since_start).min() + since_start
    return due


class CardRecording:
    """What a simulated card played, with the wall time of every sample from its time log."""

    def __init__(self, card: Path, steady_clock: bool = False) -> None:
        pcm, times = read_recording(card)
        self.samples = np.frombuffer(pcm, dtype="<i2").astype(float)
        self.walls = np.array([wall for _, wall in sorted(times)])
        if steady_clock:
            self.walls = steady(self.walls)

    def end(self) -> float:
        """When the card stopped playing."""
        return float(self.walls[-1]) + PERIOD / RATE

    def index_at(self, wall: float) -> int | None:
        """The sample that left the card at this wall time (None outside the recording)."""
        period = int(np.searchsorted(self.walls, wall))
        if period == 0 or period >= len(self.walls):
            return None
        behind = round((self.walls[period] - wall) * RATE)
        if behind > 2 * PERIOD:
            return period * PERIOD  # the card was idle at that time
        return int(period * PERIOD - behind)

    def wall_at(self, index: int) -> float:
        """When a sample left the card."""
        return float(self.walls[index // PERIOD]) + (index % PERIOD) / RATE

    def stretch(self, wall: float, seconds: float) -> tuple[int, np.ndarray] | None:
        """The samples played from wall time on, and the index of the first (None when not all were)."""
        first = self.index_at(wall)
        length = round(seconds * RATE)
        if first is None or first + length > len(self.samples):
            return None
        return first, self.samples[first:first + length]

    def burst_onset(self, expected: float) -> float | None:
        """Wall time at which the burst expected near this time started on the card."""
        found = self.stretch(expected - SEARCH_S, 2 * SEARCH_S)
        if found is None or (start := onset(found[1])) is None:
            return None
        return self.wall_at(found[0] + start)


def lag_ms(first: np.ndarray, second: np.ndarray) -> float:
    """How much later the second stretch plays the same audio as the first (cross-correlation), in ms."""
    padded = np.concatenate([np.zeros(MAX_LAG), second, np.zeros(MAX_LAG)])
    correlation = np.correlate(padded, first, "valid")
    peak = int(np.argmax(correlation))
    shift = 0.0
    if 0 < peak < len(correlation) - 1:
        before, at, after = correlation[peak - 1:peak + 2]
        curvature = before - 2 * at + after
        shift = 0.5 * (before - after) / curvature if curvature else 0.0
    return float((peak - MAX_LAG + shift) / RATE * 1000)


def skews_ms(cards: list[CardRecording], heard_at: list[float]) -> list[float]:
    """Pairwise skew of the cards, in one window of a burst's period around each burst."""
    window_s = BURST_EVERY / RATE
    skews = []
    for wall, (a, b) in itertools.product(heard_at, itertools.combinations(cards, 2)):
        begin = wall - window_s / 2
        first, second = a.stretch(begin, window_s), b.stretch(begin, window_s)
        if first is not None and second is not None:
            skews.append(abs(lag_ms(first[1], second[1])))
    return skews


# --- CPU -----------------------------------------------------------------------------------------


def _stat_cpu(stat: Path) -> tuple[str, float]:
    """A process's or thread's name and its user + system CPU seconds."""
    text = stat.read_text()
    fields = text.rsplit(")", 1)[1].split()
    return text[text.index("(") + 1:text.rindex(")")], (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def cpu_seconds(pid: int) -> tuple[float, float]:
    """CPU seconds of a process and its children: all but the simulated card's thread; that thread."""
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    total = card = 0.0
    for each in [pid, *map(int, children)]:
        try:
            total += _stat_cpu(Path(f"/proc/{each}/stat"))[1]  # counts threads that have ended too
            threads = [_stat_cpu(task / "stat") for task in Path(f"/proc/{each}/task").iterdir()]
        except (FileNotFoundError, ProcessLookupError):
            continue
        card += sum(seconds for name, seconds in threads if name == THREAD_NAME.decode())
    return total - card, card


class CpuWindow:
    """CPU of some processes between two moments, in percent of one core."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self._start: tuple[float, list[tuple[float, float]]] | None = None
        self.percent: list[tuple[float, float]] = []
        self.rss_mb: list[float] = []  # each process's resident memory at the window's end

    def begin(self) -> None:
        """Start the window."""
        self._start = time.monotonic(), [cpu_seconds(pid) for pid in self.pids]

    def end(self) -> None:
        """End the window: percent holds (work, card thread) per process."""
        assert self._start is not None
        began, before = self._start
        elapsed = time.monotonic() - began
        after = [cpu_seconds(pid) for pid in self.pids]
        self.percent = [(100 * (b[0] - a[0]) / elapsed, 100 * (b[1] - a[1]) / elapsed)
                        for a, b in zip(before, after, strict=True)]
        self.rss_mb = [rss_mb(pid) for pid in self.pids]


# --- the figures ---------------------------------------------------------------------------------


def spread(values: list[float], digits: int = 2) -> dict[str, float]:
    """p50, p95 and max (nothing when there are no values)."""
    if not values:
        return {}
    return {"p50": round(float(np.percentile(values, 50)), digits),
            "p95": round(float(np.percentile(values, 95)), digits), "max": round(max(values), digits)}


def wire_bytes(payload: int, topic: str) -> int:
    """One QoS 0 PUBLISH on the wire: fixed header, remaining length, topic, payload, TCP/IP headers."""
    remaining = 2 + len(topic.encode()) + payload
    length_bytes = 1 + (remaining >= 128) + (remaining >= 16_384) + (remaining >= 2_097_152)
    return 1 + length_bytes + remaining + TCP_IP_BYTES


def chunk_figures(received: list[tuple[float, bytes]], topic: str) -> dict[str, Any]:
    """Sizes, overhead, bytes per receiver-hour and publication delay of the chunks received."""
    decoded = [(at, chunks.decode(payload), len(payload)) for at, payload in received]
    opus = [sum(len(frame) for frame in chunk.frames) for _, chunk, _ in decoded]
    sizes = [size for _, _, size in decoded]
    audio_s = sum(chunk.duration_us for _, chunk, _ in decoded) / 1e6
    seqs = sorted(chunk.seq for _, chunk, _ in decoded)
    after_end = [(at - (chunk.pts_us + chunk.duration_us) / 1e6) * 1000 for at, chunk, _ in decoded]
    overhead = float(np.mean(sizes) - np.mean(opus))
    return {
        "chunks": len(decoded), "chunks_missing": seqs[-1] - seqs[0] + 1 - len(seqs),
        "frames_per_chunk": round(float(np.mean([len(c.frames) for _, c, _ in decoded])), 2),
        "opus_bytes_per_chunk": round(float(np.mean(opus)), 1),
        "overhead_bytes_per_chunk": round(overhead, 1),
        "overhead_signature_bytes": SIGNATURE_SIZE,
        "overhead_percent_of_opus": round(100 * overhead / float(np.mean(opus)), 1),
        "payload_mb_per_receiver_hour": round(sum(sizes) / audio_s * 3600 / 1e6, 2),
        "wire_mb_per_receiver_hour": round(
            sum(wire_bytes(size, topic) for size in sizes) / audio_s * 3600 / 1e6, 2),
        "arrival_ms_after_chunk_end_pts": spread(after_end),
    }


def renewal_figures(received: list[tuple[float, bytes]], topic: str) -> dict[str, Any]:
    """The area's desired-state publications while on the air (lease renewals), per receiver-hour."""
    if not received:
        return {"publications": 0}
    mean = float(np.mean([wire_bytes(len(payload), topic) for _, payload in received]))
    per_hour = 3600 / (DEFAULTS["live_lease_s"] / 3)
    return {"publications": len(received), "wire_bytes_each": round(mean),
            "wire_mb_per_receiver_hour": round(mean * per_hour / 1e6, 2)}


@dataclass
class Burst:
    """A burst: when it was captured, its presentation time and its onset on each card (None: missed)."""

    captured: float
    pts: float
    heard: list[float | None]

    def everywhere(self) -> float | None:
        """The mean onset when every card played the burst (None when one missed it)."""
        onsets = [onset for onset in self.heard if onset is not None]
        return float(np.mean(onsets)) if len(onsets) == len(self.heard) else None


def bursts_heard(stream: DecodedStream, cards: list[CardRecording], captured: list[float],
                 latency_s: float) -> list[Burst]:
    """The bursts found in the stream, each looked for on the cards at presentation time + latency."""
    found = []
    for capture in captured:
        pts = stream.burst_pts(capture)
        if pts is not None:
            found.append(Burst(capture, pts, [card.burst_onset(pts + latency_s) for card in cards]))
    return found


def mouth_to_speaker_ms(bursts: list[Burst], card: int | None = None) -> list[float]:
    """Onset on a card (or on every card) minus capture, for each burst the card played."""
    return [(onset - burst.captured) * 1000 for burst in bursts
            for index, onset in enumerate(burst.heard)
            if onset is not None and (card is None or index == card)]


def timing_figures(stream: DecodedStream, cards: list[CardRecording], captured: list[float],
                   latency_s: float) -> dict[str, Any]:
    """Mouth to speaker, controller to speaker against the latency, and skew, over the bursts given."""
    bursts = bursts_heard(stream, cards, captured, latency_s)
    late = [(onset - burst.pts - latency_s) * 1000 for burst in bursts for onset in burst.heard
            if onset is not None]
    presented = [(burst.pts - burst.captured) * 1000 for burst in bursts]
    mouth = mouth_to_speaker_ms(bursts)
    everywhere = [at for burst in bursts if (at := burst.everywhere()) is not None]
    skews = skews_ms(cards, everywhere)
    return {
        "bursts_sent": len(captured), "onsets_measured": len(mouth),
        "onsets_missed": len(captured) * len(cards) - len(mouth),
        "mouth_to_speaker_ms": spread(mouth),
        "mouth_to_speaker_ms_per_agent": [spread(mouth_to_speaker_ms(bursts, card))
                                          for card in range(len(cards))],
        "presentation_after_capture_ms": spread(presented),
        "controller_to_speaker_error_ms": spread([abs(error) for error in late]),
        "controller_to_speaker_late_mean_ms": round(float(np.mean(late)), 3) if late else None,
        "skew_ms": spread(skews, 3), "skew_windows": len(skews),
    }


# --- the run -------------------------------------------------------------------------------------


@dataclass
class Agent:
    """A receiver agent of the run: device, configuration, card folder, process and its clock's error."""

    device_id: str
    config: Path
    card: Path
    pid: int
    clock_error_s: float = 0.0


def start_agent(fleet: Fleet, link: MqttFaults | None, clock_error_s: float) -> Agent:
    """An agent of the village, started; it reaches the broker through link when one is given."""
    device_id, config = fleet.enrolled_agent(area=AREA, telemetry_s=TELEMETRY_S)
    if link is not None:
        route_through(config, link)
    env = {"LOALANG_SIMULATED_CLOCK_ERROR_S": str(clock_error_s)} if clock_error_s else None
    server = fleet.start(config, env=env)
    return Agent(device_id, config, config_file.load(config).data_dir / "card",
                 server.process.pid if server.process else 0, clock_error_s)


def clock_settled(agent: Agent) -> bool:
    """Whether the agent's estimate of the controller's clock makes up for its own clock's error."""
    offset = learned_offset_ms(agent.config)
    return offset is not None and abs(offset + agent.clock_error_s * 1000) < SETTLED_CLOCK_MS


def start_agents(fleet: Fleet, links: list[MqttFaults] | None = None) -> list[Agent]:
    """Three agents in the village, online, clocks settled; given links, wrong clocks, a link each."""
    errors = CLOCK_ERRORS_S if links else (0.0,) * AGENTS
    agents = [start_agent(fleet, links[index] if links else None, errors[index])
              for index in range(AGENTS)]
    for agent in agents:
        wait_for(partial(fleet.online, agent.device_id), 20.0, what=f"{agent.device_id} online")
    for agent in agents:
        wait_for(partial(clock_settled, agent), CLOCK_TIMEOUT_S, interval=0.5,
                 what=f"the clock of {agent.device_id} settled")
    return agents


@contextmanager
def poor_links(port: int, faults: bool) -> Iterator[list[MqttFaults] | None]:
    """With faults, one jittery, lossy proxy to the broker per agent (seeded: the same each run)."""
    if not faults:
        yield None
        return
    with ExitStack() as links:
        yield [links.enter_context(MqttFaults(port, jitter_ms=JITTER_MS, loss=LOSS, seed=seed))
               for seed in range(AGENTS)]


def fault_figures(agents: list[Agent], links: list[MqttFaults]) -> dict[str, Any]:
    """The faults: clock errors, the offsets the agents learned, packets the links passed on and lost."""
    return {"jitter_ms": JITTER_MS, "loss": LOSS,
            "clock_errors_ms": [round(agent.clock_error_s * 1000) for agent in agents],
            "learned_offsets_ms": [learned_offset_ms(agent.config) for agent in agents],
            "packets_forwarded": [link.forwarded for link in links],
            "publications_dropped": [link.dropped for link in links]}


def stream_telemetry(fleet: Fleet, device_id: str, after: float) -> dict[str, float]:
    """The agent's stream counters from a telemetry message sent after the wall time given."""
    def fresh() -> dict[str, Any]:
        telemetry: dict[str, Any] = fleet.device(device_id).get("telemetry") or {}
        return telemetry if telemetry.get("ts", 0) / 1000 > after else {}

    telemetry = wait_for(fresh, TELEMETRY_S + 10, interval=0.5, what=f"telemetry of {device_id}")
    received, count = int(telemetry["stream_bytes"]), int(telemetry["stream_chunks"])
    audio_s = count * DEFAULTS["live_chunk_ms"] / 1000
    return {"stream_bytes": received, "stream_chunks": count,
            "bytes_per_chunk": round(received / count, 1),
            "payload_mb_per_hour": round(received / audio_s * 3600 / 1e6, 2)}


def broadcast_live(fleet: Fleet, controller: ControllerProcess, listener_for: Callable[[str], Listener],
                   seconds: float, cpu: CpuWindow) -> dict[str, Any]:
    """Put the microphone on the air for the village; returns what the run needs for its figures."""
    created = fleet.http.post(f"{API}/broadcasts", json={
        "level": "live", "live": {"kind": "microphone"}, "area_ids": [AREA], "title": "Benchmark",
        "confirm_password": PASSWORD})
    created.raise_for_status()
    broadcast_id = created.json()["id"]
    listener = listener_for(broadcast_id)
    pcm, starts = microphone_signal(seconds)
    last_block = len(pcm) // BLOCK - 1
    warmed_up = min(round(WARM_UP_S * RATE / BLOCK), last_block // 2)  # a short run still has a window

    def measure_cpu(index: int) -> None:
        if index == warmed_up:
            cpu.begin()
        elif index == last_block:
            cpu.end()

    token = fleet.http.headers["Authorization"].split()[1]
    url = controller.url.replace("http://", "ws://") + f"{API}/broadcasts/{broadcast_id}/microphone"
    sent, on_air = speak(url, token, pcm, measure_cpu)
    time.sleep(on_air["latency_ms"] / 1000 + 1.0)  # the last audio leaves the cards
    listener.close()
    return {"id": broadcast_id, "listener": listener, "captured": capture_times(sent, starts),
            "first_sent": sent[0], "last_sent": sent[-1], "ended": time.time(),
            "latency_s": on_air["latency_ms"] / 1000}


def run(stack: LiveStack, seconds: float, faults: bool = False) -> dict[str, Any]:
    """Everything measured on a running stack; with faults, agents with wrong clocks and poor links."""
    stack.fleet.ensure_areas()
    with poor_links(stack.mqtt_port, faults) as links:
        agents = start_agents(stack.fleet, links)
        try:
            result = measure(stack, agents, seconds)
            if links:
                result["faults"] = fault_figures(agents, links)
        finally:
            for server in stack.fleet.agents:  # before their links close under them
                server.stop()
    return result


def measure(stack: LiveStack, agents: list[Agent], seconds: float) -> dict[str, Any]:
    """CPU while idle, then the microphone on the air for the agents, and the figures of both."""
    process = stack.controller.server.process if stack.controller.server else None
    pids = [process.pid if process else 0, *(agent.pid for agent in agents)]
    time.sleep(3)  # the agents' first clock exchanges
    idle = CpuWindow(pids)
    idle.begin()
    time.sleep(IDLE_S)
    idle.end()
    streaming = CpuWindow(pids)

    def listener_for(broadcast_id: str) -> Listener:
        return Listener(stack.mqtt_port, stack.mqtt_password, [
            topics.stream(broadcast_id, StreamTopic.CHUNK), topics.area(AREA, AreaTopic.DESIRED)])

    live = broadcast_live(stack.fleet, stack.controller, listener_for, seconds, streaming)
    result: dict[str, Any] = {"settings": DEFAULTS, "seconds": seconds, "agents": AGENTS}
    result |= figures(live, [agent.card for agent in agents])
    result["agent_telemetry"] = [stream_telemetry(stack.fleet, agent.device_id, live["ended"])
                                 for agent in agents]
    result["cpu_percent_of_one_core"] = cpu_figures(idle, streaming)
    result["agents_rss_mb_playing"] = streaming.rss_mb[1:]
    return result


def figures(live: dict[str, Any], card_folders: list[Path]) -> dict[str, Any]:
    """Timing from the chunks and the cards' recordings; sizes of the chunks and lease renewals."""
    chunk_topic = topics.stream(live["id"], StreamTopic.CHUNK)
    received = live["listener"].received(chunk_topic)
    stream = decode_stream(sorted((chunks.decode(p) for _, p in received), key=lambda c: c.seq))
    settled = [c for c in live["captured"] if c >= live["first_sent"] + SETTLED_S]
    cards = [CardRecording(card) for card in card_folders]
    result = timing_figures(stream, cards, settled, live["latency_s"])
    steady_cards = [CardRecording(card, steady_clock=True) for card in card_folders]
    result["steady_card_clock"] = timing_figures(stream, steady_cards, settled, live["latency_s"])
    due_end = float(stream.pts_s[-1]) + 1 / RATE + live["latency_s"]
    result["unplayed_at_end_ms"] = [round((due_end - card.end()) * 1000, 1) for card in cards]
    result["chunk"] = chunk_figures(received, chunk_topic)
    area_topic = topics.area(AREA, AreaTopic.DESIRED)
    on_air = [(at, p) for at, p in live["listener"].received(area_topic)
              if live["first_sent"] + 1 < at < live["last_sent"]]
    result["lease_renewals"] = renewal_figures(on_air, area_topic)
    return result


def cpu_figures(idle: CpuWindow, streaming: CpuWindow) -> dict[str, Any]:
    """Controller idle, streaming and the difference; each agent idle and playing, card thread apart."""
    return {
        "controller_idle": round(idle.percent[0][0], 2),
        "controller_streaming": round(streaming.percent[0][0], 2),
        "controller_live_minus_idle": round(streaming.percent[0][0] - idle.percent[0][0], 2),
        "agents_idle": [round(work, 2) for work, _ in idle.percent[1:]],
        "agents_playing": [round(work, 2) for work, _ in streaming.percent[1:]],
        "card_threads_playing": [round(card, 2) for _, card in streaming.percent[1:]],
    }


def main() -> None:
    """Run the measurements and print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=30.0, help="how long the microphone speaks")
    parser.add_argument("--faults", action="store_true",
                        help="agents with clocks off by -400, 0 and +700 ms, each behind a proxy "
                             "holding packets from the broker up to 40 ms and losing 2 %% of its "
                             "QoS 0 publications")
    args = parser.parse_args()
    with live_stack(Path(tempfile.mkdtemp(prefix="loalang-live-"))) as stack:
        result = run(stack, args.seconds, args.faults)
    result["machine"] = machine()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
