"""`receiver-agent doctor`: checks a field technician can run, each with a readable verdict."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loalang_protocol import topics
from loalang_protocol.envelope import ControllerVerifier, Rejected
from loalang_protocol.keys import KeyPair, public_from_text
from loalang_protocol.messages import ClockReply
from loalang_protocol.mqtt import AuthenticationFailed, LinkSettings, MqttLink
from loalang_protocol.topics import DeviceTopic

from . import config as config_file
from . import health
from .audio.alsa_mic import AlsaMicrophone
from .clock import ClockSync
from .config import AgentConfig
from .relays import make_relay
from .sinks import make_sink
from .timekeeper import ask_system_clock

MIN_FREE_MB = int(os.environ.get("LOALANG_DOCTOR_MIN_FREE_MB", "200"))
MAX_CLOCK_OFFSET_S = 1.0
# An agent asks for the time as soon as it is connected; a minute without a reply is a fault.
FIRST_CLOCK_REPLY_S = 60.0


@dataclass(frozen=True)
class Verdict:
    """The result of one check."""

    name: str
    ok: bool
    message: str

    def line(self) -> str:
        """One line for the terminal."""
        return f"[{' ok ' if self.ok else 'FAIL'}] {self.name:<10} {self.message}"


class CheckFailed(Exception):
    """A check failed; the message is the verdict."""


def _check(name: str, func: Callable[[], str]) -> Verdict:
    try:
        return Verdict(name, True, func())
    except CheckFailed as exc:
        return Verdict(name, False, str(exc))
    except Exception as exc:  # a check must never crash the doctor
        return Verdict(name, False, f"{type(exc).__name__}: {exc}")


def check_key(config: AgentConfig) -> str:
    """The device key exists, is private and loads."""
    path = config.key_file
    if not path.exists():
        raise CheckFailed(f"device key {path} is missing; enrol again with a new claim code")
    if path.stat().st_mode & 0o077:
        raise CheckFailed(f"device key {path} is readable by others; run chmod 600 {path}")
    return f"device key {KeyPair.load(path).kid}"


def check_broker_reachable(config: AgentConfig) -> str:
    """A TCP connection to the broker opens."""
    b = config.broker
    try:
        with socket.create_connection((b.host, b.port), timeout=5):
            return f"{b.host}:{b.port} answers"
    except OSError as exc:
        raise CheckFailed(f"cannot reach broker {b.host}:{b.port}: {exc.strerror or exc}") from None


def check_disk(config: AgentConfig) -> str:
    """Enough free space and a writable data folder."""
    folder = config.data_dir
    probe = folder / ".doctor-probe"
    try:
        probe.write_bytes(b"x")
        probe.unlink()
    except OSError as exc:
        raise CheckFailed(f"cannot write in {folder}: {exc.strerror}") from None
    free = shutil.disk_usage(folder).free / 1e6
    if free < MIN_FREE_MB:
        raise CheckFailed(f"only {free:.0f} MB free in {folder}; at least {MIN_FREE_MB} MB are needed")
    return f"{free:.0f} MB free in {folder}"


def check_sink(config: AgentConfig) -> str:
    """The audio output can be opened."""
    try:
        return make_sink(config).check()
    except OSError as exc:
        raise CheckFailed(f"audio output not usable: {exc}") from None


def check_microphone(config: AgentConfig, agent_running: bool) -> str:
    """The microphone at the horns, when there is one, can be opened (left to the agent while it runs)."""
    if config.audio.mic == "none":
        return "no microphone: plays are not checked as heard"
    if config.audio.mic == "simulated":
        return "simulated microphone hearing the simulated card"
    if agent_running:
        return f"{config.audio.mic_device} (the running agent captures it)"
    try:
        return AlsaMicrophone(config.audio.mic_device).check()
    except OSError as exc:
        raise CheckFailed(f"microphone not usable: {exc}") from None


def check_relay(config: AgentConfig, agent_running: bool) -> str:
    """The amplifier relay switches on and off (left to the agent while it runs)."""
    driver = make_relay(config)
    if agent_running:
        return f"relay is {'on' if driver.get() else 'off'} (the running agent drives it)"
    try:
        driver.set(True)
        switched_on = driver.get()
        driver.set(False)
    except OSError as exc:
        raise CheckFailed(f"the amplifier relay cannot be driven: {exc}") from None
    if not switched_on or driver.get():
        raise CheckFailed("the amplifier relay does not follow its pin; check the wiring and gpio_pin")
    return "relay switches on and off"


def check_cache(config: AgentConfig) -> str:
    """The media cache is within its quota and holds only media."""
    folder = config.data_dir / "cache"
    if not folder.exists():
        return "media cache is empty"
    files = [p for p in folder.iterdir() if p.is_file()]
    used = sum(p.stat().st_size for p in files)
    if used > config.cache_quota_mb * 1_000_000:
        quota = f"{config.cache_quota_mb:g} MB"
        raise CheckFailed(f"media cache holds {used / 1e6:.0f} MB, over its {quota} quota")
    strangers = [p.name for p in files if not p.name.split(".")[0].isalnum() or len(p.name) < 64]
    if strangers:
        raise CheckFailed(f"media cache holds files that are not media: {', '.join(strangers[:3])}")
    return f"media cache {used / 1e6:.1f} MB of {config.cache_quota_mb:g} MB, {len(files)} files"


@dataclass(frozen=True)
class Session:
    """What the broker session check found: how it was checked, and the clock offset measured."""

    login: str
    offset_us: int | None
    agent_started_at: float | None = None  # set when the running agent's report was read


async def _session_checks(config: AgentConfig, running: dict[str, object] | None) -> Session:
    """Authenticate and measure the clock, through the running agent's report or a short session."""
    if running is not None:
        if not running.get("connected"):
            raise CheckFailed("the running agent is not connected to the broker; see its log")
        offset, started = running.get("clock_offset_us"), running.get("started_at")
        return Session(f"the running agent reports its session as {config.broker.username} "
                       "(this check opened none of its own)", offset if isinstance(offset, int) else None,
                       float(started) if isinstance(started, int | float) else None)
    b = config.broker
    link = MqttLink(LinkSettings(b.host, b.port, b.client_id, b.username, b.password, keepalive=10,
                                 tls_ca_file=b.tls_ca_file, addresses=tuple(b.broker_addresses())))
    sync, verifier = ClockSync(), ControllerVerifier(public_from_text(config.root_public_key))
    got = asyncio.Event()

    async def on_reply(topic: str, payload: bytes, retained: bool) -> None:
        try:
            sync.answer(ClockReply.model_validate(verifier.open(topic, payload).body))
            got.set()
        except (Rejected, ValueError):
            pass

    link.route(topics.device(config.device_id, DeviceTopic.CLOCK_REPLY), on_reply)
    task = asyncio.create_task(link.run())
    try:
        async with asyncio.timeout(10):
            await _first(link.connected.wait(), task)
        for _ in range(3):
            await link.publish(topics.device(config.device_id, DeviceTopic.CLOCK_REQUEST),
                               sync.request().model_dump_json().encode(), qos=0)
            try:
                async with asyncio.timeout(3):
                    await got.wait()
            except TimeoutError:
                continue
            got.clear()
    except AuthenticationFailed:
        raise CheckFailed(
            "the broker refused this device's credentials; enrol again with a new code"
        ) from None
    except TimeoutError:
        tried = ", ".join(str(address) for address in b.broker_addresses())
        raise CheckFailed(f"no MQTT session with {tried} within 10 s") from None
    finally:
        await link.close()
        task.cancel()
    return Session(f"logged in as {b.username} at {link.addresses.current}", sync.offset_us())


