"""The console's HTML pages as served: every file they name by its hashed name, an import map, and a
preload of every module the page runs first.

The modules import each other by plain relative names ("./api.js"). The page's import map turns
each plain URL into its hashed one, for static imports, dynamic import() and import.meta.resolve
alike. This was chosen over rewriting the import specifiers inside the modules because a module's
hashed name then depends on its own bytes alone: rewriting would make every importer's hash depend
on its imports' hashes, so the modules would have to be parsed reliably and hashed in dependency
order, and modules that import each other in a cycle could not be named at all. The cost is an
inline script, allowed by its hash in the Content-Security-Policy.
"""

from __future__ import annotations

import base64
import hashlib
import json
import posixpath
import re
from dataclasses import dataclass
from pathlib import Path

from .assets import Asset, ConsoleAssets, compressed

PREFIX = "/console/"
ATTRIBUTE_URL = re.compile(r'\b(src|href)="([^"]+)"')
HTML = "text/html; charset=utf-8"
MODULE_ENTRY = re.compile(r'<script type="module" src="([^"]+)"'
                          r'|\n\s*<link rel="modulepreload" href="([^"]+)">')


@dataclass(frozen=True)
class Page:
    """One page's HTML as served, its ETag, and the CSP source that allows its import map."""

    html: Asset
    etag: str
    script_hash: str


def plain_name(page: str, url: str) -> str | None:
    """The console file a page's URL names (relative to the console's folder), None if none."""
    if ":" in url or url.startswith(("#", "//")):
        return None
    path = url if url.startswith("/") else posixpath.join(PREFIX, posixpath.dirname(page), url)
    path = posixpath.normpath(path)
    return path[len(PREFIX):] if path.startswith(PREFIX) else None


def hashed_urls(page: str, html: str, assets: ConsoleAssets) -> str:
    """The page with every src and href that names a console file pointing at its hashed name."""
    def replace(match: re.Match[str]) -> str:
        name = plain_name(page, match.group(2))
        hashed = assets.hashed(name) if name else None
        return match.group(0) if hashed is None else f'{match.group(1)}="{PREFIX}{hashed}"'

    return ATTRIBUTE_URL.sub(replace, html)


def import_map(assets: ConsoleAssets) -> str:
    """The import map from every module's plain URL to its hashed one."""
    modules = {f"{PREFIX}{name}": f"{PREFIX}{hashed}"
               for name, hashed in sorted(assets.hashed_names.items()) if name.endswith(".js")}
    return json.dumps({"imports": modules}, separators=(",", ":"))


def preloads(page: str, html: str, assets: ConsoleAssets) -> list[str]:
    """Every module the page starts with or preloads, with all those they import statically."""
    entries = [plain_name(page, script or preload) for script, preload in MODULE_ENTRY.findall(html)]
    names: list[str] = []
    for entry in entries:
        for name in assets.module_graph(entry) if entry else []:
            if name not in names:
                names.append(name)
    return names


def render(page: str, source: str, assets: ConsoleAssets) -> Page:
    """A page as served: hashed URLs, then the import map and module preloads closing its head."""
    modules = preloads(page, source, assets)
    without_preloads = MODULE_ENTRY.sub(lambda m: m.group(0) if m.group(1) else "", source)
    mapping = import_map(assets)
    links = "".join(f'  <link rel="modulepreload" href="{PREFIX}{assets.hashed(name)}">\n'
                    for name in modules)
    head = f'  <script type="importmap">{mapping}</script>\n{links}</head>'
    html = hashed_urls(page, without_preloads, assets).replace("</head>", head, 1).encode()
    digest = hashlib.sha256(mapping.encode()).digest()
    return Page(Asset(html, compressed(html, HTML), HTML), f'"{hashlib.sha256(html).hexdigest()[:16]}"',
                f"'sha256-{base64.b64encode(digest).decode()}'")


def render_pages(folder: Path, assets: ConsoleAssets) -> dict[str, Page]:
    """Every HTML page of the console's folder by its name."""
    return {path.name: render(path.name, path.read_text(), assets) for path in sorted(folder.glob("*.html"))}
