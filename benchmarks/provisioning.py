"""Broker provisioning at a fleet's size: N device accounts straight through the controller's backend.

Starts the broker alone (the project's own Mosquitto, or a three-node NATS cluster in operator
mode) and provisions N devices, each with a three-level area chain, through the same
`BrokerAccounts` the controller uses: `MosquittoDynsec` over an `MqttLink` logged in as the
controller, or `NatsAccounts` over the cluster's system account. Measured:

1. provisioning, per slice of 1,000 devices: the slice's time, ms per device, and the brokers'
   memory at its end (how it grows with the fleet);
2. a few provisioned devices connect with paho (CONNACK 0), so the accounts are real;
3. revocation with the whole fleet in place: a sample of devices revoked one by one; a revoked
   device is refused (CONNACK 5);
4. on NATS, where the devices' account JWT carries one entry per revoked device: its size and the
   time of one revocation when it already lists 0, 1,000 and 5,000 revoked keys.

Prints one JSON line.

    .venv/bin/python -m benchmarks.provisioning --broker mosquitto --count 10000
    .venv/bin/python -m benchmarks.provisioning --broker nats --count 10000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from benchmarks.stack import machine, rss_mb
from controller.broker_accounts import nats_jwt
from controller.broker_accounts.base import BrokerAccounts, BrokerLogin, DeviceAccount
from controller.broker_accounts.mosquitto import MosquittoDynsec
from controller.broker_accounts.nats import NatsAccounts, device_user_seed
from controller.broker_accounts.nats_revocations import AccountVersion, RevocationBook
from controller.db.session import open_database
from loalang_protocol.mqtt import LinkSettings, MqttLink
from loalang_stack.broker import CONTROLLER_USERNAME
from loalang_stack.process import Server
from loalang_stack.stack import LOCALHOST, LocalStack

AREAS = ("pv-tinh", "pv-xa", "pv-thon")  # province, commune, village: root first
PREFIX = "pv"
SLICE = 1000
REVOKED_SAMPLE = 20
CONNECT_SAMPLES = 3
REVOCATION_LOADS = (0, 1000, 5000, 10000, 11000)
UPDATE_SPREAD_S = 1.0  # an account update reaches the other nodes after its answer
CONNACK_TIMEOUT_S = 15.0


@dataclass
class Backend:
    """One broker's account system, where its devices connect, and its processes."""

    name: str
    accounts: BrokerAccounts
    mqtt_port: int
    servers: list[Server]
    state_file: Path | None = None  # Mosquitto's dynamic-security file

    def rss_mb(self) -> list[float]:
        """Resident memory of each broker process (MB)."""
        return [rss_mb(server.process.pid) for server in self.servers if server.process is not None]


def device_id(number: int) -> str:
    """The benchmark's device ids, in a namespace of their own."""
    return f"{PREFIX}-{number:05d}"


# -- the brokers --------------------------------------------------------------------------------

@asynccontextmanager
async def mosquitto_backend(stack: LocalStack) -> AsyncIterator[Backend]:
    """The project's Mosquitto, its dynamic security driven over MQTT as the controller does."""
    config = stack.start_broker()
    link = MqttLink(LinkSettings(LOCALHOST, config.port, f"controller-{secrets.token_hex(4)}",
                                 CONTROLLER_USERNAME, stack.mqtt_password))
    accounts = MosquittoDynsec(link, CONTROLLER_USERNAME)
    task = asyncio.create_task(link.run())
    try:
        async with asyncio.timeout(30):
            await link.connected.wait()
        await accounts.prepare()
        assert stack.broker is not None
        yield Backend("mosquitto", accounts, config.port, [stack.broker], config.dynsec_file)
    finally:
        await link.close()
        task.cancel()


@asynccontextmanager
async def nats_backend(stack: LocalStack) -> AsyncIterator[Backend]:
    """A three-node cluster; logins signed and revoked by NatsAccounts as the controller does."""
    cluster = stack.start_nats_cluster()
    database = open_database(f"sqlite:///{cluster.root / 'controller.sqlite3'}")
    book = RevocationBook(database, cluster.trust.account_public)
    accounts = NatsAccounts(cluster.trust, cluster.nats_servers.split(","), book)
    try:
        await accounts.prepare()
        servers = [node.server for node in cluster.nodes if node.server is not None]
        yield Backend("nats", accounts, cluster.nodes[0].mqtt_port, servers)
    finally:
        await accounts.close()


BACKENDS: dict[str, Callable[[LocalStack], Any]] = {"mosquitto": mosquitto_backend, "nats": nats_backend}


# -- a device's connection ----------------------------------------------------------------------

def connack(port: int, login: BrokerLogin) -> int | None:
    """Connect with paho as the device: the CONNACK's reason code (None when none came)."""
    answered = threading.Event()
    result: list[int] = []

    def on_connect(client: paho.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        result.append(reason.value if hasattr(reason, "value") else int(reason))
        answered.set()

    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=login.client_id)
    client.username_pw_set(login.username, login.password)
    client.on_connect = on_connect
    client.connect(LOCALHOST, port, keepalive=30)
    client.loop_start()
    try:
        answered.wait(CONNACK_TIMEOUT_S)
    finally:
        client.disconnect()
        client.loop_stop()
    return result[0] if result else None


async def connack_codes(backend: Backend, logins: list[BrokerLogin]) -> list[int | None]:
    """Each login's CONNACK, one after the other."""
    return [await asyncio.to_thread(connack, backend.mqtt_port, login) for login in logins]


# -- provisioning -------------------------------------------------------------------------------

