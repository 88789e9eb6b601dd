"""docker-compose.yml (production), its demo and Redis overlays, and the compose broker's
configuration, checked without a Docker engine."""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import check_jsonschema
import pytest
import yaml

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DEMO_FILE = ROOT / "docker-compose.demo.yml"
DEMO_ENV = ROOT / "demo.env"
BROKER_CONF = ROOT / "broker" / "compose" / "mosquitto.conf"
SCHEMA_NAME = "vendor.compose-spec"
VENDORED_SCHEMA = Path(check_jsonschema.__file__).parent / "builtin_schemas" / "vendor" / "compose-spec.json"
ONE_SHOT_CONDITION = "service_completed_successfully"
CLUSTER = "cluster"  # the profile that runs the controller on a NATS cluster
NATS_NODES = ("nats-1", "nats-2", "nats-3")


def compose() -> dict[str, Any]:
    """The compose file as data (YAML merge keys resolved)."""
    return yaml.safe_load(COMPOSE_FILE.read_text())


def services() -> dict[str, dict[str, Any]]:
    """The services of the compose file by name."""
    return compose()["services"]


def one_shot_services() -> set[str]:
    """Services others wait for to complete: the init jobs, which run once and exit."""
    return {
        name
        for service in services().values()
        for name, dependency in (service.get("depends_on") or {}).items()
        if isinstance(dependency, dict) and dependency.get("condition") == ONE_SHOT_CONDITION
    }


def validate_compose(path: Path) -> subprocess.CompletedProcess[str]:
    """Run check-jsonschema (from this interpreter's environment) with the vendored compose spec."""
    tool = Path(sys.executable).parent / "check-jsonschema"
    return subprocess.run(
        [str(tool), "--builtin-schema", SCHEMA_NAME, str(path)],
        capture_output=True, text=True, timeout=120, check=False,
    )


def broker_settings(path: Path = BROKER_CONF) -> dict[str, list[str]]:
    """A mosquitto configuration file as option -> values (an option may repeat)."""
    settings: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "${")):
            option, _, value = line.partition(" ")
            settings.setdefault(option, []).append(value.strip())
    return settings


def volume_target(service: dict[str, Any], source: str) -> str:
    """Where a service mounts the named volume or host path `source`."""
    for volume in service.get("volumes", []):
        parts = volume.split(":")
        if parts[0] == source:
            return parts[1]
    raise AssertionError(f"{source} is not mounted")


def test_vendored_compose_schema_is_present() -> None:
    assert VENDORED_SCHEMA.is_file(), VENDORED_SCHEMA


@pytest.mark.parametrize("path", [COMPOSE_FILE, DEMO_FILE], ids=lambda path: path.name)
def test_compose_file_matches_the_compose_specification(path: Path) -> None:
    result = validate_compose(path)
    assert result.returncode == 0, result.stdout + result.stderr


BREAKAGES = {
    "invalid depends_on condition": lambda doc: doc["services"]["controller"]["depends_on"]["redis"].update(
        condition="service_ready"
    ),
    "unknown service key": lambda doc: doc["services"]["redis"].update(healthckeck={"test": ["CMD", "true"]}),
    "depends_on entry without condition": lambda doc: doc["services"]["controller"]["depends_on"][
        "postgres"
    ].clear(),
}


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_broken_compose_file_is_rejected(tmp_path: Path, breakage: str) -> None:
    document = compose()
    BREAKAGES[breakage](document)
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(yaml.safe_dump(document, sort_keys=False))
    result = validate_compose(broken)
    assert result.returncode != 0, f"{breakage} was accepted:\n{result.stdout}"


def profile_services(profile: str | None) -> set[str]:
    """The services a profile adds (None: those that always run)."""
    return {name for name, service in services().items()
            if (profile in service.get("profiles", [])) or (profile is None and not service.get("profiles"))}


def test_the_expected_services_are_defined() -> None:
    assert profile_services(None) == {"broker-init", "broker", "redis", "postgres", "controller", "proxy"}
    assert profile_services(CLUSTER) == {"nats-init", *NATS_NODES, "controller-cluster"}
    assert set(services()) == profile_services(None) | profile_services(CLUSTER), "no other profile"
    assert one_shot_services() == {"broker-init", "nats-init"}


def test_every_long_running_service_has_a_healthcheck() -> None:
    for name, service in services().items():
        if name in one_shot_services():
            assert service.get("restart", "no") == "no", f"{name} runs once and must not restart"
            continue
        healthcheck = service.get("healthcheck")
        assert healthcheck, f"{name} has no healthcheck"
        assert not healthcheck.get("disable"), f"{name} disables its healthcheck"
        assert healthcheck["test"][0] in {"CMD", "CMD-SHELL"}, name


