"""What decodes an occurrence: the agent itself where the format allows (library files are Ogg
Opus, the attention signal a WAV, tones are generated), ffmpeg for anything else."""

from __future__ import annotations

import logging
from pathlib import Path

from loalang_protocol.messages import Occurrence

from .decoder import Decoder, PcmSource, file_arguments
from .ogg_opus import NotPlayableHere, OggOpusSource, is_ogg_opus
from .pcm_sources import ToneGenerator, WavSource

log = logging.getLogger(__name__)


def open_source(occurrence: Occurrence, position_ms: int, gain: float, media: Path | None,
                attention: Path) -> PcmSource:
    """A source for occurrence from position_ms: its file (media) when it is cached, else the
    attention signal from its start; a tone is generated."""
    source = occurrence.source
    if source.type == "tone":
        return ToneGenerator(source.frequency_hz, occurrence.duration_ms, position_ms, gain, occurrence.id)
    path, start_ms = (media, position_ms) if media is not None else (attention, 0)
    try:
        if is_ogg_opus(path):
            return OggOpusSource(path, start_ms, gain, occurrence.id)
        return WavSource(path, start_ms, gain, occurrence.id)
    except (NotPlayableHere, OSError) as exc:
        log.info("occurrence %s: %s is decoded by ffmpeg (%s)", occurrence.id, path.name, exc)
    return Decoder(file_arguments(path, start_ms, gain), occurrence.id)
