"""Turning any accepted audio into what devices play: Opus, mono, 48 kHz, loudness-normalised.

Two passes of ffmpeg's EBU R128 `loudnorm`: the first measures the file, the second applies one
linear gain (with a true-peak limiter where needed) so that every bulletin sounds equally loud
from the same loudspeaker. Targets: integrated loudness -16 LUFS, true peak -1.5 dBTP, loudness
range 11 LU, the common target for speech on loudspeakers and small devices. Cover art and
metadata are dropped.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import probe, tools
from .probe import MediaRejected

TARGET_LUFS = -16.0
TRUE_PEAK_DB = -1.5
LOUDNESS_RANGE_LU = 11.0
SILENT_BELOW_LUFS = -70.0
SAMPLE_RATE = 48000


@dataclass(frozen=True)
class Loudness:
    """What the first pass measured."""

    integrated: float
    true_peak: float
    loudness_range: float
    threshold: float
    offset: float


Progress = Callable[[float], None]


async def transcode(source: Path, demuxer: str, target: Path, duration_s: float, bitrate_kbps: int,
                    progress: Progress | None = None) -> Loudness:
    """Measure, then write target as normalised Opus; progress gets 0..1. Returns the measurement.

    source is read with demuxer (the one its probe found) forced, and as a local file only.
    """
    report = progress or (lambda _: None)
    measured = await measure(source, demuxer, duration_s, lambda done: report(0.5 * done))
    if measured.integrated < SILENT_BELOW_LUFS:
        raise MediaRejected("media_silent", "the audio is silent")
    args = (probe.audio_input(source, demuxer)
            .output(str(target), af=_normalise(measured), ac=1, ar=SAMPLE_RATE, acodec="libopus",
                    audio_bitrate=f"{bitrate_kbps}k", vn=None, map_metadata=-1, format="ogg")
            .global_args(*_quiet_with_progress()).overwrite_output().compile())
    second_half = _progress_parser(duration_s, lambda done: report(0.5 + 0.5 * done))
    await tools.run(args, _time_limit(duration_s), second_half)
    report(1.0)
    return measured


async def measure(source: Path, demuxer: str, duration_s: float, progress: Progress) -> Loudness:
    """The first loudnorm pass: integrated loudness, true peak, range, threshold and offset."""
    analysis = f"loudnorm=I={TARGET_LUFS}:TP={TRUE_PEAK_DB}:LRA={LOUDNESS_RANGE_LU}:print_format=json"
    args = (probe.audio_input(source, demuxer).output("-", af=analysis, vn=None, format="null")
            .global_args("-nostdin", "-hide_banner", "-v", "info", "-progress", "pipe:1", "-nostats")
            .compile())
    _, stderr = await tools.run(args, _time_limit(duration_s), _progress_parser(duration_s, progress))
    return _parse_loudness(stderr)


def _parse_loudness(stderr: str) -> Loudness:
    start, end = stderr.rfind("{"), stderr.rfind("}")
    try:
        found = json.loads(stderr[start:end + 1])
        values = {key: float(found[key]) for key in ("input_i", "input_tp", "input_lra", "input_thresh",
                                                     "target_offset")}
    except (ValueError, KeyError, TypeError):
        raise tools.ToolFailed("loudness measurement gave no result") from None
    return Loudness(values["input_i"], values["input_tp"], values["input_lra"], values["input_thresh"],
                    values["target_offset"])


def _normalise(measured: Loudness) -> str:
    return (f"loudnorm=I={TARGET_LUFS}:TP={TRUE_PEAK_DB}:LRA={LOUDNESS_RANGE_LU}"
            f":measured_I={measured.integrated}:measured_TP={measured.true_peak}"
            f":measured_LRA={measured.loudness_range}:measured_thresh={measured.threshold}"
            f":offset={measured.offset}:linear=true,aresample={SAMPLE_RATE}")


def _quiet_with_progress() -> tuple[str, ...]:
    return ("-nostdin", "-hide_banner", "-v", "error", "-progress", "pipe:1", "-nostats")


def _time_limit(duration_s: float) -> float:
    return 60 + duration_s  # far slower than real time means something is wrong


def _progress_parser(duration_s: float, progress: Progress) -> Callable[[str], None]:
    def on_line(line: str) -> None:
        key, _, value = line.partition("=")
        if key == "out_time_us" and value.isdigit() and duration_s > 0:
            progress(min(1.0, int(value) / 1_000_000 / duration_s))
    return on_line
