"""Reading OASIS CAP 1.2 alerts safely: no entities, no external references, required fields checked.

Only what the broadcast needs is kept: identity (sender, identifier, sent), status, message type,
references (for Cancel), and per `info` block the texts, severity, expiry and areas (area
descriptions and geocodes). Every refusal names the element at fault.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

NS = "urn:oasis:names:tc:emergency:cap:1.2"
STATUSES = ("Actual", "Exercise", "System", "Test", "Draft")
MESSAGE_TYPES = ("Alert", "Update", "Cancel", "Ack", "Error")
SEVERITIES = ("Extreme", "Severe", "Moderate", "Minor", "Unknown")
MAX_BYTES = 256 * 1024


class CapError(ValueError):
    """The document is not a usable CAP 1.2 alert; the message names the problem."""


@dataclass(frozen=True)
class CapArea:
    """An <area>: its description and geocodes as (valueName, value) pairs."""

    description: str
    geocodes: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class CapInfo:
    """One <info> block."""

    language: str
    event: str
    severity: str
    headline: str
    description: str
    instruction: str
    expires: datetime | None
    areas: tuple[CapArea, ...] = ()


@dataclass(frozen=True)
class CapAlert:
    """An alert, as far as loalang uses it."""

    identifier: str
    sender: str
    sent: datetime
    status: str
    msg_type: str
    references: tuple[tuple[str, str, str], ...] = ()  # (sender, identifier, sent)
    infos: tuple[CapInfo, ...] = field(default_factory=tuple)


def parse(document: bytes) -> CapAlert:
    """Parse and check a CAP 1.2 alert; raises CapError naming what is wrong."""
    if len(document) > MAX_BYTES:
        raise CapError(f"the alert is over {MAX_BYTES // 1024} KiB")
    try:
        root = fromstring(document, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        raise CapError("DTDs, entities and external references are not allowed in an alert") from None
    except ParseError as exc:
        raise CapError(f"not well-formed XML: {exc}") from None
    if root.tag != f"{{{NS}}}alert":
        raise CapError(f"the root element must be <alert> in the CAP 1.2 namespace {NS}")
    status = _choice(root, "status", STATUSES)
    msg_type = _choice(root, "msgType", MESSAGE_TYPES)
    _required(root, "scope")
    return CapAlert(
        identifier=_required(root, "identifier"), sender=_required(root, "sender"),
        sent=_time(_required(root, "sent"), "sent"), status=status, msg_type=msg_type,
        references=_references(_text(root, "references")),
        infos=tuple(_info(element) for element in root.findall(f"{{{NS}}}info")),
    )


def _info(element: Element) -> CapInfo:
    expires = _text(element, "expires")
    return CapInfo(
        language=_text(element, "language") or "en-US", event=_required(element, "event", "info"),
        severity=_choice(element, "severity", SEVERITIES, "info"), headline=_text(element, "headline"),
        description=_text(element, "description"), instruction=_text(element, "instruction"),
        expires=_time(expires, "info/expires") if expires else None,
        areas=tuple(_area(area) for area in element.findall(f"{{{NS}}}area")),
    )


def _area(element: Element) -> CapArea:
    geocodes = []
    for geocode in element.findall(f"{{{NS}}}geocode"):
        geocodes.append((_required(geocode, "valueName", "geocode"), _required(geocode, "value", "geocode")))
    return CapArea(_required(element, "areaDesc", "area"), tuple(geocodes))


def _references(text: str) -> tuple[tuple[str, str, str], ...]:
    found = []
    for reference in text.split():
        parts = reference.split(",")
        if len(parts) != 3:
            raise CapError("references must be sender,identifier,sent triples separated by spaces")
        found.append((parts[0], parts[1], parts[2]))
    return tuple(found)


def _text(element: Element, name: str) -> str:
    child = element.find(f"{{{NS}}}{name}")
    return (child.text or "").strip() if child is not None else ""


def _required(element: Element, name: str, where: str = "alert") -> str:
    value = _text(element, name)
    if not value:
        raise CapError(f"<{where}> needs <{name}>")
    return value


def _choice(element: Element, name: str, allowed: tuple[str, ...], where: str = "alert") -> str:
    value = _required(element, name, where)
    if value not in allowed:
        raise CapError(f"<{name}> must be one of {', '.join(allowed)}, not {value[:40]!r}")
    return value


def _time(value: str, name: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise CapError(f"<{name}> must be a date and time with its offset, "
                       "like 2026-11-27T07:00:00+07:00") from None
    if parsed.tzinfo is None:
        raise CapError(f"<{name}> needs its time-zone offset")
    return parsed