def test_every_dependency_has_a_condition_its_target_can_meet() -> None:
    all_services = services()
    for name, service in all_services.items():
        depends_on = service.get("depends_on", {})
        assert isinstance(depends_on, dict), f"{name}: depends_on must be a mapping with conditions"
        for target, dependency in depends_on.items():
            assert target in all_services, f"{name} depends on unknown {target}"
            condition = dependency.get("condition")
            assert condition in {"service_healthy", ONE_SHOT_CONDITION}, f"{name} -> {target}: {condition}"
            if condition == "service_healthy":
                assert all_services[target].get("healthcheck"), f"{name} waits for {target}'s health"


def test_controller_waits_for_a_healthy_broker_redis_and_postgres() -> None:
    depends_on = services()["controller"]["depends_on"]
    for target in ("broker", "redis", "postgres"):
        assert depends_on[target]["condition"] == "service_healthy", target


def test_broker_starts_only_after_its_accounts_are_written() -> None:
    all_services = services()
    assert all_services["broker"]["depends_on"]["broker-init"]["condition"] == ONE_SHOT_CONDITION
    command = all_services["broker-init"]["command"]
    assert command[:2] == ["radio-controller", "broker-init"]
    dynsec_file = Path(broker_settings()["plugin_opt_config_file"][0])
    broker_mount = volume_target(all_services["broker"], "broker-data")
    init_mount = volume_target(all_services["broker-init"], "broker-data")
    assert dynsec_file.parent == Path(broker_mount)
    assert str(Path(init_mount) / dynsec_file.name) in command


def test_broker_uses_the_compose_configuration_read_only() -> None:
    volumes = services()["broker"]["volumes"]
    assert "./broker/compose/mosquitto.conf:/mosquitto/config/mosquitto.conf:ro" in volumes


def test_compose_broker_refuses_anonymous_clients_and_loads_dynamic_security() -> None:
    settings = broker_settings()
    assert settings["allow_anonymous"] == ["false"]
    assert settings["per_listener_settings"] == ["false"]
    assert settings["plugin"] == ["/usr/lib/mosquitto_dynamic_security.so"]
    assert settings["plugin_opt_config_file"] == ["/mosquitto/data/dynamic-security.json"]
    assert settings["listener"] == ["1883 0.0.0.0"]
    assert settings["persistence"] == ["true"]
    assert settings["max_packet_size"] == ["2097152"]
    assert "${" not in BROKER_CONF.read_text(), "unfilled template field"


def test_compose_broker_config_follows_the_template() -> None:
    template = broker_settings(ROOT / "broker" / "mosquitto.conf.template")
    compose_settings = broker_settings()
    templated = {option for option, values in template.items() if any("${" in v for v in values)}
    for option in set(template) - templated:
        assert compose_settings.get(option) == template[option], option


def test_the_proxy_serves_the_console_over_https_with_its_certificate_read_only() -> None:
    proxy = services()["proxy"]
    assert proxy["ports"] == ["443:443"]
    assert any(v.startswith("./certs:") and v.endswith(":ro") for v in proxy["volumes"])
    assert proxy["depends_on"]["controller"]["condition"] == "service_healthy"
    caddy = caddy_config()  # the Caddyfile as the image's Caddy reads it, with no variable set
    server = caddy["apps"]["http"]["servers"]["srv0"]
    assert server["listen"] == [":443"]
    assert '"dial": "controller:8000"' in json.dumps(server["routes"])
    assert caddy["apps"]["tls"]["certificates"]["load_files"][0]["certificate"] == "/certs/console.crt"


def caddy_config() -> dict[str, Any]:
    """proxy/Caddyfile adapted by Caddy itself (installed by scripts/install-system-packages.sh)."""
    command = ["caddy", "adapt", "--adapter", "caddyfile", "--config", str(ROOT / "proxy" / "Caddyfile")]
    adapted = subprocess.run(command, capture_output=True, text=True, timeout=30,
                             env={"PATH": os.environ["PATH"], "HOME": "/tmp"})
    assert adapted.returncode == 0, adapted.stderr
    config: dict[str, Any] = json.loads(adapted.stdout)
    return config


REDIS_HA_FILE = ROOT / "docker-compose.redis-ha.yml"


def redis_ha() -> dict[str, Any]:
    """The Redis high-availability overlay as data."""
    return yaml.safe_load(REDIS_HA_FILE.read_text())


