"""The console's static files, read once at startup: each under a name holding a hash of its content,
with its gzip-compressed bytes when it is text.

A hashed name (`js/app.3f2a1b9c0d4e.js`) changes whenever the file does, so a browser may keep it for
a year without asking again; the pages that name the files are never cached (see pages.py).
Stylesheets name their images by hashed name too. ES modules keep importing each other by their
plain relative names: the pages carry an import map from plain to hashed names (see pages.py).
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path

HASH_LENGTH = 12
SKIPPED_SUFFIXES = {".py", ".pyc", ".html"}
TEXT_TYPES = ("text/", "application/javascript", "application/json", "application/geo+json", "image/svg+xml")
OWN_TYPES = {".geojson": "application/geo+json", ".js": "application/javascript",
             ".mjs": "application/javascript"}
CSS_URL = re.compile(r"""url\(\s*(["']?)([^"')]+)\1\s*\)""")
# Leaflet finds the folder of its default marker icons by reading this URL, which must end in
# marker-icon.png: it keeps its plain name.
PLAIN_CSS_URLS = {"marker-icon.png"}
STATIC_IMPORT = re.compile(r"""(?:^|[;}\s])(?:import|export)\s[^;"'`]*?\bfrom\s*["']([^"']+)["']"""
                           r"""|(?:^|[;}\s])import\s*["']([^"']+)["']""", re.MULTILINE)


@dataclass(frozen=True)
class Asset:
    """One file's bytes as served, their gzip (None when not worth it) and media type."""

    body: bytes
    gzipped: bytes | None
    media_type: str


@dataclass
class ConsoleAssets:
    """The console's files by hashed name, and the hashed name of each plain one."""

    by_hashed_name: dict[str, Asset] = field(default_factory=dict)
    hashed_names: dict[str, str] = field(default_factory=dict)
    imports: dict[str, list[str]] = field(default_factory=dict)

    def hashed(self, name: str) -> str | None:
        """The hashed name of a plain one (relative to the console's folder), None if not a file of it."""
        return self.hashed_names.get(name)

    def module_graph(self, entry: str) -> list[str]:
        """The plain names of entry and every module it imports statically, directly or not."""
        found: list[str] = []
        waiting = [entry]
        while waiting:
            name = waiting.pop()
            if name not in found and name in self.hashed_names:
                found.append(name)
                waiting.extend(self.imports.get(name, []))
        return found


def media_type(name: str) -> str:
    """The Content-Type of a file by its name."""
    suffix = posixpath.splitext(name)[1]
    guessed = OWN_TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"
    return f"{guessed}; charset=utf-8" if guessed.startswith(TEXT_TYPES) else guessed


def compressed(body: bytes, kind: str) -> bytes | None:
    """The gzip of a text file's bytes, None for other files or when it is not smaller."""
    if not kind.startswith(TEXT_TYPES):
        return None
    packed = gzip.compress(body, compresslevel=9, mtime=0)
    return packed if len(packed) < len(body) else None


def hashed_name(name: str, body: bytes) -> str:
    """name with the hash of body before its extension: js/app.js -> js/app.<hash>.js."""
    digest = hashlib.sha256(body).hexdigest()[:HASH_LENGTH]
    stem, dot, suffix = name.rpartition(".")
    return f"{stem}.{digest}.{suffix}" if dot and "/" not in suffix else f"{name}.{digest}"


def resolve(base: str, reference: str) -> str:
    """A relative reference from the file base, as a name relative to the console's folder."""
    return posixpath.normpath(posixpath.join(posixpath.dirname(base), reference))


def with_hashed_urls(name: str, css: str, hashed_names: dict[str, str]) -> str:
    """A stylesheet whose url()s to console files name their hashed names."""
    def replace(match: re.Match[str]) -> str:
        quote, reference = match.groups()
        elsewhere = ":" in reference or reference.startswith(("#", "/"))
        if elsewhere or posixpath.basename(reference) in PLAIN_CSS_URLS:
            return match.group(0)
        target = hashed_names.get(resolve(name, reference))
        if target is None:
            return match.group(0)
        return f"url({quote}{posixpath.relpath(target, posixpath.dirname(name) or '.')}{quote})"

    return CSS_URL.sub(replace, css)


def static_imports(name: str, source: str) -> list[str]:
    """The plain names of the modules a module imports statically (relative specifiers only)."""
    specifiers = (first or second for first, second in STATIC_IMPORT.findall(source))
    return [resolve(name, spec) for spec in specifiers if spec.startswith(("./", "../"))]


def console_files(folder: Path) -> dict[str, bytes]:
    """Every servable file under folder by its name relative to it (not the pages, not Python)."""
    return {path.relative_to(folder).as_posix(): path.read_bytes()
            for path in sorted(folder.rglob("*"))
            if path.is_file() and path.suffix not in SKIPPED_SUFFIXES and "__pycache__" not in path.parts}


def build_assets(folder: Path) -> ConsoleAssets:
    """Read, hash and compress the console's files (stylesheets last: they name the others)."""
    assets = ConsoleAssets()
    files = console_files(folder)
    for name in sorted(files, key=lambda n: n.endswith(".css")):
        body = files[name]
        if name.endswith(".css"):
            body = with_hashed_urls(name, body.decode(), assets.hashed_names).encode()
        if name.endswith(".js"):
            assets.imports[name] = static_imports(name, body.decode())
        kind = media_type(name)
        assets.hashed_names[name] = hashed_name(name, body)
        assets.by_hashed_name[assets.hashed_names[name]] = Asset(body, compressed(body, kind), kind)
    return assets
