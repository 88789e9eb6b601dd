"""Writes docs/configuration.md from the settings models, so the reference cannot drift.

    .venv/bin/python -m loalang_stack.settings_doc > docs/configuration.md
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from controller.settings import Settings
from receiver_agent.config import AgentConfig, AmplifierConfig, AudioConfig, BrokerConfig

HEADER = """# Configuration

Generated from the settings models by `python -m loalang_stack.settings_doc`; a test checks that
this file matches them.

## Controller

Environment variables with the prefix `LOALANG_` (or a `.env`-style environment from the service
manager). In `production` the controller refuses to start when the admin password, the broker
password (or its file's content), the database URL's password (a database server's; SQLite has none)
or the Redis URL's password (required there) is missing, a placeholder (`change-me...`, `example`,
`password`, `secret`, ...) or shorter than 16 characters, and while the root private key (`root.key`)
is in `DATA_DIR/keys` unless `LOALANG_ALLOW_ONLINE_ROOT_KEY=true`. The error names the setting, never
its value; see docs/operations.md for the production set-up.

| Variable | Default | Meaning |
|---|---|---|
"""

AGENT = """
## Receiver agent

A TOML file (default `/etc/loalang/agent.toml`, mode 0600) written by `receiver-agent enroll`.
Tables are shown as `table.key`.

| Key | Default | Meaning |
|---|---|---|
"""

EXTRA_HEADER = """
## Other environment variables

| Variable | Used by | Meaning |
|---|---|---|
"""
EXTRA = [
    ("LOALANG_LOG_LEVEL", "both command lines", "DEBUG, INFO (default), WARNING or ERROR"),
    ("LOALANG_SIM_ADMIN_PASSWORD", "`receiver-agent simulate`",
     "admin password used to register new simulated receivers"),
    ("LOALANG_HTTP_PORT, LOALANG_MQTT_PORT, LOALANG_REDIS_PORT", "`make demo`",
     "ports of the demo's controller, broker and Redis"),
    ("LOALANG_ADMIN_PASSWORD", "`make demo`", "the demo admin's password (default `admin`)"),
    ("LOALANG_BROKER", "`make demo`",
     "`mosquitto` (default) or `nats`: a three-node NATS cluster, its MQTT ports LOALANG_MQTT_PORT and the "
     "two after it"),
    ("LOALANG_DEMO_DIR", "`make demo`",
     "where the demo keeps its state (default `data/demo`, `data/demo-nats` on NATS)"),
    ("LOALANG_DYNSEC_PLUGIN", "local broker",
     "path of `mosquitto_dynamic_security.so` if not in `/usr/lib/*/`"),
    ("LOALANG_DOCTOR_MIN_FREE_MB", "`receiver-agent doctor`", "free disk space required (default 200)"),
    ("LOALANG_SIMULATED_CLOCK_ERROR_S", "agent, doctor",
     "tests only: pretend the clock is off by this much (s)"),
    ("LOALANG_MQTT_USERNAME, LOALANG_MQTT_PASSWORD, LOALANG_MQTT_HEALTHCHECK_USERNAME, "
     "LOALANG_MQTT_HEALTHCHECK_PASSWORD", "`radio-controller broker-init`",
     "accounts written into the broker's first state file"),
]


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    value: Any = field.get_default(call_default_factory=True)
    if hasattr(value, "get_secret_value"):
        value = value.get_secret_value() or ""
    if isinstance(value, BaseModel):
        return "see below"
    return f"`{value}`" if value not in (None, "") else "none"


def _rows(model: type[BaseModel], name_of: Any) -> list[str]:
    rows = []
    for name, field in model.model_fields.items():
        description = (field.description or "").replace("|", "\\|")
        rows.append(f"| `{name_of(name)}` | {_default(field)} | {description} |")
    return rows


def render() -> str:
    """The whole reference page."""
    lines = [HEADER.rstrip("\n")]
    lines += _rows(Settings, lambda name: f"LOALANG_{name.upper()}")
    lines.append(AGENT.rstrip("\n"))
    tables = ("| `broker`", "| `audio`", "| `amplifier`")
    lines += [row for row in _rows(AgentConfig, str) if not row.startswith(tables)]
    lines += _rows(BrokerConfig, lambda name: f"broker.{name}")
    lines += _rows(AudioConfig, lambda name: f"audio.{name}")
    lines += _rows(AmplifierConfig, lambda name: f"amplifier.{name}")
    lines.append(EXTRA_HEADER.rstrip("\n"))
    for names, user, meaning in EXTRA:
        variables = ", ".join(f"`{name}`" for name in names.split(", "))
        lines.append(f"| {variables} | {user} | {meaning} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render(), end="")