def test_the_redis_ha_overlay_matches_the_compose_specification() -> None:
    result = validate_compose(REDIS_HA_FILE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_controller_asks_the_sentinels_that_watch_the_master_it_names() -> None:
    overlay = redis_ha()["services"]
    sentinels = {name for name in overlay if name.startswith("redis-sentinel-")}
    assert len(sentinels) == 3, "three Sentinels: two can agree while one is away"
    environment = overlay["controller"]["environment"]
    asked = {entry.split(":")[0] for entry in environment["LOALANG_REDIS_SENTINELS"].split(",")}
    assert asked == sentinels
    master = environment["LOALANG_REDIS_SENTINEL_MASTER"]
    for name in sentinels:
        script = overlay[name]["command"][-1]
        assert f"sentinel monitor {master} redis 6379 2" in script, "quorum of two, watching `redis`"
        assert overlay[name]["healthcheck"]["test"][0] == "CMD"
        assert overlay["controller"]["depends_on"][name]["condition"] == "service_healthy"
    replica = overlay["redis-replica"]["command"]
    assert replica[replica.index("--replicaof") + 1:replica.index("--replicaof") + 3] == ["redis", "6379"]
    assert set(overlay) - sentinels - {"redis-replica", "controller"} == set(), "it adds nothing else"
    assert set(overlay["redis-replica"]["depends_on"]) <= set(services())


SECRET_VARIABLE = re.compile(r"\$\{([A-Z_]*(?:PASSWORD|SECRET|TOKEN)[A-Z_]*)(:?[-?+]?)([^}]*)\}")


def test_production_publishes_only_the_proxys_https_port() -> None:
    published = {name for name, service in services().items() if service.get("ports")}
    assert published == {"proxy"}, "the controller, broker, Redis and PostgreSQL are not published"
    assert "ports" not in services()["controller"]


def test_the_controller_redis_postgres_and_broker_are_on_the_internal_network() -> None:
    assert compose()["networks"]["backend"]["internal"] is True
    for name in ("broker", "redis", "postgres"):
        assert services()[name]["networks"] == ["backend"], name
    assert services()["controller"]["networks"] == ["backend", "frontend"]
    assert list(services()["proxy"]["networks"]) == ["frontend"]


def test_the_controller_trusts_the_forwarded_address_of_the_proxy_only() -> None:
    proxy_address = services()["proxy"]["networks"]["frontend"]["ipv4_address"]
    subnet = compose()["networks"]["frontend"]["ipam"]["config"][0]["subnet"]
    assert ipaddress.ip_address(proxy_address) in ipaddress.ip_network(subnet)
    trusted = services()["controller"]["environment"]["LOALANG_TRUSTED_PROXIES"]
    assert trusted == f"{proxy_address}/32"


def test_the_controller_runs_in_production() -> None:
    environment = services()["controller"]["environment"]
    assert environment["LOALANG_ENVIRONMENT"] == "production", "not overridable from .env"
    assert environment["LOALANG_PUBLIC_URL"].startswith("${LOALANG_PUBLIC_URL:?")


@pytest.mark.parametrize("path", [COMPOSE_FILE, ROOT / "docker-compose.redis-ha.yml"], ids=lambda p: p.name)
def test_every_secret_must_be_given_and_has_no_default(path: Path) -> None:
    text = path.read_text()
    secrets = SECRET_VARIABLE.findall(text)
    assert secrets, "no secret found: the pattern is stale"
    for name, operator, _ in secrets:
        assert operator == ":?", f"${{{name}}} must be written ${{{name}:?message}}"
    assert not re.search(r"change-?me|example-password", text, re.IGNORECASE), "a placeholder is left"


def test_production_requires_each_secret() -> None:
    required = {found[0] for found in SECRET_VARIABLE.findall(COMPOSE_FILE.read_text())}
    assert required == {"LOALANG_MQTT_PASSWORD", "LOALANG_MQTT_HEALTHCHECK_PASSWORD",
                        "LOALANG_REDIS_PASSWORD", "POSTGRES_PASSWORD", "LOALANG_ADMIN_PASSWORD"}


def test_redis_requires_the_password_the_controller_gives() -> None:
    redis = services()["redis"]
    command = redis["command"]
    assert command[command.index("--requirepass") + 1].startswith("${LOALANG_REDIS_PASSWORD:?")
    assert redis["environment"]["REDISCLI_AUTH"].startswith("${LOALANG_REDIS_PASSWORD:?"), "healthcheck"
    url = services()["controller"]["environment"]["LOALANG_REDIS_URL"]
    assert url.startswith("redis://:${LOALANG_REDIS_PASSWORD:?") and url.endswith("@redis:6379/0")


def test_the_redis_ha_overlay_asks_for_the_password_everywhere() -> None:
    overlay = redis_ha()["services"]
    replica = overlay["redis-replica"]["command"]
    for option in ("--requirepass", "--masterauth"):
        assert replica[replica.index(option) + 1].startswith("${LOALANG_REDIS_PASSWORD:?"), option
    for name in ("redis-sentinel-1", "redis-sentinel-2", "redis-sentinel-3"):
        script = overlay[name]["command"][-1]
        assert 'requirepass "%s"' in script and 'sentinel auth-pass loalang "%s"' in script, name
        assert overlay[name]["environment"]["REDISCLI_AUTH"].startswith("${LOALANG_REDIS_PASSWORD:?")
    for name in ("redis-replica", "redis-sentinel-1"):
        assert overlay[name]["networks"] == ["backend"], name


def demo() -> dict[str, Any]:
    """The demo overlay as data."""
    return yaml.safe_load(DEMO_FILE.read_text())


def test_the_demo_overlay_adds_the_simulated_receivers_in_demo_mode() -> None:
    overlay = demo()["services"]
    receivers = overlay["receivers"]
    assert receivers["command"][:2] == ["receiver-agent", "simulate"]
    assert receivers["depends_on"]["controller"]["condition"] == "service_healthy"
    assert receivers["healthcheck"]["test"][0] == "CMD"
    assert overlay["controller"]["environment"] == {"LOALANG_ENVIRONMENT": "demo"}
    assert overlay["controller"]["ports"] == ["127.0.0.1:8000:8000"], "loopback only"
    assert set(overlay) == {"controller", "proxy", "receivers"}


def test_demo_env_gives_every_variable_the_files_require() -> None:
    required = set()
    for path in (COMPOSE_FILE, DEMO_FILE):
        required |= set(re.findall(r"\$\{([A-Z_]+):\?", path.read_text()))
    given = {line.split("=", 1)[0] for line in DEMO_ENV.read_text().splitlines()
             if line and not line.startswith("#")}
    assert required <= given, required - given


def mounts(service: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A service's mounts by target, short and long syntax alike, as long-syntax mappings."""
    found = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source, target, *options = volume.split(":")
            volume = {"source": source, "target": target, "read_only": options == ["ro"]}
        found[volume["target"]] = volume
    return found


def nats_config_file(node: dict[str, Any]) -> Path:
    """The repository file a NATS node runs with (the one its --config names)."""
    command = node["command"]
    target = command[command.index("--config") + 1]
    source = mounts(node)[target]
    assert source["read_only"], "the node's configuration is mounted read-only"
    return ROOT / source["source"]


def nats_block(text: str, name: str) -> str:
    """The body of a top-level block (`cluster { ... }`) of a NATS configuration."""
    found = re.search(rf"^{name} {{\n(.*?)^}}", text, re.MULTILINE | re.DOTALL)
    assert found, f"no {name} block"
    return found.group(1)


def nats_listen_port(text: str, block: str) -> int:
    """The port a block of a NATS configuration listens on."""
    found = re.search(r'listen: "0\.0\.0\.0:(\d+)"', nats_block(text, block))
    assert found, f"{block} listens on no port of every interface"
    return int(found.group(1))


def test_each_cluster_node_runs_its_configuration_from_the_repository_with_its_own_store() -> None:
    stores = set()
    for name in NATS_NODES:
        node = services()[name]
        assert node["image"].startswith("nats:2.9"), "the version docs/nats.md describes"
        assert nats_config_file(node).is_file(), name
        assert node["environment"]["NATS_SERVER_NAME"] == name, "the name its peers route to"
        store = mounts(node)["/data"]
        assert store["source"] in compose()["volumes"] and not store["read_only"], name
        stores.add(store["source"])
        assert node["depends_on"]["nats-init"]["condition"] == ONE_SHOT_CONDITION, name
        assert node["networks"] == ["backend"] and "ports" not in node, name
    assert len(stores) == len(NATS_NODES), "a JetStream store per node"


def test_the_cluster_nodes_route_to_each_other() -> None:
    for name in NATS_NODES:
        text = nats_config_file(services()[name]).read_text()
        cluster_port = nats_listen_port(text, "cluster")
        routes = set(re.findall(r'"nats-route://([\w-]+):(\d+)"', nats_block(text, "cluster")))
        others = {(peer, str(cluster_port)) for peer in NATS_NODES if peer != name}
        assert others <= routes, f"{name} routes to {routes}"
        assert {host for host, _ in routes} <= set(NATS_NODES), "routes only to the cluster's nodes"
        assert 'store_dir: "/data/' in nats_block(text, "jetstream") and "stream_replicas: 3" in text


def test_the_compose_nats_configuration_is_one_nats_server_accepts(tmp_path: Path) -> None:
    from controller.broker_accounts.nats_trust import make_trust

    node = services()["nats-1"]
    trust_mount = mounts(node)["/etc/nats/trust"]
    assert (trust_mount["source"], trust_mount["volume"]["subpath"], trust_mount["read_only"]) == (
        "nats-trust", "server", True), "only the trust set's server/ part, read-only"
    make_trust(tmp_path / "set", "loalang-controller")
    config_dir = tmp_path / "etc-nats"  # the node's /etc/nats: its configuration and the trust mount
    (config_dir / "trust").mkdir(parents=True)
    (config_dir / "trust" / "trust.conf").write_text((tmp_path / "set" / "server" / "trust.conf").read_text())
    text = nats_config_file(node).read_text().replace('"/data/', f'"{tmp_path}/data/')
    (config_dir / "nats.conf").write_text(text)
    binary = shutil.which("nats-server") or "/usr/sbin/nats-server"  # Debian's, as the local stack runs
    checked = subprocess.run([binary, "-t", "-c", str(config_dir / "nats.conf")], capture_output=True,
                             text=True, timeout=30, check=False, env={"NATS_SERVER_NAME": "nats-1"})
    assert checked.returncode == 0, checked.stdout + checked.stderr


def run_nats_init(tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """nats-init's command with its volume at tmp_path/trust instead."""
    service = services()["nats-init"]
    mount = volume_target(service, "nats-trust")
    command = [part.replace(mount, str(tmp_path / "trust")) for part in service["command"]]
    programs = Path(sys.executable).parent  # radio-controller
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False,
                          env={"PATH": f"{programs}:/usr/bin:/bin", **service["environment"]})


def test_nats_init_writes_the_trust_set_once_and_keeps_it(tmp_path: Path) -> None:
    first = run_nats_init(tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    trust_conf = tmp_path / "trust" / "server" / "trust.conf"
    written = trust_conf.read_text()
    again = run_nats_init(tmp_path)
    assert again.returncode == 0, "a second start is no failure: the nodes and controller wait for it"
    assert trust_conf.read_text() == written, "the set the devices' logins are signed with is kept"
    assert (tmp_path / "trust" / "controller" / "controller.jwt").is_file()


def nats_client_port(text: str) -> int:
    """The port a NATS configuration takes NATS clients on."""
    found = re.search(r'^listen: "0\.0\.0\.0:(\d+)"', text, re.MULTILINE)
    assert found, "no client port"
    return int(found.group(1))


def test_the_cluster_controller_is_the_same_controller_on_the_nodes() -> None:
    cluster, controller = services()["controller-cluster"], services()["controller"]
    environment = cluster["environment"]
    assert environment["LOALANG_BROKER_KIND"] == "nats"
    shared = {key: value for key, value in controller["environment"].items()
              if not key.startswith("LOALANG_MQTT")}
    assert shared.items() <= environment.items(), "the same settings but the broker's"
    assert cluster["command"] == controller["command"]
    assert mounts(cluster)["/var/lib/loalang/controller"]["source"] == "controller-data"
    text = nats_config_file(services()["nats-1"]).read_text()
    servers = [f"nats://{node}:{nats_client_port(text)}" for node in NATS_NODES]
    assert environment["LOALANG_NATS_SERVERS"].split(",") == servers
    mqtt_port = nats_listen_port(text, "mqtt")
    assert environment["LOALANG_MQTT_HOST"] in NATS_NODES
    assert environment["LOALANG_MQTT_PORT"] == str(mqtt_port)
    given = [f"{node}:{mqtt_port}" for node in NATS_NODES]
    assert environment["LOALANG_DEVICE_MQTT_ADDRESSES"].split(",") == given, "devices get every node"
    for node in NATS_NODES:
        assert cluster["depends_on"][node]["condition"] == "service_healthy", node
    trust = mounts(cluster)[environment["LOALANG_NATS_TRUST_DIR"]]
    assert (trust["source"], trust["volume"]["subpath"], trust["read_only"]) == (
        "nats-trust", "controller", True), "only the trust set's controller/ part, read-only"
    assert Path(environment["LOALANG_MQTT_PASSWORD_FILE"]).parent == Path(trust["target"]), "its JWT login"
    assert "controller" in cluster["networks"]["frontend"]["aliases"], "the proxy's upstream"