async def provision(backend: Backend, count: int) -> tuple[list[dict[str, Any]], dict[int, BrokerLogin]]:
    """Provision count devices in slices of SLICE; each slice's figures, and a few logins to try."""
    slices: list[dict[str, Any]] = []
    samples = {0, count // 2, count - 1}
    logins: dict[int, BrokerLogin] = {}
    for first in range(0, count, SLICE):
        numbers = range(first, min(count, first + SLICE))
        started = time.perf_counter()
        for number in numbers:
            account = DeviceAccount(device_id(number), secrets.token_urlsafe(32), AREAS,
                                    replaces_earlier=False)  # a first enrolment
            login = await backend.accounts.provision_device(account)
            if number in samples:
                logins[number] = login
        slices.append(slice_figures(backend, numbers, time.perf_counter() - started))
        print(json.dumps(slices[-1]), file=sys.stderr, flush=True)  # a long run shows its progress
    return slices, logins


def slice_figures(backend: Backend, numbers: range, seconds: float) -> dict[str, Any]:
    """One slice: its size, time, per-device time and the brokers' memory after it."""
    figures: dict[str, Any] = {"fleet": numbers.stop, "s": round(seconds, 2),
                               "ms_per_device": round(1000 * seconds / len(numbers), 2),
                               "broker_rss_mb": backend.rss_mb()}
    if backend.state_file is not None:
        figures["state_file_mb"] = round(backend.state_file.stat().st_size / 1e6, 1)
    return figures


async def revoke_sample(backend: Backend, numbers: list[int]) -> dict[str, Any]:
    """Revoke the devices one by one: the time of each, summed up."""
    times = []
    for number in numbers:
        started = time.perf_counter()
        await backend.accounts.revoke_device(device_id(number))
        times.append(1000 * (time.perf_counter() - started))
    return {"revoked": len(times), "p50_ms": round(statistics.median(times), 1),
            "max_ms": round(max(times), 1)}


# -- NATS: the account's revocation list --------------------------------------------------------

async def list_revoked(accounts: NatsAccounts, count: int) -> int:
    """Make the devices' account list count revoked keys (of devices outside the fleet) at once, as
    the controller's book would hold them; returns the size of its JWT."""
    now = int(time.time())
    gone_until = now + 86400  # deleted today: within a login's lifetime, so kept
    revoked = {nats_jwt.public_key(device_user_seed(accounts.trust, f"gone-{n}")): gone_until
               for n in range(count)}
    version = await asyncio.to_thread(accounts.book.take_up, AccountVersion(revoked, 0), now,
                                      accounts.login_lifetime_s)
    await accounts.agree_with_nodes()
    await asyncio.sleep(UPDATE_SPREAD_S)
    assert version is not None
    return len(accounts.trust.account_jwt(version.revocations, version.issued_at))


async def revocation_by_list_size(backend: Backend, count: int) -> list[dict[str, Any]]:
    """At each list size: the account JWT's size and the time of REVOKED_SAMPLE revocations (or the
    error that stopped them)."""
    assert isinstance(backend.accounts, NatsAccounts)
    figures: list[dict[str, Any]] = []
    for round_number, listed in enumerate(REVOCATION_LOADS):
        first = count - (round_number + 2) * REVOKED_SAMPLE  # the last REVOKED_SAMPLE went before
        try:
            size = await list_revoked(backend.accounts, listed)
            sample = await revoke_sample(backend, list(range(first, first + REVOKED_SAMPLE)))
        except Exception as exc:  # the limit is a result
            figures.append({"listed": listed, "error": repr(exc)[:200]})
            break
        figures.append({"listed": listed, "account_jwt_kb": round(size / 1000, 1), **sample})
    return figures


# -- the run ------------------------------------------------------------------------------------

async def measure(backend: Backend, count: int) -> dict[str, Any]:
    """Provision, try some logins, revoke a sample (and, on NATS, at several list sizes)."""
    results: dict[str, Any] = {"broker_rss_mb_before": backend.rss_mb()}
    started = time.perf_counter()
    results["slices"], logins = await provision(backend, count)
    results["total_s"] = round(time.perf_counter() - started, 1)
    results["connack_provisioned"] = await connack_codes(backend, list(logins.values()))
    revoked = count - REVOKED_SAMPLE
    results["revocation"] = await revoke_sample(backend, list(range(revoked, count)))
    results["connack_revoked"] = await connack_codes(backend, [logins[count - 1]])
    if isinstance(backend.accounts, NatsAccounts):
        results["revocation_by_listed"] = await revocation_by_list_size(backend, count)
    results["broker_rss_mb_after"] = backend.rss_mb()
    return results


async def run(broker: str, count: int, root: Path) -> dict[str, Any]:
    """One run on one broker, its files under root."""
    with LocalStack(root) as stack:
        backend_of: Callable[[LocalStack], Any] = BACKENDS[broker]
        async with backend_of(stack) as backend:
            results = await measure(backend, count)
    return {"broker": broker, "count": count, **results, "machine": machine()}


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--broker", choices=sorted(BACKENDS), default="mosquitto")
    parser.add_argument("--count", type=int, default=1000, help="devices to provision (1,000 to 10,000)")
    parser.add_argument("--root", type=Path, help="the broker's files (default: a new folder)")
    args = parser.parse_args()
    if args.count < 2 * REVOKED_SAMPLE * (len(REVOCATION_LOADS) + 1):
        parser.error("--count is too small for the revocation samples")
    root = args.root or Path(tempfile.mkdtemp(prefix="loalang-provisioning-"))
    print(json.dumps(asyncio.run(run(args.broker, args.count, root))))


if __name__ == "__main__":
    main()
