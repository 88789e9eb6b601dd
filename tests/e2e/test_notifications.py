"""Notifications: a cluster that goes offline, and a broadcast that did not reach every cluster, are
each told once, by e-mail (to a local SMTP server) and by a signed webhook (to a local receiver); an
admin subscribes a webhook in the console, and a bad address is answered in Vietnamese."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller as SmtpController
from aiosmtpd.smtp import SMTP, Envelope, Session

from loalang_stack.ports import free_port
from tests.browser import accessibility_violations, log_in
from tests.testkit import (
    ADMIN_PASSWORD,
    Fleet,
    Stack,
    flush_redis,
    new_commune,
    own_fleet,
    upload_media,
    wait_for,
    write_steps_wav,
)

pytestmark = pytest.mark.e2e

API = "/api/v1"
REDIS_DB = "13"  # this module's controller's own Redis database
QUIET_S = 4.0  # how long to watch for a second message that must not come


class Mailbox:
    """A local SMTP server keeping every e-mail it is handed."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.server = SmtpController(self, hostname="127.0.0.1", port=free_port())
        self.server.start()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        message = message_from_bytes(raw, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        """The e-mails sent to address."""
        return [m for m in self.messages if m["To"] == address]

    def close(self) -> None:
        self.server.stop()


@dataclass
class Hooks:
    """A local webhook receiver keeping every call (path, headers, body) it is sent."""

    calls: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        hooks = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                hooks.calls.append((self.path, dict(self.headers.items()), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def to(self, path: str) -> list[tuple[dict[str, str], dict[str, Any]]]:
        """The calls to path: their headers and JSON bodies."""
        return [(headers, json.loads(body)) for called, headers, body in self.calls if called == path]

    def signed_by(self, path: str, secret: str) -> bool:
        """Whether every call to path carries a valid signature made with secret."""
        for called, headers, body in self.calls:
            if called != path:
                continue
            stamp = headers["X-Loalang-Timestamp"]
            expected = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(headers["X-Loalang-Signature"], f"sha256={expected}"):
                return False
        return True

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Notified:
    """A controller with notifications on, and the places its messages go."""

    fleet: Fleet
    mailbox: Mailbox
    hooks: Hooks


def far_from_now() -> str:
    """A digest time twelve hours away in Vietnam, so that only the tests' own call sends one."""
    return (datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")) + timedelta(hours=12)).strftime("%H:00")


@pytest.fixture(scope="module")
def notified(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Notified]:
    mailbox, hooks = Mailbox(), Hooks()
    flush_redis(stack, REDIS_DB)
    root = tmp_path_factory.mktemp("notify")
    try:
        with own_fleet(stack, root, LOALANG_INSTANCE_ID="ctl-notify",
                       LOALANG_REDIS_URL=f"redis://127.0.0.1:{stack.redis_port}/{REDIS_DB}",
                       LOALANG_SMTP_HOST="127.0.0.1", LOALANG_SMTP_PORT=str(mailbox.server.port),
                       LOALANG_SMTP_STARTTLS="false", LOALANG_SMTP_FROM="loalang@xa.example.vn",
                       LOALANG_NOTIFY_ALLOWED_NETWORKS="127.0.0.0/8",
                       LOALANG_NOTIFY_OFFLINE_AFTER_S="0", LOALANG_NOTIFY_DIGEST_AT=far_from_now()) as fleet:
            yield Notified(fleet, mailbox, hooks)
    finally:
        mailbox.close()
        hooks.close()


def subscribe(notified: Notified, area_id: str, role: str = "technician") -> tuple[str, str, str]:
    """An e-mail and a webhook subscription for area_id; returns the address, webhook path and secret."""
    fleet, tag = notified.fleet, secrets.token_hex(3)
    address, path = f"ky-thuat-{tag}@xa.example.vn", f"/hook-{tag}"
    mail = fleet.http.post(f"{API}/notifications/subscriptions", json={
        "area_id": area_id, "role": role, "channel": "email", "address": address})
    assert mail.status_code == 201, mail.text
    hook = fleet.http.post(f"{API}/notifications/subscriptions", json={
        "area_id": area_id, "role": role, "channel": "webhook", "address": notified.hooks.url + path})
    assert hook.status_code == 201, hook.text
    assert len(hook.json()["secret"]) >= 32 and "secret" not in str(
        fleet.http.get(f"{API}/notifications/subscriptions").json()), "the secret is shown once"
    return address, path, hook.json()["secret"]


def test_a_cluster_going_offline_is_told_once_by_email_and_webhook_even_after_a_restart(
        notified: Notified) -> None:
    fleet, mailbox, hooks = notified.fleet, notified.mailbox, notified.hooks
    commune_id, villages = new_commune(fleet, villages=1)
    address, path, secret = subscribe(notified, commune_id)
    device_id, config = fleet.enrolled_agent(area=villages[0], name="Cụm loa chợ")
    agent = fleet.start(config)
    wait_for(lambda: fleet.online(device_id), 10.0, what="online")
    time.sleep(2)
    assert mailbox.to(address) == [] and hooks.to(path) == [], "nothing is broken yet"

    agent.stop()
    mails = wait_for(lambda: mailbox.to(address), 15.0, what="the e-mail")
    calls = wait_for(lambda: hooks.to(path), 15.0, what="the webhook call")
    time.sleep(QUIET_S)
    assert len(mailbox.to(address)) == 1 and len(hooks.to(path)) == 1, "one message per incident"
    fleet.controller.stop()  # a restarted controller sees the cluster offline again: told already
    fleet.controller.start()
    time.sleep(QUIET_S)
    assert len(mailbox.to(address)) == 1 and len(hooks.to(path)) == 1, "not again after a restart"

    mail = mails[0]
    assert "Cụm loa mất kết nối" in mail["Subject"] and "Cụm loa chợ" in mail["Subject"]
    text = mail.get_content()
    assert "Thôn 0" in text and "+07:00" in text, text
    body = calls[0][1]
    assert hooks.signed_by(path, secret), "the webhook is signed with the subscription's secret"
    assert body["event"] == "incident.opened"
    incident = body["incident"]
    assert incident["kind"] == "device_offline" and incident["subject"] == device_id and incident["open"]
    assert datetime.fromisoformat(incident["opened_at"]).utcoffset() is not None
    listed = fleet.http.get(f"{API}/notifications/incidents", params={"open": "true"}).json()
    assert incident["id"] in {i["id"] for i in listed}

    digest = fleet.http.post(f"{API}/notifications/digest")  # what the daily one at 07:00 sends
    assert digest.status_code == 200 and digest.json()["queued"] >= 2
    wait_for(lambda: len(mailbox.to(address)) == 2, 10.0, what="the digest e-mail")
    assert "Tóm tắt hằng ngày: 1 sự cố" in mailbox.to(address)[1]["Subject"]
    assert "Cụm loa chợ" in mailbox.to(address)[1].get_content()
    assert fleet.http.post(f"{API}/notifications/digest").json()["queued"] == 0, "once a day"

    fleet.start(config)  # back: resolved, told once more
    wait_for(lambda: len(mailbox.to(address)) == 3, 20.0, what="the resolved e-mail")
    assert "Đã khắc phục" in mailbox.to(address)[2]["Subject"]
    events = ["incident.opened", "digest", "incident.resolved"]
    wait_for(lambda: [b["event"] for _, b in hooks.to(path)] == events, 10.0, what="the resolved call")


@pytest.mark.sounds
def test_a_broadcast_that_missed_a_cluster_is_told_once(notified: Notified, tmp_path: Path) -> None:
    fleet, mailbox, hooks = notified.fleet, notified.mailbox, notified.hooks
    commune_id, villages = new_commune(fleet)
    address, path, _ = subscribe(notified, commune_id)
    playing_id, config = fleet.enrolled_agent(area=villages[0])
    fleet.start(config)
    silent_id, _ = fleet.enrolled_agent(area=villages[1], name="Cụm loa đình")  # enrolled, never started
    wait_for(lambda: fleet.online(playing_id), 10.0, what="online")
    sha, _ = upload_media(fleet, write_steps_wav(tmp_path / "tin.wav", [660.0]))

    created = fleet.http.post(f"{API}/broadcasts", json={
        "level": "normal", "media_sha256": sha, "title": "Họp thôn tối nay", "area_ids": [commune_id],
        "max_lateness_ms": 1000})
    assert created.status_code == 201, created.text
    mails = wait_for(lambda: mailbox.to(address), 40.0, what="the e-mail")
    calls = wait_for(lambda: hooks.to(path), 10.0, what="the webhook call")
    time.sleep(QUIET_S)
    assert len(mailbox.to(address)) == 1 and len(hooks.to(path)) == 1, "one message per incident"

    report = fleet.http.get(f"{API}/broadcasts/{created.json()['id']}").json()["report"]
    assert report["by_state"] == {"completed": 1, "offline": 1}
    assert "Họp thôn tối nay" in mails[0]["Subject"]
    assert "Cụm loa đình" in mails[0].get_content() and playing_id not in mails[0].get_content()
    incident = calls[0][1]["incident"]
    assert incident["kind"] == "delivery_failed" and incident["details"]["devices"] == {silent_id: "offline"}
    assert incident["area_ids"] == [villages[1]]


def test_an_admin_adds_a_webhook_in_the_console_and_is_told_a_bad_address_in_vietnamese(
        notified: Notified, open_page: Any) -> None:
    fleet = notified.fleet
    commune_id, _ = new_commune(fleet, villages=1)
    page, errors = open_page()
    page.goto(f"{fleet.controller.url}/console/#/admin/notifications")
    log_in(page, "admin", ADMIN_PASSWORD)
    page.select_option("select[name=area_id]", commune_id)
    page.fill("input[name=address]", "ky-thuat-xa-mot")
    errors.allow(422)
    page.get_by_role("button", name="Thêm", exact=True).click()
    page.get_by_role("dialog").get_by_role("button", name="Xác nhận").click()
    page.get_by_text("Địa chỉ thư điện tử không hợp lệ.").wait_for(timeout=10_000)

    hook = f"{notified.hooks.url}/hook-console-{secrets.token_hex(2)}"
    page.select_option("select[name=channel]", "webhook")
    page.fill("input[name=address]", hook)
    page.get_by_role("button", name="Thêm", exact=True).click()
    page.get_by_role("dialog").get_by_role("button", name="Xác nhận").click()
    secret = page.locator(".secret-value").inner_text().strip()
    [made] = [s for s in fleet.http.get(f"{API}/notifications/subscriptions").json() if s["address"] == hook]
    assert (made["area_id"], made["role"], made["channel"]) == (commune_id, "technician", "webhook")
    assert len(secret) >= 32
    row = page.locator("tbody tr", has_text=hook)
    assert "Kỹ thuật viên" in row.inner_text() and "Xã Riêng" in row.inner_text()
    assert accessibility_violations(page) == []

    row.get_by_role("button", name="Gửi thử").click()  # the admin checks the receiver gets it
    path = hook.removeprefix(notified.hooks.url)
    [(_, body)] = wait_for(lambda: notified.hooks.to(path), 10.0, what="the test call")
    assert body["event"] == "test" and notified.hooks.signed_by(path, secret)
