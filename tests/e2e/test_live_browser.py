"""A real browser speaks live: headless Chromium with a fake microphone playing a Vietnamese sentence
once opens the console's live page, logs in, presses "Nói", and three agents play that speech.

The page notes the wall time of every block it captured; the cards' recordings are matched to the
captured audio by cross-correlation, which gives each agent's mouth-to-speaker delay.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from loalang_stack.services import ControllerProcess
from receiver_agent import config as config_file
from tests.testkit import (
    ADMIN_PASSWORD,
    IN_STEP_MS,
    Fleet,
    loud_after,
    new_commune,
    samples_at,
    wait_for,
    wait_for_settled_clocks,
    wall_clock_audio,
)

pytestmark = pytest.mark.e2e

SENTENCE = "Xin chào bà con. Đây là bản tin thử nghiệm của xã, phát trực tiếp từ văn phòng."
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run",
                  "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                  "--autoplay-policy=no-user-gesture-required"]
RATE = 48_000


@pytest.fixture(scope="module")
def speech_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sentence spoken by espeak-ng, 48 kHz mono, after 2 s of silence (the page needs a moment)."""
    folder = tmp_path_factory.mktemp("speech")
    raw = folder / "espeak.wav"
    subprocess.run(["espeak-ng", "-v", "vi", "-w", str(raw), SENTENCE], check=True, timeout=30)
    wav = folder / "speech.wav"
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-i", str(raw), "-af",
                    "adelay=2000,apad=pad_dur=1", "-ac", "1", "-ar", str(RATE), "-c:a", "pcm_s16le",
                    str(wav)], check=True, timeout=30)
    return wav


KEEP_CAPTURED = "window.loalangKeepCaptured = true"  # what the page sent, kept for the measurement


@contextmanager
def chromium_page(speech_wav: Path, keep_captured: bool) -> Iterator[Any]:
    """A page of headless Chromium whose microphone plays the sentence once."""
    from playwright.sync_api import sync_playwright

    flags = [*CHROMIUM_FLAGS, f"--use-file-for-fake-audio-capture={speech_wav}%noloop"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=flags, headless=True)
        context = browser.new_context()
        if keep_captured:
            context.add_init_script(KEEP_CAPTURED)
        yield context.new_page()
        context.close()
        browser.close()


@pytest.fixture
def page(speech_wav: Path) -> Iterator[Any]:
    """A page that keeps what it captured, for the measurement."""
    with chromium_page(speech_wav, keep_captured=True) as opened:
        yield opened


@pytest.fixture
def office_page(speech_wav: Path) -> Iterator[Any]:
    """A page as an office has it."""
    with chromium_page(speech_wav, keep_captured=False) as opened:
        yield opened


def captured_audio(page: Any) -> tuple[list[float], np.ndarray]:
    """The wall time (s) of each captured 20 ms block and all the captured samples."""
    blocks = page.evaluate("window.loalangCaptured")
    assert blocks, "the page captured the microphone"
    walls = [block["wallMs"] / 1000 for block in blocks]
    samples = np.concatenate([np.asarray(block["pcm"], dtype=float) for block in blocks])
    return walls, samples


def mouth_to_speaker_s(walls: list[float], captured: np.ndarray, card: Path) -> tuple[float, float]:
    """The delay between capture and the card, and how far the correlation peak stands above the rest."""
    loud = np.flatnonzero(np.abs(captured) > 0.2 * np.abs(captured).max())
    first = int(loud[0])
    segment = captured[first:first + int(1.5 * RATE)]
    said_at = walls[first // 960] + (first % 960) / RATE
    search_from = 0.1
    heard = samples_at(wall_clock_audio(card), said_at + search_from, 3.0)
    size = len(heard) + len(segment)
    correlation = np.fft.irfft(np.fft.rfft(heard, size) * np.conj(np.fft.rfft(segment, size)), size)
    correlation = correlation[:len(heard) - len(segment)]
    lag = int(np.argmax(correlation))
    prominence = float(correlation[lag] / np.median(np.abs(correlation)))
    return search_from + lag / RATE, prominence


def test_a_browser_microphone_is_heard_on_three_agents(fleet: Fleet, controller: ControllerProcess,
                                                       page: Any) -> None:
    _, villages = new_commune(fleet, villages=1)
    agents = [fleet.enrolled_agent(area=villages[0]) for _ in range(3)]
    for device_id, config in agents:
        fleet.start(config)
        wait_for(lambda d=device_id: fleet.online(d), 10.0, what="online")
    wait_for_settled_clocks([config for _, config in agents])

    page.goto(f"{controller.url}/console/#/live")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", ADMIN_PASSWORD)
    page.press("input[name=password]", "Enter")
    page.check(f"input[name=area][value={villages[0]}]")
    page.fill("#confirm", ADMIN_PASSWORD)
    page.click("#talk")
    page.locator("#status", has_text="Đang phát").wait_for(timeout=15_000)  # on the air
    assert "on" in (page.locator("#status").get_attribute("class") or ""), "the on-air light is lit"
    cards = [config_file.load(config).data_dir / "card" for _, config in agents]
    for card in cards:
        wait_for(lambda c=card: loud_after(c, 0), 20.0, what="speech on the card")
    levels = []
    for _ in range(30):  # the rest of the sentence, watching the level meter
        levels.append(page.locator("#level").evaluate("meter => meter.value"))
        page.wait_for_timeout(200)
    assert max(levels) > 0.05, f"the level meter moves with the voice: {levels}"
    page.click("#stop")

    walls, captured = captured_audio(page)
    delays = []
    for card in cards:
        delay, prominence = mouth_to_speaker_s(walls, captured, card)
        print(f"mouth to speaker {delay * 1000:.1f} ms, correlation peak {prominence:.0f}x the median")
        assert prominence > 10, "the card played the captured speech"
        assert 0.2 < delay < 1.0, f"mouth to speaker {delay:.3f} s"
        delays.append(delay)
    assert (max(delays) - min(delays)) * 1000 < IN_STEP_MS, f"the three agents in step: {delays}"


def test_an_office_page_keeps_none_of_what_it_sent(fleet: Fleet, controller: ControllerProcess,
                                                   office_page: Any) -> None:
    """Hours of live talk must not fill the office's browser: the page keeps the blocks it sent only
    when a measurement asks it to."""
    _, villages = new_commune(fleet, villages=1)
    device_id, config = fleet.enrolled_agent(area=villages[0])
    fleet.start(config)
    wait_for(lambda: fleet.online(device_id), 10.0, what="online")
    office_page.goto(f"{controller.url}/console/#/live")
    office_page.fill("input[name=username]", "admin")
    office_page.fill("input[name=password]", ADMIN_PASSWORD)
    office_page.press("input[name=password]", "Enter")
    office_page.check(f"input[name=area][value={villages[0]}]")
    office_page.fill("#confirm", ADMIN_PASSWORD)
    office_page.click("#talk")
    office_page.locator("#status", has_text="Đang phát").wait_for(timeout=15_000)
    card = config_file.load(config).data_dir / "card"
    wait_for(lambda: loud_after(card, 0), 20.0, what="speech on the card")
    assert office_page.evaluate("window.loalangCaptured === undefined"), "the page kept the blocks it sent"
    office_page.click("#stop")
