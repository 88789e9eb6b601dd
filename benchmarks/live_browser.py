"""Live broadcasting from a real browser: mouth to speaker with the console's live page included.

Starts the same stack and three agents as benchmarks/live.py (controller at its live defaults,
simulated sound cards, one village). Headless Chromium (/usr/bin/chromium through Playwright)
opens the console's live page, logs in, ticks the village and presses "Nói"; its fake microphone
plays, once, a WAV made like live.py's microphone: a -60 dBFS noise floor with a 30 ms chirp every
700 ms, for --seconds plus the 3 s left out below. The page notes the wall time of every 20 ms
block it captured (window.loalangCaptured: now, less how long ago the audio clock processed the
block's first sample). Then, for each burst:

- captured: the capture time of its onset (first sample above a fifth of its peak) in the audio
  the page captured, from the block holding it;
- presented: its presentation time, from a client subscribed to the stream's chunks with the
  controller's broker account (decoded as an agent does);
- heard: its onset on each card, from the card's recording (time log of every 10 ms period).

Reported: mouth to speaker (heard - captured) per agent and over all agents, presentation after
capture (the page, the WebSocket and the controller's timing of the audio), the controller to
speaker error against the latency, and skew, over the bursts captured from 3 s on (the agents may
join the stream a little after it starts). captured_burst_spacing_ms (the bursts are 700 ms apart
in the WAV) tells how steady the page's capture times are. The page keeps at most 600 s of
captured blocks.

    .venv/bin/python -m benchmarks.live_browser --seconds 60
"""

from __future__ import annotations

import argparse
import json
import tempfile
import wave
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.live import (
    AGENTS,
    AREA,
    BLOCK,
    BURST,
    BURST_EVERY,
    DEFAULTS,
    MIN_PEAK,
    RATE,
    SETTLED_S,
    CardRecording,
    Listener,
    decode_stream,
    microphone_signal,
    onset,
    spread,
    start_agents,
    timing_figures,
)
from benchmarks.stack import PASSWORD, LiveStack, live_stack, machine
from loalang_protocol import chunks, topics
from loalang_protocol.topics import StreamTopic

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run",
                  "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                  "--autoplay-policy=no-user-gesture-required"]
LEAD_S = SETTLED_S  # the WAV runs this much longer than --seconds (those bursts are left out)
MAX_CAPTURED_S = 590.0  # the page keeps 30,000 blocks (600 s)
SLICE = 500  # captured blocks fetched from the page at a time
ON_AIR_TIMEOUT_MS = 15_000
ALL_CHUNKS = f"{topics.PREFIX}/stream/+/{StreamTopic.CHUNK.value}"


def write_microphone(path: Path, seconds: float) -> Path:
    """The fake microphone's WAV: 48 kHz mono 16-bit noise floor with a burst every 700 ms."""
    pcm, _ = microphone_signal(seconds)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(pcm.tobytes())
    return path


@contextmanager
def browser_page(microphone: Path) -> Iterator[Any]:
    """A page of headless Chromium whose fake microphone plays the WAV once."""
    from playwright.sync_api import sync_playwright

    flags = [*CHROMIUM_FLAGS, f"--use-file-for-fake-audio-capture={microphone}%noloop"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=flags, headless=True)
        context = browser.new_context()
        context.add_init_script("window.loalangKeepCaptured = true")  # what it sent, for the comparison
        try:
            yield context.new_page()
        finally:
            context.close()
            browser.close()


def talk(page: Any, controller_url: str, seconds: float) -> None:
    """Log in on the live page, speak to the village until the microphone's WAV is over, then stop."""
    page.goto(f"{controller_url}/console/#/live")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", PASSWORD)
    page.press("input[name=password]", "Enter")
    page.check(f"input[name=area][value={AREA}]")
    page.fill("#confirm", PASSWORD)
    page.click("#talk")
    page.locator("#status", has_text="Đang phát").wait_for(timeout=ON_AIR_TIMEOUT_MS)  # on the air
    latency_s = DEFAULTS["live_latency_ms"] / 1000
    page.wait_for_timeout(round((seconds + latency_s + 1.0) * 1000))  # the WAV ends, the cards play it
    page.click("#stop")


