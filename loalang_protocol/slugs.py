"""Identifiers that may appear in MQTT topics.

Device ids, area slugs and stream ids are short lowercase slugs (a-z, 0-9 and '-').
They never contain '/', '+', '#', '.', spaces or accents, so ACL patterns stay safe and
topics map one to one onto brokers that translate '/' (a NATS MQTT gateway uses '.').
"""

from __future__ import annotations

import re
import unicodedata

SLUG_MAX_LENGTH = 48
_SLUG_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,46}[a-z0-9])?")


class InvalidSlug(ValueError):
    """Raised when a string is not a valid topic identifier."""


def is_slug(value: object) -> bool:
    """Tell whether value is a valid topic identifier."""
    return isinstance(value, str) and _SLUG_RE.fullmatch(value) is not None and "--" not in value


def check_slug(value: object, what: str = "identifier") -> str:
    """Return value if it is a valid slug, else raise InvalidSlug naming what was wrong."""
    if not is_slug(value):
        raise InvalidSlug(
            f"{what} must be 1-{SLUG_MAX_LENGTH} characters of a-z, 0-9 and single '-', "
            f"starting and ending with a letter or digit; got {value!r:.80}"
        )
    return str(value)


def slugify(text: str) -> str:
    """Make a slug from a human name, for example 'Thôn Đông Hà' -> 'thon-dong-ha'."""
    text = text.replace("đ", "d").replace("Đ", "D")
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    slug = slug[:SLUG_MAX_LENGTH].strip("-")
    if not slug:
        raise InvalidSlug(f"cannot make an identifier from {text!r:.80}")
    return slug
