"""The console's error sentences (controller/web/js/errors.js) and a check that a text shown in
Vietnamese carries no English word: each of its words is looked up among the words of the English
sentences, leaving out names said the same in both languages (WAV, Redis, CAP...) and the Vietnamese
words spelled like an English one."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

TABLE = Path(__file__).resolve().parents[1] / "controller" / "web" / "js" / "errors.js"
ENTRY = re.compile(r'^\s*err_([a-z0-9_]+):\s*"((?:[^"\\]|\\.)*)",?$', re.MULTILINE)
PROPER_NAMES = {"wav", "mp3", "ogg", "flac", "m4a", "webm", "aac", "aiff", "amr", "redis", "cap", "id",
                "json", "url", "http", "https", "mb", "kib", "csrf", "ffmpeg", "asia", "geojson", "utf",
                "feature", "featurecollection", "polygon", "multipolygon"}  # GeoJSON's own names
CODE_SPAN = re.compile(r"`[^`]*`")  # a property's key, written as in the file, is not a word
VIETNAMESE_HOMOGRAPHS = {"do", "an", "to", "con", "tin", "hay", "ban", "long", "sang", "bang", "the", "in",
                         "a", "i", "so", "may"}


def sentences() -> tuple[dict[str, str], dict[str, str]]:
    """The Vietnamese and the English sentences of errors.js, by code."""
    vietnamese, english = TABLE.read_text().split("\n  en: {\n")
    return dict(ENTRY.findall(vietnamese)), dict(ENTRY.findall(english))


@cache
def english_words() -> frozenset[str]:
    """Every word of the English sentences (lower case), but for names and Vietnamese homographs."""
    _, english = sentences()
    words = {word.lower() for text in english.values() for word in re.findall(r"[A-Za-z]+", text)}
    return frozenset(words - PROPER_NAMES - VIETNAMESE_HOMOGRAPHS)


def english_in(text: str) -> list[str]:
    """The English words of a text meant to be Vietnamese."""
    return [word for word in re.findall(r"\w+", CODE_SPAN.sub("", text)) if word.lower() in english_words()]
