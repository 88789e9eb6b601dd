"""The list of revoked signing keys on the agent: checked with the root key, kept across reboots.

The controller publishes the list retained in its envelope, but the list is trusted for the root's
signature alone (the root's public half came with enrolment): a stolen signing key cannot revoke
its successor, and a list stays good however long it waits on the broker. The newest list (highest
serial) is kept in the state file and given to the verifier at boot and on every new list.
"""

from __future__ import annotations

import logging

from loalang_protocol import envelope, topics
from loalang_protocol.envelope import ControllerVerifier, Rejected
from loalang_protocol.revocation import (
    RevocationError,
    RevocationList,
    check_revocation_list,
    is_newer,
    root_kid,
)

from .state import AgentState

log = logging.getLogger(__name__)


class Revocations:
    """Holds the newest revocation list and keeps the verifier refusing the keys it names."""

    def __init__(self, state: AgentState, verifier: ControllerVerifier, device_id: str) -> None:
        self.state = state
        self.verifier = verifier
        self.device_id = device_id
        self.topic = topics.revocations(root_kid(verifier.root_public))
        self.held = self._restore()

    @property
    def serial(self) -> int | None:
        """The serial of the list held (None before the first)."""
        return self.held.serial if self.held else None

    def _restore(self) -> RevocationList | None:
        """The list kept in the state file, checked again (a damaged file is reported, not trusted)."""
        if self.state.revocation is None:
            return None
        try:
            held = check_revocation_list(self.state.revocation, self.verifier.root_public)
        except RevocationError as exc:
            log.error("device %s: the revocation list kept is not usable (%s); waiting for the next one",
                      self.device_id, exc)
            return None
        self.verifier.use_revocations(held.revoked)
        return held

    def take(self, payload: bytes) -> bool:
        """Apply a published list when it is newer; raises Rejected when it cannot be trusted."""
        body = envelope.parse(payload)["body"]
        try:
            candidate = check_revocation_list(body, self.verifier.root_public)
        except RevocationError as exc:
            raise Rejected(f"revocation_{exc.reason}", exc.detail) from None
        if not is_newer(candidate, self.held):
            return False
        self.held = candidate
        self.verifier.use_revocations(candidate.revoked)
        self.state.revocation = candidate.document
        self.state.save()
        log.warning("device %s: revocation list %s taken; refusing key(s) %s", self.device_id,
                    candidate.serial, ", ".join(sorted(candidate.revoked)))
        return True
