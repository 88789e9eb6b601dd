"""Text-to-speech engines: espeak-ng with its Vietnamese voice by default, Piper when configured.

An engine turns text into a WAV file; the media library then normalises and encodes it like any
upload. Text reaches the engines on standard input, never on the command line.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Protocol

from ..errors import DomainError
from . import tools

MAX_TEXT_CHARS = 5000
MAX_TEXT_INPUT_CHARS = 4 * MAX_TEXT_CHARS  # what a request may carry; clean_text says what is too long
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


class SpeechEngine(Protocol):
    """Something that speaks text into a WAV file."""

    name: str

    async def synthesize(self, text: str, wav: Path) -> None:
        """Write the spoken text to wav; raises tools.ToolFailed when the engine fails."""


def clean_text(text: str) -> str:
    """Text as engines get it: control characters removed, whitespace folded.

    Raises DomainError `text_empty` when nothing is left, `text_too_long` over MAX_TEXT_CHARS (the
    text is never cut).
    """
    cleaned = " ".join(CONTROL_CHARACTERS.sub(" ", text).split())
    if not cleaned:
        raise DomainError("text_empty", "the text is empty", 422, "text")
    if len(cleaned) > MAX_TEXT_CHARS:
        raise DomainError("text_too_long", f"the text has {len(cleaned)} characters; at most "
                          f"{MAX_TEXT_CHARS} can be spoken (spaces and line breaks count as one)", 422,
                          "text")
    return cleaned


class Espeak:
    """espeak-ng (Debian's package), voice `vi` (Northern Vietnamese) unless configured otherwise."""

    name = "espeak-ng"

    def __init__(self, voice: str = "vi", words_per_minute: int = 150) -> None:
        self.voice = voice
        self.words_per_minute = words_per_minute

    async def synthesize(self, text: str, wav: Path) -> None:
        """Speak text with espeak-ng."""
        args = ["espeak-ng", "-v", self.voice, "-s", str(self.words_per_minute), "-w", str(wav), "--stdin"]
        await tools.run(args, timeout_s=60 + len(text) / 10, stdin=text.encode())


class Piper:
    """Piper (a neural engine) with a voice model the operator provides (`.onnx` and its `.json`)."""

    name = "piper"

    def __init__(self, binary: str, model: Path) -> None:
        self.binary = binary
        self.model = model

    async def synthesize(self, text: str, wav: Path) -> None:
        """Speak text with Piper."""
        args = [self.binary, "--model", str(self.model), "--output_file", str(wav)]
        await tools.run(args, timeout_s=120 + len(text) / 5, stdin=text.encode())


def engine(kind: str, voice: str, piper_binary: str, piper_model: Path | None) -> SpeechEngine:
    """The configured engine; Piper needs its model file."""
    if kind == "piper":
        if piper_model is None or not piper_model.is_file():
            raise ValueError("LOALANG_TTS_ENGINE=piper needs LOALANG_PIPER_MODEL, a voice model file")
        return Piper(piper_binary, piper_model)
    return Espeak(voice)
