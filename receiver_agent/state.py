"""What the agent remembers across restarts: boot counter, install id, replay counters, applied state,
the newest signed issue time it verified, and the list of revoked signing keys."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .storage import read_json, write_json, write_json_soon


def new_install_id() -> str:
    """A new install id; a re-imaged board gets a new one, so its event numbers start a new series."""
    return "i-" + secrets.token_hex(6)


@dataclass
class AgentState:
    """The agent's persistent state, saved atomically after every change."""

    path: Path
    install_id: str
    boot: int = 0
    held_device: int = 0
    held_areas: dict[str, int] = field(default_factory=dict)
    volume: int | None = None
    areas: list[str] = field(default_factory=list)
    data_month: str = ""
    data_month_bytes: int = 0
    replay: dict[str, list[Any]] = field(default_factory=dict)
    newest_signed_ms: int = 0  # the newest issue time of a controller message ever verified
    revocation: dict[str, Any] | None = None  # the newest root-signed list of revoked keys, as received

    @classmethod
    def load(cls, path: Path) -> AgentState:
        """Read the state file, starting fresh when there is none."""
        data = read_json(path, {})
        return cls(
            path=path,
            install_id=str(data.get("install_id") or new_install_id()),
            boot=int(data.get("boot", 0)),
            held_device=int(data.get("held_device", 0)),
            held_areas={str(k): int(v) for k, v in dict(data.get("held_areas", {})).items()},
            volume=data.get("volume"),
            areas=[str(a) for a in data.get("areas", [])],
            data_month=str(data.get("data_month", "")),
            data_month_bytes=int(data.get("data_month_bytes", 0)),
            replay=dict(data.get("replay", {})),
            newest_signed_ms=_non_negative_int(data.get("newest_signed_ms")),
            revocation=data.get("revocation") if isinstance(data.get("revocation"), dict) else None,
        )

    def save(self, now: bool = False) -> None:
        """Write the state atomically: at once when now, else from the background writer."""
        (write_json if now else write_json_soon)(self.path, {
            "install_id": self.install_id, "boot": self.boot,
            "held_device": self.held_device, "held_areas": self.held_areas, "volume": self.volume,
            "areas": self.areas, "data_month": self.data_month, "data_month_bytes": self.data_month_bytes,
            "replay": self.replay, "newest_signed_ms": self.newest_signed_ms, "revocation": self.revocation,
        })

    def note_signed(self, issued_ms: int, bound_ms: int | None) -> None:
        """Raise the newest signed issue time to issued_ms; when the time is known, bound_ms (that
        time plus the allowed skew) caps it, so that a mark pushed ahead while the time was
        unknown comes back down."""
        newest = max(self.newest_signed_ms, issued_ms)
        self.newest_signed_ms = newest if bound_ms is None else min(newest, bound_ms)

    def next_boot(self) -> int:
        """Count a start of the agent and save it before anything else happens."""
        self.boot += 1
        self.save(now=True)
        return self.boot


def _non_negative_int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0
