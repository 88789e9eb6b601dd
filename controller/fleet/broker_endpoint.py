"""Where devices reach the broker: host, port, TLS and the CA certificate they verify it with."""

from __future__ import annotations

import logging
from pathlib import Path

from cryptography import x509

from loalang_protocol.broker_addresses import BrokerAddress

from ..settings import Settings

log = logging.getLogger(__name__)


class BrokerEndpointError(RuntimeError):
    """The controller cannot tell devices how to reach the broker (a configuration problem)."""


DEFAULT_TLS_PORT = 8883
MAX_CA_PEM_BYTES = 16 * 1024  # a private CA's certificate or a few; a system-wide bundle is not sent


def device_tls_ca_file(settings: Settings) -> str | None:
    """The CA certificate file devices verify the broker with; devices use TLS when there is one."""
    return settings.device_tls_ca_file or settings.mqtt_tls_ca_file


def device_broker_port(settings: Settings) -> int:
    """The broker port given to devices: the TLS port when they use TLS."""
    if settings.device_mqtt_port:
        return settings.device_mqtt_port
    if settings.device_tls_ca_file and not settings.mqtt_tls_ca_file:
        return DEFAULT_TLS_PORT  # the controller itself uses plain MQTT on mqtt_port
    return settings.mqtt_port


def device_broker_address(settings: Settings) -> BrokerAddress:
    """The one broker address given to devices: the first of the cluster's nodes when they are set."""
    nodes = settings.device_addresses()
    if nodes:
        return nodes[0]
    return BrokerAddress(settings.device_mqtt_host or settings.mqtt_host, device_broker_port(settings))


def device_ca_pem(settings: Settings) -> str | None:
    """The CA certificate (PEM) to send to devices, or None when there is none to send.

    Read before the claim code is spent, so that a broken setting does not waste codes. A file
    over MAX_CA_PEM_BYTES is a system-wide bundle (the broker's certificate is from a public CA):
    it is not sent and devices verify the broker with their own system CA certificates.
    """
    path = device_tls_ca_file(settings)
    if not path:
        return None
    try:
        raw = Path(path).read_bytes()
        if len(raw) > MAX_CA_PEM_BYTES:
            log.warning("%s is %d bytes, too large to send to devices; they will verify the broker "
                        "with their system CA certificates", path, len(raw))
            return None
        x509.load_pem_x509_certificates(raw)
        return raw.decode("ascii")
    except (OSError, ValueError) as exc:
        log.error("cannot send the broker's CA certificate %s to devices: %s", path, exc)
        raise BrokerEndpointError(
            "the controller cannot read the broker's CA certificate; ask its operator to check "
            "LOALANG_DEVICE_TLS_CA_FILE / LOALANG_MQTT_TLS_CA_FILE"
        ) from None
