"""The project's own Mosquitto: configuration rendered from broker/, dynamic security initialised."""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from string import Template

from controller.broker_accounts.dynsec_file import write_initial

from .ports import wait_for_port
from .process import Server

BROKER_DIR = Path(__file__).resolve().parent.parent / "broker"
CONTROLLER_USERNAME = "loalang-controller"


def dynsec_plugin_path() -> str:
    """Where Debian's package put the dynamic security plugin."""
    configured = os.environ.get("LOALANG_DYNSEC_PLUGIN")
    if configured:
        return configured
    found = sorted(glob.glob("/usr/lib/*/mosquitto_dynamic_security.so"))
    found += sorted(glob.glob("/usr/lib/mosquitto_dynamic_security.so"))
    if not found:
        raise FileNotFoundError("mosquitto_dynamic_security.so not found; is mosquitto installed?")
    return found[0]


@dataclass
class BrokerConfig:
    """Everything needed to run one broker."""

    data_dir: Path
    port: int
    address: str = "127.0.0.1"
    tls_port: int | None = None  # a second listener, MQTT over TLS, when set
    tls_dir: Path | None = None  # ca.crt, server.crt and server.key (broker/make-tls.sh)
    tls_address: str | None = None  # where the TLS listener binds; default: address

    @property
    def conf_file(self) -> Path:
        """The rendered mosquitto.conf."""
        return self.data_dir / "mosquitto.conf"

    @property
    def dynsec_file(self) -> Path:
        """The plugin's state file (accounts and roles)."""
        return self.data_dir / "dynamic-security.json"

    @property
    def password_file(self) -> Path:
        """The controller's broker password, readable by the owner only."""
        return self.data_dir / "controller-password"


TLS_FILES = ("ca.crt", "server.crt", "server.key")


def tls_lines(config: BrokerConfig) -> str:
    """The TLS listener's lines of mosquitto.conf, or nothing without a TLS port."""
    if config.tls_port is None:
        return ""
    if config.tls_dir is None:
        raise ValueError("BrokerConfig.tls_port needs tls_dir (ca.crt, server.crt, server.key)")
    tls_dir = config.tls_dir.resolve()
    missing = [name for name in TLS_FILES if not (tls_dir / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{', '.join(missing)} missing in {tls_dir}; make them with broker/make-tls.sh"
        )
    return "\n".join([
        "# MQTT over TLS (server certificate from broker/make-tls.sh); same accounts as above.",
        f"listener {config.tls_port} {config.tls_address or config.address}",
        f"cafile {tls_dir / 'ca.crt'}",
        f"certfile {tls_dir / 'server.crt'}",
        f"keyfile {tls_dir / 'server.key'}",
        "tls_version tlsv1.2",
    ])


def render_config(config: BrokerConfig) -> str:
    """Fill broker/mosquitto.conf.template for this machine."""
    template = Template((BROKER_DIR / "mosquitto.conf.template").read_text())
    return template.substitute(
        LISTEN_PORT=config.port,
        LISTEN_ADDRESS=config.address,
        TLS_LINES=tls_lines(config),
        DYNSEC_PLUGIN=dynsec_plugin_path(),
        DYNSEC_FILE=config.dynsec_file,
        DATA_DIR=config.data_dir,
        RUN_AS_USER=pwd.getpwuid(os.getuid()).pw_name,
    )


def prepare(config: BrokerConfig) -> str:
    """Write the configuration and, on first use, the controller's admin account; return its password."""
    config.data_dir.mkdir(parents=True, exist_ok=True)
    config.conf_file.write_text(render_config(config))
    if not config.dynsec_file.exists() or not config.password_file.exists():
        password = secrets.token_urlsafe(24)
        write_initial(config.dynsec_file, CONTROLLER_USERNAME, password)
        config.password_file.touch(mode=0o600)
        config.password_file.write_text(password)
    config.dynsec_file.chmod(0o600)
    return config.password_file.read_text().strip()


def server(config: BrokerConfig) -> Server:
    """A Server that runs mosquitto with this configuration (call prepare() first)."""
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    return Server("mosquitto", [binary, "-c", str(config.conf_file)], config.data_dir / "mosquitto.log")


def start(config: BrokerConfig) -> tuple[Server, str]:
    """Prepare and start the broker, wait for it to listen; returns it and the controller password."""
    password = prepare(config)
    broker = server(config)
    broker.start()
    try:
        wait_for_port(config.address, config.port)
        if config.tls_port is not None:
            wait_for_port(config.tls_address or config.address, config.tls_port)
    except TimeoutError:
        broker.stop()
        raise RuntimeError(f"mosquitto did not start:\n{broker.tail()}") from None
    return broker, password
