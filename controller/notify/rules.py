"""Who hears of what: each role's incident kinds, and whether a subscription covers an incident."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from ..security.roles import Role


class Kind(StrEnum):
    """What an incident is about."""

    DEVICE_OFFLINE = "device_offline"  # a cluster stopped answering (lasting: resolved when it is back)
    DELIVERY_FAILED = "delivery_failed"  # a broadcast or occurrence did not play on some clusters
    AMPLIFIER_SILENT = "amplifier_silent"  # a cluster played and its microphone heard nothing (lasting)
    WRONG_AUDIO = "wrong_audio"  # a cluster played and its microphone heard another sound (lasting)
    CAP_ALERT = "cap_alert"  # a warning centre's alert was put on the air


LASTING = frozenset({Kind.DEVICE_OFFLINE, Kind.AMPLIFIER_SILENT, Kind.WRONG_AUDIO})
"""Kinds that stay open while their cause lasts; the others are told once and are over."""

ROLE_KINDS: dict[str, frozenset[Kind]] = {
    Role.ADMIN: frozenset(Kind),
    Role.TECHNICIAN: frozenset({Kind.DEVICE_OFFLINE, Kind.AMPLIFIER_SILENT, Kind.WRONG_AUDIO,
                                Kind.DELIVERY_FAILED}),
    Role.OPERATOR: frozenset({Kind.DELIVERY_FAILED, Kind.AMPLIFIER_SILENT, Kind.WRONG_AUDIO, Kind.CAP_ALERT}),
    Role.APPROVER: frozenset({Kind.CAP_ALERT}),
    Role.VIEWER: frozenset({Kind.CAP_ALERT}),
}
"""The table of the rules: what each role is told of, in its area and everything below it."""


def kinds_for(role: str, chosen: Iterable[str]) -> frozenset[Kind]:
    """What a subscription hears of: its role's kinds, narrowed to the chosen ones when any are."""
    allowed = ROLE_KINDS.get(role, frozenset())
    picked = {kind for kind in Kind if kind.value in set(chosen)}
    return allowed & picked if picked else allowed


def covers(subscription_area: str | None, below: set[str] | None, incident_areas: Iterable[str]) -> bool:
    """Whether an incident about incident_areas lies in a subscription's area (below: that area and
    every area under it; None with subscription_area None: the whole tree)."""
    if subscription_area is None:
        return True
    return below is not None and any(area in below for area in incident_areas)


def wants(role: str, chosen: Iterable[str], kind: str) -> bool:
    """Whether a subscription of role, narrowed to chosen, hears of kind."""
    return kind in {k.value for k in kinds_for(role, chosen)}
