"""What the device is doing, read from its own files: for a technician at the pole with no network.

Used by `receiver-agent status` and by the optional read-only status page.
"""

from __future__ import annotations

import json
import time
from typing import Any

from . import health
from .config import AgentConfig
from .relays import relay_state
from .storage import read_json


def collect(config: AgentConfig) -> dict[str, Any]:
    """The device's state from disk (works while the agent runs and while it does not)."""
    data_dir = config.data_dir
    running = health.read(data_dir, max_age_s=3 * config.telemetry_interval_s + 5)
    state = read_json(data_dir / "state.json", {})
    schedule = read_json(data_dir / "schedule.json", {"sources": {}, "done": []})
    now_ms = int(time.time() * 1000)
    done = set(schedule.get("done", []))
    upcoming = sorted(
        (o for source in schedule.get("sources", {}).values() for o in source.get("occurrences", [])
         if o.get("id") not in done and o.get("start_ms", 0) > now_ms),
        key=lambda o: o["start_ms"],
    )
    return {
        "device_id": config.device_id,
        "areas": state.get("areas") or config.areas,
        "agent_running": running is not None,
        "connected": bool(running and running.get("connected")),
        "boot": state.get("boot"),
        "volume": state.get("volume"),
        "amplifier_on": relay_state(config),
        "pending_receipts": len(list((data_dir / "outbox").glob("*.json"))),
        "next": [{"id": o["id"], "level": o["level"], "start": _iso(o["start_ms"]),
                  "title": o.get("title", "")} for o in upcoming[:5]],
        "cache_bytes": sum(p.stat().st_size for p in (data_dir / "cache").glob("*") if p.is_file()),
        "data_month_bytes": state.get("data_month_bytes"),
    }


def _iso(ms: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ms / 1000))


def render_text(status: dict[str, Any]) -> str:
    """A few readable lines."""
    lines = [
        f"device      {status['device_id']} ({' / '.join(status['areas'])})",
        f"agent       {'running' if status['agent_running'] else 'NOT RUNNING'}, "
        f"{'connected' if status['connected'] else 'not connected'}, boot {status['boot']}",
        f"amplifier   {'on' if status['amplifier_on'] else 'off'}; volume {status['volume']}",
        f"receipts    {status['pending_receipts']} waiting to be sent",
        f"cache       {status['cache_bytes'] / 1e6:.1f} MB; data this month "
        f"{(status['data_month_bytes'] or 0) / 1e6:.1f} MB",
        "next items:",
    ]
    lines += [f"  {item['start']}  {item['level']:<9} {item['id']} {item['title']}"
              for item in status["next"]]
    if not status["next"]:
        lines.append("  none")
    return "\n".join(lines)


def render_json(status: dict[str, Any]) -> str:
    """The same as JSON."""
    return json.dumps(status, indent=1)