async def _first(wait: Coroutine[Any, Any, object], task: asyncio.Task[None]) -> None:
    waiter = asyncio.ensure_future(wait)
    done, _ = await asyncio.wait({waiter, task}, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        waiter.cancel()
        task.result()


def _clock_verdict(session: Session) -> str:
    offset_us = session.offset_us
    if offset_us is None and session.agent_started_at is not None:
        age_s = time.time() - session.agent_started_at
        if age_s < FIRST_CLOCK_REPLY_S:
            return f"waiting for the first clock reply (the agent started {age_s:.0f} s ago)"
    synced = ask_system_clock()
    if offset_us is None:
        if synced:
            return "system clock synchronised by NTP (no controller reply to compare)"
        raise CheckFailed(
            "no signed clock reply from the controller and the system clock is not synchronised"
        )
    offset_s = offset_us / 1e6
    if abs(offset_s) > MAX_CLOCK_OFFSET_S:
        raise CheckFailed(f"clock is {offset_s:+.3f} s off the controller's; check NTP or the RTC battery")
    return f"clock within {offset_s * 1000:+.1f} ms of the controller"


def run_checks(config_path: Path) -> list[Verdict]:
    """Every check, in the order a technician would go through them."""
    try:
        config = config_file.load(config_path)
    except config_file.ConfigError as exc:
        return [Verdict("config", False, str(exc))]
    verdicts = [Verdict("config", True, f"{config_path} is valid (device {config.device_id})")]
    verdicts.append(_check("key", lambda: check_key(config)))
    reachable = _check("broker", lambda: check_broker_reachable(config))
    verdicts.append(reachable)
    if reachable.ok:
        running = health.read(config.data_dir, max_age_s=3 * config.telemetry_interval_s + 5)
        try:
            session = asyncio.run(_session_checks(config, running))
        except CheckFailed as exc:
            verdicts.append(Verdict("login", False, str(exc)))
        else:
            verdicts.append(Verdict("login", True, session.login))
            verdicts.append(_check("clock", lambda: _clock_verdict(session)))
    verdicts.append(_check("audio", lambda: check_sink(config)))
    agent_running = health.read(config.data_dir, max_age_s=3 * config.telemetry_interval_s + 5) is not None
    verdicts.append(_check("microphone", lambda: check_microphone(config, agent_running)))
    verdicts.append(_check("relay", lambda: check_relay(config, agent_running)))
    verdicts.append(_check("cache", lambda: check_cache(config)))
    verdicts.append(_check("disk", lambda: check_disk(config)))
    return verdicts
