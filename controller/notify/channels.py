"""The two ways a message leaves: e-mail over SMTP, and a webhook (a signed JSON POST).

A webhook's body is signed with the subscription's secret (HMAC-SHA256 over the timestamp, a dot
and the body), so its receiver can trust it came from here and is fresh:
`X-Loalang-Timestamp: <unix seconds>` and `X-Loalang-Signature: sha256=<hex>`. Its host must
resolve only to public addresses, unless LOALANG_NOTIFY_ALLOWED_NETWORKS names its network (the
same check as a relayed station's), checked again before every call, which connects to the address
checked (with the host's name in `Host` and, over HTTPS, in SNI and the certificate check).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import smtplib
import ssl
import time
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

import httpx

from ..live.sources import SourceError
from ..live.stations import Address, Unresolved, checked_address
from ..settings import Settings

TIMEOUT_S = 15.0
SIGNATURE_HEADER = "X-Loalang-Signature"
TIMESTAMP_HEADER = "X-Loalang-Timestamp"


class ChannelError(Exception):
    """A message could not be handed over; the text says why, never a secret."""


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header's value for a body sent at timestamp."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


async def send_email(settings: Settings, to: str, subject: str, text: str) -> None:
    """Hand an e-mail to the SMTP server (in a worker thread: smtplib blocks)."""
    if not settings.smtp_host:
        raise ChannelError("no SMTP server is set (LOALANG_SMTP_HOST)")
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = settings.smtp_from, to, subject
    message.set_content(text)
    try:
        await asyncio.to_thread(_submit, settings, message)
    except (smtplib.SMTPException, OSError) as exc:
        raise ChannelError(f"SMTP {settings.smtp_host}:{settings.smtp_port}: {type(exc).__name__}") from None


def _submit(settings: Settings, message: EmailMessage) -> None:
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=TIMEOUT_S) as smtp:
        if settings.smtp_starttls:
            smtp.starttls(context=ssl.create_default_context())
        if settings.smtp_username:
            smtp.login(settings.smtp_username, settings.smtp_secret())
        smtp.send_message(message)


async def check_webhook(url: str, settings: Settings) -> None:
    """Refuse (SourceError) a webhook URL that is not http(s) or whose host is at an address not
    allowed; a host that cannot be resolved now passes (each call checks again)."""
    with contextlib.suppress(Unresolved):
        await webhook_address(url, settings)


async def webhook_address(url: str, settings: Settings) -> Address:
    """The address to call a webhook at, once every address its host resolves to is allowed
    (SourceError when one is not, Unresolved when it has none)."""
    try:
        parts = urlsplit(url)
        hostname, port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:  # a bad port, or a bracketed address that is not one
        raise SourceError("the webhook URL's host or port is not valid") from None
    if parts.scheme not in ("http", "https") or not hostname or any(c.isspace() or c < " " for c in url):
        raise SourceError("a webhook must be an http:// or https:// URL with a host")
    try:
        return await checked_address(hostname, port, settings.webhook_networks())
    except Unresolved:
        raise
    except SourceError:
        raise SourceError(f"the webhook's host {hostname[:100]} is at a private or local address: "
                          "only public addresses, unless LOALANG_NOTIFY_ALLOWED_NETWORKS names its network"
                          ) from None


async def send_webhook(settings: Settings, url: str, secret: str, body: dict[str, Any]) -> None:
    """POST the JSON body, signed, to the address just checked (so a name that resolves elsewhere
    after the check reaches nothing else); ChannelError unless the receiver answers 2xx."""
    try:
        address = await webhook_address(url, settings)
    except SourceError as exc:  # Unresolved too
        raise ChannelError(str(exc)) from None
    parts = urlsplit(url)
    host = parts.hostname or "?"
    raw = json.dumps(body, ensure_ascii=False).encode()
    timestamp = str(int(time.time()))
    headers = {"Content-Type": "application/json", "Host": parts.netloc.rpartition("@")[2],
               TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: signature(secret, timestamp, raw)}
    try:
        pinned = httpx.URL(url).copy_with(host=str(address))
        async with httpx.AsyncClient(timeout=TIMEOUT_S, follow_redirects=False, trust_env=False) as client:
            answer = await client.post(pinned, content=raw, headers=headers,
                                       extensions={"sni_hostname": host} if parts.scheme == "https" else {})
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise ChannelError(f"webhook {host}: {type(exc).__name__}") from None
    if not 200 <= answer.status_code < 300:
        raise ChannelError(f"webhook {host} answered {answer.status_code}")