def captured_audio(page: Any) -> tuple[list[float], np.ndarray]:
    """The wall time (s) of each block the page captured and all the captured samples."""
    count = page.evaluate("window.loalangCaptured.length")
    walls, samples = [], []
    for first in range(0, count, SLICE):
        blocks = page.evaluate("([from, to]) => window.loalangCaptured.slice(from, to)",
                               [first, first + SLICE])
        walls += [block["wallMs"] / 1000 for block in blocks]
        samples += [np.asarray(block["pcm"], dtype=float) for block in blocks]
    if not walls:
        raise RuntimeError("the page captured nothing from the microphone")
    return walls, np.concatenate(samples)


def captured_bursts(walls: list[float], samples: np.ndarray) -> list[float]:
    """The capture time of each burst's onset in the captured audio."""
    loud = np.flatnonzero(np.abs(samples) > MIN_PEAK)
    if not loud.size:
        return []
    starts = loud[np.concatenate([[True], np.diff(loud) > BURST_EVERY // 2])]
    found = []
    for start in starts:
        begin = max(0, int(start) - BURST)
        at = onset(samples[begin:int(start) + BURST])
        if at is not None:
            index = begin + at
            found.append(walls[index // BLOCK] + (index % BLOCK) / RATE)
    return found


def chunk_topic(listener: Listener) -> str:
    """The topic of the stream the listener heard most of (the page's broadcast is the only one)."""
    names = [name for _, name, _, retained in list(listener.messages) if not retained]
    if not names:
        raise RuntimeError("no live chunk reached the listener")
    return max(set(names), key=names.count)


def run(stack: LiveStack, seconds: float, microphone: Path) -> dict[str, Any]:
    """Three agents, the browser speaking to them, and the figures from its captured bursts."""
    stack.fleet.ensure_areas()
    agents = start_agents(stack.fleet)
    listener = Listener(stack.mqtt_port, stack.mqtt_password, [ALL_CHUNKS])
    try:
        with browser_page(microphone) as page:
            talk(page, stack.controller.url, LEAD_S + seconds)
            walls, samples = captured_audio(page)
    finally:
        listener.close()
    result: dict[str, Any] = {"settings": DEFAULTS, "seconds": seconds, "agents": AGENTS}
    return result | figures(listener, walls, samples, [agent.card for agent in agents])


def figures(listener: Listener, walls: list[float], samples: np.ndarray, card_folders: list[Path]
            ) -> dict[str, Any]:
    """Timing of the bursts captured from SETTLED_S on, from the chunks and the cards' recordings."""
    received = listener.received(chunk_topic(listener))
    stream = decode_stream(sorted((chunks.decode(p) for _, p in received), key=lambda chunk: chunk.seq))
    bursts = captured_bursts(walls, samples)
    settled = [at for at in bursts if at >= walls[0] + SETTLED_S]
    cards = [CardRecording(card) for card in card_folders]
    result = {"captured_s": round(len(samples) / RATE, 2), "bursts_captured": len(bursts),
              "captured_burst_spacing_ms": spread(list(np.diff(bursts) * 1000)),
              "chunks_received": len(received)}
    return result | timing_figures(stream, cards, settled, DEFAULTS["live_latency_ms"] / 1000)


def main() -> None:
    """Run the measurement and print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0,
                        help="how long the bursts measured last (the WAV is 3 s longer; at most 590)")
    args = parser.parse_args()
    if not 0 < args.seconds <= MAX_CAPTURED_S:
        parser.error(f"--seconds must be within 0 and {MAX_CAPTURED_S:.0f}")
    root = Path(tempfile.mkdtemp(prefix="loalang-live-browser-"))
    microphone = write_microphone(root / "microphone.wav", LEAD_S + args.seconds)
    with live_stack(root) as stack:
        result = run(stack, args.seconds, microphone)
    result["machine"] = machine()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
