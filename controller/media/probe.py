"""Checking an upload before anything is done with it: is it audio, how long, does it decode cleanly.

ffmpeg picks a demuxer from the content, and some demuxers read other files: a concat list or an
HLS playlist names files or URLs to open. An upload is therefore probed with an allow-list of audio
containers, and every later read forces the demuxer found and reads local files only.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ffmpeg

from ..errors import DomainError
from . import tools

log = logging.getLogger(__name__)
PROBE_TIMEOUT_S = 30
TRUNCATED_BELOW = 0.9  # decoded length under 90 % of the announced one: cut short
AUDIO_DEMUXERS = ("wav", "mp3", "ogg", "flac", "mov", "matroska", "aac", "aiff", "amr")
ACCEPTED_FORMATS = "WAV, MP3, OGG, FLAC, M4A/MP4, WebM/MKA, AAC, AIFF, AMR"
LOCAL_FILES_ONLY = "file"  # ffmpeg's protocol_whitelist: no URLs, no pipes, no nested protocols


class MediaRejected(DomainError):
    """The file cannot become a bulletin: a stable code for the reason, 422 on the `file` field."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message, 422, "file")


@dataclass(frozen=True)
class AudioInfo:
    """What ffprobe found."""

    format_name: str
    demuxer: str  # on AUDIO_DEMUXERS; every later read of the file forces it
    codec: str
    duration_s: float
    channels: int
    sample_rate: int


async def probe(path: Path, size: int, max_duration_s: float) -> AudioInfo:
    """The file's audio stream; raises MediaRejected for an empty, non-audio, too long or broken file.

    A file in a container not on AUDIO_DEMUXERS (or in none ffmpeg knows) raises DomainError
    `audio_format_not_accepted`.
    """
    if size == 0:
        raise MediaRejected("media_empty", "the file is empty")
    args = ["ffprobe", "-v", "error", "-format_whitelist", ",".join(AUDIO_DEMUXERS),
            "-protocol_whitelist", LOCAL_FILES_ONLY, "-show_format", "-show_streams", "-of", "json",
            str(path)]
    try:
        out, _ = await tools.run(args, PROBE_TIMEOUT_S)
        found = json.loads(out)
    except (tools.ToolFailed, ValueError):
        raise _not_accepted() from None
    demuxer = allowed_demuxer(str(found.get("format", {}).get("format_name", "")))
    audio = [s for s in found.get("streams", []) if s.get("codec_type") == "audio"]
    if not audio:
        raise MediaRejected("media_no_audio", "the file has no audio")
    stream, container = audio[0], found.get("format", {})
    duration = _seconds(stream.get("duration")) or _seconds(container.get("duration"))
    if duration is None or duration <= 0.05:
        raise MediaRejected("media_no_length", "the audio has no length")
    if duration > max_duration_s:
        raise MediaRejected("media_too_long", f"the audio is {duration / 60:.0f} minutes long; the limit is "
                            f"{max_duration_s / 60:.0f} minutes")
    decoded = await decoded_seconds(path, demuxer, max_duration_s)
    if decoded < duration * TRUNCATED_BELOW:
        raise MediaRejected("media_cut_short", f"the file is cut short: its audio ends after {decoded:.1f} s "
                                               f"of {duration:.1f} s")
    return AudioInfo(format_name=str(container.get("format_name", "")), demuxer=demuxer,
                     codec=str(stream.get("codec_name", "")), duration_s=decoded,
                     channels=int(stream.get("channels") or 0),
                     sample_rate=int(stream.get("sample_rate") or 0))


def allowed_demuxer(format_name: str) -> str:
    """The demuxer on AUDIO_DEMUXERS that ffprobe's format_name names ("mov,mp4,m4a,..." is mov)."""
    for name in format_name.split(","):
        if name in AUDIO_DEMUXERS:
            return name
    raise _not_accepted()


def audio_input(path: Path, demuxer: str) -> Any:
    """An ffmpeg-python input that reads path with demuxer forced and local files only."""
    return ffmpeg.input(str(path), f=allowed_demuxer(demuxer), protocol_whitelist=LOCAL_FILES_ONLY)


async def decoded_seconds(path: Path, demuxer: str, max_duration_s: float) -> float:
    """Decode the whole file once and return how long its audio really is.

    Decoding errors reject the file (a damaged file); so does a file whose audio ends well before
    the length its header announces (a truncated upload decodes without an error).
    """
    args = (audio_input(path, demuxer).output("-", format="null")
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
        log.info("refused damaged audio %s: %s", path.name, str(exc)[:300])
        raise MediaRejected("media_damaged", "the audio is damaged") from None
    if errors.strip():
        log.info("refused damaged audio %s: %s", path.name, errors.strip().splitlines()[-1][:300])
        raise MediaRejected("media_damaged", "the audio is damaged")
    return reached[0]


def _not_accepted() -> DomainError:
    return DomainError("audio_format_not_accepted",
                       f"not an audio file the library accepts ({ACCEPTED_FORMATS})", 422, "file")


def _seconds(value: object) -> float | None:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
