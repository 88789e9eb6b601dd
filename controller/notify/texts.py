"""The words of each message: Vietnamese first, then English, with times in the area's time zone."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from ..db.models import Incident
from .rules import Kind

PREFIX = "[loalang]"
HEADLINES = {  # kind -> (Vietnamese, English)
    Kind.DEVICE_OFFLINE: ("Cụm loa mất kết nối", "Cluster offline"),
    Kind.DELIVERY_FAILED: ("Phát không tới một số cụm loa", "Broadcast not delivered everywhere"),
    Kind.AMPLIFIER_SILENT: ("Loa phát nhưng không nghe thấy tiếng", "Played but no sound heard"),
    Kind.WRONG_AUDIO: ("Loa phát ra âm thanh khác chương trình", "The horns sound something else"),
    Kind.CAP_ALERT: ("Cảnh báo đã được phát", "Alert put on the air"),
}
RESOLVED = ("Đã khắc phục", "Resolved")
STATES = {  # a device's delivery state -> (Vietnamese, English)
    "offline": ("mất kết nối", "offline"), "failed": ("lỗi", "failed"), "missed": ("không phát", "missed"),
    "pending": ("không nhận", "never received"), "acknowledged": ("không phát", "never played"),
    "downloading": ("chưa tải xong", "still downloading"), "skipped": ("bỏ qua", "skipped"),
    "rejected": ("từ chối", "rejected"), "no_receipt": ("chưa báo đã phát", "no receipt yet"),
}


def local_time(moment: datetime, zone: ZoneInfo) -> str:
    """A moment in the area's time zone, with its offset."""
    return moment.astimezone(zone).isoformat(timespec="seconds")


def headline(incident: Incident, purpose: str) -> tuple[str, str]:
    """The incident's headline in Vietnamese and English (marked resolved when it is)."""
    vietnamese, english = HEADLINES.get(Kind(incident.kind), (incident.kind, incident.kind))
    if purpose == "resolved":
        return f"{RESOLVED[0]}: {vietnamese}", f"{RESOLVED[1]}: {english}"
    return vietnamese, english


def subject_line(incident: Incident, purpose: str) -> str:
    """An e-mail subject: both headlines and what it is about."""
    vietnamese, english = headline(incident, purpose)
    return f"{PREFIX} {vietnamese} / {english}: {incident.title}"[:300]


def body_text(incident: Incident, purpose: str, zone: ZoneInfo) -> str:
    """The message's text: what, where and when, in both languages."""
    vietnamese, english = headline(incident, purpose)
    details = incident.details or {}
    lines = [f"{vietnamese}: {incident.title}", f"{english}: {incident.title}", ""]
    lines.append(f"Khu vực / Area: {', '.join(details.get('area_names') or incident.area_ids)}")
    lines.append(f"Lúc / At: {local_time(incident.opened_at, zone)}")
    if purpose == "resolved" and incident.resolved_at is not None:
        lines.append(f"Khắc phục lúc / Resolved at: {local_time(incident.resolved_at, zone)}")
    lines.extend(_specifics(incident.kind, details))
    lines.append(f"Sự cố / Incident: #{incident.id}")
    return "\n".join(lines)


def _specifics(kind: str, details: dict[str, Any]) -> list[str]:
    """Lines only one kind has: the devices a broadcast did not reach."""
    if kind != Kind.DELIVERY_FAILED:
        return []
    names = details.get("device_names") or {}
    lines = ["Cụm loa / Clusters:"]
    for device_id, state in sorted((details.get("devices") or {}).items()):
        vietnamese, english = STATES.get(state, (state, state))
        lines.append(f"  - {names.get(device_id, device_id)} ({device_id}): {vietnamese} / {english}")
    return lines


def digest_text(incidents: Sequence[Incident], zone: ZoneInfo) -> tuple[str, str]:
    """The daily digest's subject and text: every incident still open, oldest first."""
    subject = f"{PREFIX} Tóm tắt hằng ngày: {len(incidents)} sự cố chưa khắc phục / " \
              f"Daily digest: {len(incidents)} incidents still open"
    lines = ["Sự cố chưa khắc phục / Incidents still open:", ""]
    for incident in incidents:
        vietnamese, english = headline(incident, "opened")
        lines.append(f"- #{incident.id} {vietnamese} / {english}: {incident.title} "
                     f"(từ / since {local_time(incident.opened_at, zone)})")
    return subject, "\n".join(lines)


TEST_SUBJECT = f"{PREFIX} Thử thông báo / Test notification"


def test_text(sender: str, moment: datetime) -> str:
    """A test message's text: who asked for it, and when (UTC, with the offset)."""
    return (f"Thử thông báo do {sender} gửi lúc {moment.isoformat(timespec='seconds')}.\n"
            f"Test notification sent by {sender} at {moment.isoformat(timespec='seconds')}.")


def payload(incident: Incident, purpose: str, text: str) -> dict[str, Any]:
    """A webhook's JSON body for an incident opened or resolved (times in UTC, with the offset)."""
    return {"event": f"incident.{purpose}", "text": text, "incident": incident_json(incident)}


def incident_json(incident: Incident) -> dict[str, Any]:
    """An incident as the API and webhooks show it."""
    return {"id": incident.id, "kind": incident.kind, "subject": incident.subject, "title": incident.title,
            "area_ids": list(incident.area_ids), "details": incident.details,
            "opened_at": incident.opened_at.isoformat(),
            "resolved_at": incident.resolved_at.isoformat() if incident.resolved_at else None,
            "open": incident.open_key is not None and incident.resolved_at is None}
