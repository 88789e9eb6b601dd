"""`receiver-agent doctor` passes on a healthy device and names each failing check clearly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from receiver_agent import config as config_file
from tests.testkit import Fleet, wait_for

pytestmark = pytest.mark.e2e

BIN = Path(sys.executable).parent


def doctor(config: Path, **env: str) -> tuple[int, str]:
    """Run the real command; returns its exit code and output."""
    result = subprocess.run([str(BIN / "receiver-agent"), "doctor", "--config", str(config)],
                            capture_output=True, text=True, timeout=60, env={**os.environ, **env})
    return result.returncode, result.stdout + result.stderr


def verdict(output: str, name: str) -> str:
    """The line of one check."""
    lines = [line for line in output.splitlines() if line[7:].startswith(name + " ")]
    assert lines, f"no {name} line in:\n{output}"
    return lines[0]


def _edit(config: Path, **changes: object) -> None:
    settings = config_file.load(config)
    broker = changes.pop("broker", None)
    audio = changes.pop("audio", None)
    if broker:
        changes["broker"] = settings.broker.model_copy(update=broker)
    if audio:
        changes["audio"] = settings.audio.model_copy(update=audio)
    config_file.save(settings.model_copy(update=changes), config)


@pytest.fixture
def enrolled(fleet: Fleet) -> Path:
    return fleet.enrolled_agent()[1]


def test_healthy_device_passes_every_check(enrolled: Path) -> None:
    code, output = doctor(enrolled)
    assert code == 0, output
    checks = ("config", "key", "broker", "login", "clock", "audio", "microphone", "relay", "cache", "disk")
    for name in checks:
        assert verdict(output, name).startswith("[ ok ]"), output
    assert "no microphone: plays are not checked as heard" in verdict(output, "microphone")
    assert "all checks passed" in output


def test_doctor_uses_the_running_agents_report(fleet: Fleet, enrolled: Path) -> None:
    device_id = config_file.load(enrolled).device_id
    fleet.start(enrolled)
    wait_for(lambda: fleet.online(device_id), 5.0, what="online")
    wait_for(lambda: (enrolled.parent / "health.json").exists(), 5.0, what="health report")
    wait_for(lambda: doctor(enrolled)[0] == 0, 10.0, interval=1.0, what="doctor passes beside the agent")
    assert "the running agent reports its session as" in verdict(doctor(enrolled)[1], "login")
    assert fleet.online(device_id), "doctor must not take over the agent's session"


def test_config_failures(tmp_path: Path) -> None:
    missing = tmp_path / "none.toml"
    code, output = doctor(missing)
    assert code == 1 and "cannot read" in verdict(output, "config") and "[FAIL]" in output
    broken = tmp_path / "broken.toml"
    broken.write_text("device_id = [unclosed\n")
    assert "not valid TOML" in verdict(doctor(broken)[1], "config")
    wrong = tmp_path / "wrong.toml"
    wrong.write_text('device_id = "Not A Slug"\n')
    line = verdict(doctor(wrong)[1], "config")
    assert "device_id" in line and "[FAIL]" in line


def test_key_failures(enrolled: Path) -> None:
    key = enrolled.parent / "device.key"
    key.chmod(0o644)
    assert "chmod 600" in verdict(doctor(enrolled)[1], "key")
    key.unlink()
    assert "is missing" in verdict(doctor(enrolled)[1], "key")


def test_broker_unreachable(enrolled: Path) -> None:
    from loalang_stack.ports import free_port

    _edit(enrolled, broker={"port": free_port()})
    code, output = doctor(enrolled)
    assert code == 1
    assert "cannot reach broker" in verdict(output, "broker")


def test_wrong_password(enrolled: Path) -> None:
    _edit(enrolled, broker={"password": "not-the-right-password"})
    line = verdict(doctor(enrolled)[1], "login")
    assert line.startswith("[FAIL]") and "refused this device's credentials" in line


def test_clock_off(enrolled: Path) -> None:
    line = verdict(doctor(enrolled, LOALANG_SIMULATED_CLOCK_ERROR_S="5")[1], "clock")
    assert line.startswith("[FAIL]") and "s off the controller's" in line


def test_audio_unusable(enrolled: Path) -> None:
    _edit(enrolled, audio={"sink": "alsa", "alsa_device": "hw:99,0"})
    line = verdict(doctor(enrolled)[1], "audio")
    assert line.startswith("[FAIL]") and "audio output not usable" in line


def test_microphone_unusable_and_usable(enrolled: Path) -> None:
    _edit(enrolled, audio={"mic": "alsa", "mic_device": "hw:98,0"})
    line = verdict(doctor(enrolled)[1], "microphone")
    assert line.startswith("[FAIL]") and "microphone not usable" in line and "hw:98,0" in line, line
    _edit(enrolled, audio={"mic": "alsa", "mic_device": "null"})
    line = verdict(doctor(enrolled)[1], "microphone")
    assert line.startswith("[ ok ]") and "null records 48 kHz mono" in line, line


def test_disk_too_full(enrolled: Path) -> None:
    line = verdict(doctor(enrolled, LOALANG_DOCTOR_MIN_FREE_MB=str(10**12))[1], "disk")
    assert line.startswith("[FAIL]") and "MB are needed" in line


def test_cache_over_quota_and_foreign_files(enrolled: Path) -> None:
    cache = enrolled.parent / "cache"
    cache.mkdir(exist_ok=True)
    (cache / "holiday-photos.zip").write_bytes(b"x")
    assert "not media" in verdict(doctor(enrolled)[1], "cache")
    (cache / "holiday-photos.zip").unlink()
    (cache / ("ab" * 32)).write_bytes(bytes(2_000_000))
    _edit(enrolled, cache_quota_mb=1)
    line = verdict(doctor(enrolled)[1], "cache")
    assert line.startswith("[FAIL]") and "over its 1 MB quota" in line


def test_relay_that_does_not_follow(enrolled: Path) -> None:
    relay = enrolled.parent / "amplifier"
    relay.mkdir(parents=True, exist_ok=True)  # a directory where the pin's value should be: writes fail
    line = verdict(doctor(enrolled)[1], "relay")
    assert line.startswith("[FAIL]") and "the amplifier relay cannot be driven" in line, line
