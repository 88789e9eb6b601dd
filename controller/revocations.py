"""The root-signed list of revoked signing keys: kept in the key folder, published to every device.

The list is made offline with the root key (`radio-controller keys revoke`); the controller only
checks it against the root public key, keeps it (`revoked.json`) and publishes it, retained, on the
revocation topic of its root, at every connection to the broker and whenever it changes. The
envelope around it is the controller's, but devices trust the list for its root signature alone.

Each instance also reads that topic: it adopts a newer list another instance took (several may
run, each with its own key folder), puts its own back over an older one, and removes a list its
root did not sign, so that boards coming online later do not meet it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from loalang_protocol import envelope, topics
from loalang_protocol.envelope import Rejected
from loalang_protocol.keys import public_from_text
from loalang_protocol.mqtt import NotConnected
from loalang_protocol.revocation import RevocationError, RevocationList, check_revocation_list, is_newer

from . import audit
from .context import Services
from .errors import DomainError
from .keyring import KeyringError, read_revocations, store_revocations
from .redis_client import UNREACHABLE

log = logging.getLogger(__name__)

ENVELOPE_TTL_S = 365 * 86400  # devices do not judge the envelope's window: the root's signature counts
_replacing = asyncio.Lock()


def held(services: Services) -> RevocationList | None:
    """The list in the key folder, or None when no key was ever revoked."""
    return read_revocations(services.settings.data_dir / "keys", services.keyring.root_public)


def topic_of(services: Services) -> str:
    """The revocation topic of this controller's root."""
    return topics.revocations(services.keyring.root_kid)


async def publish(services: Services) -> None:
    """Publish the list held, retained, so that every device of the root gets it (nothing when none)."""
    try:
        revocations = held(services)
    except KeyringError as exc:
        log.error("revocation list not published: %s", exc)
        return
    if revocations is None:
        return
    topic = topic_of(services)
    payload = await services.signer.seal(topic, revocations.document, ENVELOPE_TTL_S)
    await services.link.publish(topic, payload, qos=1, retain=True)
    log.info("revocation list %s published (%s key(s))", revocations.serial, len(revocations.revoked))


async def replace(services: Services, document: dict[str, Any], actor: str) -> RevocationList:
    """Check a list made offline, keep it when newer than the one held, audit it and publish it."""
    candidate = _checked(services, document)
    async with _replacing:
        current = held(services)
        _refuse_unless_usable(services, candidate, current)
        await asyncio.to_thread(store_revocations, services.settings.data_dir / "keys", candidate)
        before = current.revoked if current else frozenset()
        added, removed = sorted(candidate.revoked - before), sorted(before - candidate.revoked)
        with services.db.session() as session:
            audit.record(session, actor, "keys.revoke", added[:20], serial=candidate.serial,
                         revoked=len(candidate.revoked), reinstated=removed[:20])
    log.warning("revocation list %s kept; newly revoked: %s; reinstated: %s", candidate.serial,
                ", ".join(added) or "none", ", ".join(removed) or "none")
    try:
        await publish(services)
    except (NotConnected, TimeoutError, *UNREACHABLE) as exc:  # kept: it goes out at the next connection
        log.error("revocation list %s kept but not published yet (%s)", candidate.serial, exc)
    return candidate


def _checked(services: Services, document: dict[str, Any]) -> RevocationList:
    try:
        return check_revocation_list(document, public_from_text(services.keyring.root_public))
    except RevocationError as exc:
        signed_by_root = exc.reason != "not_root_signed"
        raise DomainError("revocation_invalid" if signed_by_root else "revocation_not_root_signed", str(exc),
                          422) from None


def _refuse_unless_usable(services: Services, candidate: RevocationList,
                          current: RevocationList | None) -> None:
    if not is_newer(candidate, current):
        held_serial = current.serial if current else 0
        raise DomainError("revocation_not_newer", f"the list's serial {candidate.serial} is not above the "
                          f"serial {held_serial} of the list held", 409, "serial")
    if services.keyring.signing.kid in candidate.revoked:
        raise DomainError("revokes_signing_key", f"the list revokes {services.keyring.signing.kid}, the key "
                          "this controller signs with: certify a new signing key and restart first", 409,
                          "revoked")


async def on_broker_copy(services: Services, topic: str, payload: bytes, retained: bool) -> None:
    """Compare what the broker holds on the revocation topic with the list held, and converge."""
    if not payload:
        return  # cleared: the next connection publishes the list held
    try:
        seen = check_revocation_list(envelope.parse(payload)["body"],
                                     public_from_text(services.keyring.root_public))
    except (Rejected, RevocationError) as exc:
        log.warning("a revocation list its root did not sign was on the broker: %s", exc)
        await _put_back(services, topic)
        return
    async with _replacing:
        current = held(services)
        if is_newer(seen, current):
            await asyncio.to_thread(store_revocations, services.settings.data_dir / "keys", seen)
            _log_adopted(services, seen)
            return
    if current is not None and seen.serial < current.serial:
        await publish(services)


async def _put_back(services: Services, topic: str) -> None:
    """Replace an untrusted list on the broker with the list held, or remove it when there is none."""
    if held(services) is None:
        await services.link.publish(topic, b"", qos=1, retain=True)
    else:
        await publish(services)


def _log_adopted(services: Services, seen: RevocationList) -> None:
    log.warning("revocation list %s taken from the broker (another controller instance published it)",
                seen.serial)
    if services.keyring.signing.kid in seen.revoked:
        log.error("this controller's signing key %s is revoked: certify a new one and restart",
                  services.keyring.signing.kid)
