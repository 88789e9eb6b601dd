"""Checking an upload before anything is done with it: is it audio, how long, does it decode cleanly."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import ffmpeg

from . import tools

PROBE_TIMEOUT_S = 30
TRUNCATED_BELOW = 0.9  # decoded length under 90 % of the announced one: cut short


class MediaRejected(ValueError):
    """The file cannot become a bulletin; the message names the reason for the operator."""


@dataclass(frozen=True)
class AudioInfo:
    """What ffprobe found."""

    format_name: str
    codec: str
    duration_s: float
    channels: int
    sample_rate: int


async def probe(path: Path, size: int, max_duration_s: float) -> AudioInfo:
    """The file's audio stream; raises MediaRejected for an empty, non-audio, too long or broken file."""
    if size == 0:
        raise MediaRejected("the file is empty")
    args = ["ffprobe", "-v", "error", "-show_format", "-show_streams", "-of", "json", str(path)]
    try:
        out, _ = await tools.run(args, PROBE_TIMEOUT_S)
        found = json.loads(out)
    except (tools.ToolFailed, ValueError):
        raise MediaRejected("not an audio file ffmpeg can read") from None
    audio = [s for s in found.get("streams", []) if s.get("codec_type") == "audio"]
    if not audio:
        raise MediaRejected("the file has no audio")
    stream, container = audio[0], found.get("format", {})
    duration = _seconds(stream.get("duration")) or _seconds(container.get("duration"))
    if duration is None or duration <= 0.05:
        raise MediaRejected("the audio has no length")
    if duration > max_duration_s:
        raise MediaRejected(f"the audio is {duration / 60:.0f} minutes long; the limit is "
                            f"{max_duration_s / 60:.0f} minutes")
    decoded = await decoded_seconds(path, max_duration_s)
    if decoded < duration * TRUNCATED_BELOW:
        raise MediaRejected(f"the file is cut short: its audio ends after {decoded:.1f} s of "
                            f"{duration:.1f} s")
    return AudioInfo(format_name=str(container.get("format_name", "")),
                     codec=str(stream.get("codec_name", "")), duration_s=decoded,
                     channels=int(stream.get("channels") or 0),
                     sample_rate=int(stream.get("sample_rate") or 0))


async def decoded_seconds(path: Path, max_duration_s: float) -> float:
    """Decode the whole file once and return how long its audio really is.

    Decoding errors reject the file (a damaged file); so does a file whose audio ends well before
    the length its header announces (a truncated upload decodes without an error).
    """
    args = (ffmpeg.input(str(path)).output("-", format="null")
            .global_args("-nostdin", "-hide_banner", "-v", "error", "-xerror", "-progress", "pipe:1",
                         "-nostats").compile())
    reached = [0.0]

    def on_progress(line: str) -> None:
        key, _, value = line.partition("=")
        if key == "out_time_us" and value.isdigit():
            reached[0] = int(value) / 1_000_000

    try:
        _, errors = await tools.run(args, PROBE_TIMEOUT_S + max_duration_s / 20, on_progress)
    except tools.ToolFailed as exc:
        raise MediaRejected(f"the audio is damaged: {str(exc)[:200]}") from None
    if errors.strip():
        raise MediaRejected(f"the audio is damaged: {errors.strip().splitlines()[-1][:200]}")
    return reached[0]


def _seconds(value: object) -> float | None:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
