"""A webhook's signature is the HMAC-SHA256 of its timestamp and body; a webhook may reach only
public addresses unless a setting names the network; an e-mail goes only with a server set."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller as SmtpController
from aiosmtpd.smtp import AuthResult, LoginPassword

from controller.live.sources import SourceError
from controller.notify.channels import ChannelError, check_webhook, send_email, send_webhook, signature
from controller.settings import Settings
from loalang_stack.ports import free_port

pytestmark = pytest.mark.unit


def settings(**fields: str) -> Settings:
    return Settings(environment="test", **fields)  # type: ignore[arg-type]


def test_the_signature_covers_the_timestamp_and_the_body() -> None:
    expected = hmac.new(b"k" * 32, b"1700000000.{}", hashlib.sha256).hexdigest()
    assert signature("k" * 32, "1700000000", b"{}") == f"sha256={expected}"
    assert signature("k" * 32, "1700000001", b"{}") != signature("k" * 32, "1700000000", b"{}")


@pytest.mark.parametrize("url", ["http://127.0.0.1:9000/hook", "http://10.1.2.3/sms",
                                 "http://169.254.169.254/latest/meta-data", "https://[::1]/zalo"])
def test_a_webhook_on_a_private_address_is_refused_naming_the_setting(url: str) -> None:
    with pytest.raises(SourceError, match="LOALANG_NOTIFY_ALLOWED_NETWORKS"):
        asyncio.run(check_webhook(url, settings()))


@pytest.mark.parametrize("url", ["ftp://example.vn/x", "example.vn/hook", "http:///nohost",
                                 "https://exa mple.vn/", "http://\x00x/", "http://[::1", "http://a.vn:99999/"])
def test_a_webhook_must_be_an_http_url(url: str) -> None:
    with pytest.raises(SourceError, match="webhook"):
        asyncio.run(check_webhook(url, settings()))


def test_a_named_network_may_be_reached() -> None:
    asyncio.run(check_webhook("http://10.20.0.7:8080/sms", settings(notify_allowed_networks="10.20.0.0/16")))


def test_sending_to_a_refused_address_fails_without_calling_it() -> None:
    with pytest.raises(ChannelError, match="private or local"):
        asyncio.run(send_webhook(settings(), "http://127.0.0.1:9/hook", "k" * 32, {"event": "x"}))


def test_no_email_is_sent_without_a_server() -> None:
    with pytest.raises(ChannelError, match="LOALANG_SMTP_HOST"):
        asyncio.run(send_email(settings(), "kt@xa.example.vn", "s", "t"))


def test_a_webhook_is_called_at_the_address_checked_with_its_name_and_a_valid_signature(
        monkeypatch: pytest.MonkeyPatch) -> None:
    async def resolved_once(host: str, port: int, allowed: object) -> ipaddress.IPv4Address:
        return ipaddress.IPv4Address("127.0.0.1")  # what the check saw; the name resolves nowhere later

    monkeypatch.setattr("controller.notify.channels.checked_address", resolved_once)
    received: list[tuple[dict[str, str], bytes]] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            received.append((dict(self.headers.items()), self.rfile.read(length)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_port
    try:
        asyncio.run(send_webhook(settings(notify_allowed_networks="127.0.0.0/8"),
                                 f"http://hook.invalid:{port}/sms?to=0912", "k" * 32,
                                 {"event": "x", "text": "Thôn"}))
    finally:
        server.shutdown()
        server.server_close()
    [(headers, body)] = received
    assert headers["Host"] == f"hook.invalid:{port}", "the name, though the address checked was called"
    assert json.loads(body) == {"event": "x", "text": "Thôn"}
    assert headers["X-Loalang-Signature"] == signature("k" * 32, headers["X-Loalang-Timestamp"], body)


class Server:
    """A local SMTP server (aiosmtpd) that accepts one account, keeping what it is handed."""

    def __init__(self, password: str) -> None:
        self.received: list[tuple[str, list[str], bytes]] = []
        self.password = password
        self.port = free_port()
        self.controller = SmtpController(self, hostname="127.0.0.1", port=self.port, auth_require_tls=False,
                                         authenticator=self.authenticate)
        self.controller.start()

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, auth: Any) -> AuthResult:
        expected = (b"xa-mot", self.password.encode())
        return AuthResult(success=isinstance(auth, LoginPassword) and (auth.login, auth.password) == expected)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append((envelope.mail_from, envelope.rcpt_tos, envelope.original_content))
        return "250 OK"


def test_an_email_logs_in_with_the_password_from_its_file_and_a_failure_never_says_it(tmp_path: Path) -> None:
    secret_file = tmp_path / "smtp-password"
    secret_file.write_text("mat-khau-thu-dien-tu\n")
    server = Server("mat-khau-thu-dien-tu")
    try:
        mail = {"smtp_host": "127.0.0.1", "smtp_port": str(server.port), "smtp_starttls": "false",
                "smtp_username": "xa-mot", "smtp_from": "loalang@xa.example.vn"}
        asyncio.run(send_email(settings(**mail, smtp_password_file=str(secret_file)), "kt@xa.example.vn",
                               "Cụm loa mất kết nối", "Thôn Đông"))
    finally:
        server.controller.stop()
    with pytest.raises(ChannelError) as refused:  # the server is gone now
        asyncio.run(send_email(settings(**mail, smtp_password="sai-mat-khau-roi"), "kt@xa.example.vn",
                               "s", "t"))
    [(sender, recipients, raw)] = server.received
    assert (sender, recipients) == ("loalang@xa.example.vn", ["kt@xa.example.vn"])
    assert "Thôn Đông" in raw.decode()
    said = str(refused.value)
    assert said.startswith(f"SMTP 127.0.0.1:{server.port}: ") and "sai" not in said, "never the password"
