"""The `receiver-agent` command line with hostile input, and the configuration file round trip.

Every bad input ends with exit code 2 and one line on stderr that names the problem: never a
traceback, and a failed enrolment writes nothing (and leaves an earlier configuration alone).
No broker is needed: the real console script runs as a subprocess.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
import tomllib
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from loalang_protocol import claim_code
from loalang_protocol.keys import KeyPair, b64decode
from loalang_stack.ports import free_port
from receiver_agent import config as config_file
from receiver_agent.cli import main
from receiver_agent.config import AgentConfig, AudioConfig, BrokerConfig, ConfigError

pytestmark = pytest.mark.unit

AGENT = Path(sys.executable).parent / "receiver-agent"
ROOT_KEY = KeyPair.generate().public_text
CODE = claim_code.compose("K7QM2XWD9RTA", b64decode(ROOT_KEY))  # names ROOT_KEY


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real console script."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOALANG_")}
    return subprocess.run([str(AGENT), *args], capture_output=True, text=True, timeout=30, env=env, cwd=cwd)


def cli_in_process(capsys: pytest.CaptureFixture[str], *args: str) -> subprocess.CompletedProcess[str]:
    """The same entry point in this process (no interpreter start-up), for the many variants."""
    capsys.readouterr()
    try:
        code = main(list(args))
    except SystemExit as exc:  # argparse
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(["receiver-agent", *args], code, out, err)


def one_line_error(result: subprocess.CompletedProcess[str], prefix: str, *words: str) -> str:
    """Exit 2 with a single stderr line starting with prefix and naming every word; no traceback."""
    assert result.returncode == 2, f"exit {result.returncode}\nout: {result.stdout}\nerr: {result.stderr}"
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stdout == "", result.stdout
    message = result.stderr.rstrip("\n")
    assert "\n" not in message, f"more than one line:\n{result.stderr}"
    assert message.startswith(prefix), message
    for word in words:
        assert word in message, f"{word!r} not named in {message!r}"
    return message


def sample_config(data_dir: Path, **changes: Any) -> AgentConfig:
    """A valid configuration (its broker password has 10 characters)."""
    broker = BrokerConfig(host="broker.example.vn", port=8883, username="loa-7", password="0123456789",
                          client_id="loa-7", keepalive=45, tls_ca_file="/etc/ssl/certs/ca.pem")
    values: dict[str, Any] = {
        "device_id": "loa-7", "controller_url": "https://radio.example.vn", "root_public_key": ROOT_KEY,
        "areas": ["tinh-thu", "xa-mot", "thon-a"], "data_dir": data_dir, "broker": broker,
        "audio": AudioConfig(sink="alsa", alsa_device="hw:1,0", alsa_mixer="Speaker"),
        "telemetry_interval_s": 12.5, "clock_interval_s": 600.0,
    }
    values.update(changes)
    return AgentConfig(**values)


def valid_toml(data_dir: Path) -> str:
    return config_file.dump(sample_config(data_dir))


# ------------------------------------------------------------------------------------- run --config


def _replace(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


CONFIG_CASES: dict[str, tuple[Callable[[str], str | bytes], tuple[str, ...]]] = {
    "empty file": (lambda good: "", ("device_id: Field required", "broker: Field required")),
    "only whitespace": (lambda good: "\n\n   \n", ("device_id: Field required",)),
    "binary garbage": (lambda good: b"\xff\xfe\x00\x9c" + random.Random(7).randbytes(4096),
                       ("not valid TOML",)),
    "nul bytes": (lambda good: b"\x00" * 64, ("not valid TOML",)),
    "json instead of toml": (lambda good: json.dumps({"device_id": "loa-7"}), ("not valid TOML",)),
    "truncated toml": (lambda good: good[: good.index("[broker]") + 5], ("not valid TOML",)),
    "1 MB file": (lambda good: good + "# " + "x" * (1024 * 1024) + "\n", ("byte limit",)),
    "port is text": (lambda good: _replace(good, "port = 8883", 'port = "mqtt"'), ("broker.port",)),
    "port too large": (lambda good: _replace(good, "port = 8883", "port = 70000"), ("broker.port",)),
    "keepalive is a table": (lambda good: _replace(good, "keepalive = 45", "keepalive = {a = 1}"),
                             ("broker.keepalive",)),
    "areas is a string": (lambda good: _replace(good, 'areas = ["tinh-thu", "xa-mot", "thon-a"]',
                                                'areas = "thon-a"'), ("areas",)),
    "areas empty": (lambda good: _replace(good, 'areas = ["tinh-thu", "xa-mot", "thon-a"]', "areas = []"),
                    ("areas",)),
    "telemetry interval is text": (lambda good: _replace(good, "telemetry_interval_s = 12.5",
                                                         'telemetry_interval_s = "fast"'),
                                   ("telemetry_interval_s",)),
    "telemetry interval nan": (lambda good: _replace(good, "telemetry_interval_s = 12.5",
                                                     "telemetry_interval_s = nan"),
                               ("telemetry_interval_s",)),
    "unknown top-level key": (lambda good: 'colour = "red"\n' + good, ("colour", "Extra inputs")),
    "unknown broker key": (lambda good: good.replace("[broker]\n", "[broker]\nqos = 2\n"),
                           ("broker.qos", "Extra inputs")),
    "unknown table": (lambda good: good + "\n[schedule]\nat = 5\n", ("schedule", "Extra inputs")),
    "empty host, 10-character password": (
        lambda good: _replace(good, 'host = "broker.example.vn"', 'host = ""'), ("broker.host",)),
    "password too short": (lambda good: _replace(good, 'password = "0123456789"', 'password = "short"'),
                           ("broker.password",)),
    "device id not a slug": (lambda good: _replace(good, 'device_id = "loa-7"', 'device_id = "../etc/loa"'),
                             ("device_id",)),
    "device id with wildcard": (lambda good: _replace(good, 'device_id = "loa-7"', 'device_id = "loa/#"'),
                                ("device_id",)),
    "controller url not http": (lambda good: _replace(good, 'controller_url = "https://radio.example.vn"',
                                                      'controller_url = "file:///etc/passwd"'),
                                ("controller_url",)),
    "unknown sink": (lambda good: _replace(good, 'sink = "alsa"', 'sink = "bluetooth"'), ("audio.sink",)),
    "duplicate key": (lambda good: 'device_id = "loa-8"\n' + good, ("not valid TOML",)),
}


# run through the real console script; the other variants call its main() in this process
REAL_SCRIPT = {"empty file", "binary garbage", "1 MB file", "port is text", "unknown top-level key",
               "unknown broker key", "empty host, 10-character password", "device id not a slug"}


@pytest.mark.parametrize("case", CONFIG_CASES.keys())
def test_run_refuses_bad_configuration(tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str) -> None:
    make, words = CONFIG_CASES[case]
    content = make(valid_toml(tmp_path))
    path = tmp_path / "agent.toml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    args = ("run", "--config", str(path))
    result = cli(*args) if case in REAL_SCRIPT else cli_in_process(capsys, *args)
    one_line_error(result, "configuration error: ", *words)


def test_the_unchanged_sample_configuration_is_valid(tmp_path: Path) -> None:
    """The baseline the cases above damage is itself fine, so each case fails for its own reason."""
    path = tmp_path / "agent.toml"
    path.write_text(valid_toml(tmp_path))
    assert config_file.load(path) == sample_config(tmp_path)


def test_run_with_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "agent.toml"
    one_line_error(cli("run", "--config", str(path)), "configuration error: ", "cannot read", str(path),
                   "No such file")


def test_run_with_a_directory_as_configuration(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    one_line_error(cli_in_process(capsys, "run", "--config", str(tmp_path)), "configuration error: ",
                   "cannot read", str(tmp_path))


def test_run_with_deeply_nested_toml(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    path.write_text("areas = " + "[" * 30000 + "]" * 30000 + "\n")
    assert path.stat().st_size < config_file.MAX_CONFIG_BYTES
    one_line_error(cli("run", "--config", str(path)), "configuration error: ", str(path))


def _damage_key(config: AgentConfig) -> None:
    config.key_file.unlink()


def _garbage_key(config: AgentConfig) -> None:
    config.key_file.write_bytes(b"not a PEM key")


@pytest.mark.parametrize("damage", ["key missing", "key garbage", "root key not a key"])
def test_run_with_a_damaged_installation(tmp_path: Path, damage: str) -> None:
    config = sample_config(tmp_path, audio=AudioConfig(),
                           root_public_key="A" * 40 + "!!!" if damage == "root key not a key" else ROOT_KEY)
    config_file.save(config, tmp_path / "agent.toml")
    KeyPair.generate().save(config.key_file)
    if damage == "key missing":
        _damage_key(config)
    elif damage == "key garbage":
        _garbage_key(config)
    result = cli("run", "--config", str(tmp_path / "agent.toml"))
    one_line_error(result, "", "key")


# ---------------------------------------------------------------------------------------------- enroll


class FakeController:
    """A local HTTP server answering every POST with a chosen status, body and content type."""

    def __init__(self) -> None:
        self.status, self.body, self.content_type = 200, b"hello", "text/plain"
        self.requests = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                owner.requests += 1
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(owner.status)
                self.send_header("Content-Type", owner.content_type)
                self.send_header("Content-Length", str(len(owner.body)))
                self.end_headers()
                self.wfile.write(owner.body)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    def answer(self, status: int, body: bytes | str | Any, content_type: str = "application/json") -> None:
        if isinstance(body, str):
            body = body.encode()
        elif not isinstance(body, bytes):
            body = json.dumps(body).encode()
        self.status, self.body, self.content_type = status, body, content_type

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake() -> Iterator[FakeController]:
    controller = FakeController()
    yield controller
    controller.close()


def enroll_args(url: str, folder: Path, code: str = CODE) -> list[str]:
    return ["enroll", "--controller", url, "--code", code, "--config", str(folder / "agent.toml")]


def assert_nothing_written(folder: Path) -> None:
    assert not (folder / "agent.toml").exists()
    assert not (folder / "device.key").exists()
    assert not folder.exists() or not any(folder.iterdir()), list(folder.iterdir())


def test_enroll_needs_an_http_url(tmp_path: Path) -> None:
    folder = tmp_path / "board"
    one_line_error(cli(*enroll_args("ftp://radio.example.vn", folder)), "enrolment failed: ", "http:// or https://")
    assert_nothing_written(folder)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "radio.example.vn", "127.0.0.1:8000",
                                 "javascript:alert(1)", "", " http://127.0.0.1", "HTTP://"])
def test_enroll_needs_an_http_url_variants(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           url: str) -> None:
    folder = tmp_path / "board"
    result = cli_in_process(capsys, *enroll_args(url, folder))
    one_line_error(result, "enrolment failed: ", "http:// or https://")
    assert_nothing_written(folder)


@pytest.mark.parametrize("url", ["http://radio.example.vn", "http://10.1.2.3:8000", "http://[fd00::2]:8000",
                                 "http://127.0.0.1.example.vn", "http://localhost.example.vn"])
def test_enroll_refuses_plain_http_to_another_machine(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                      url: str) -> None:
    folder = tmp_path / "board"
    one_line_error(cli_in_process(capsys, *enroll_args(url, folder)), "enrolment failed: refusing plain http://",
                   "https://")
    assert_nothing_written(folder)


@pytest.mark.parametrize("code", ["K7QM-2XWD-9RTA", "K7QM-2XWD"])
def test_enroll_refuses_a_code_without_a_fingerprint_before_asking(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fake: FakeController, code: str
) -> None:
    folder = tmp_path / "board"
    result = cli_in_process(capsys, *enroll_args(fake.url, folder, code))
    reason = "new claim code" if code.count("-") == 2 else "5 groups of 4"
    one_line_error(result, "enrolment failed: ", reason)
    assert fake.requests == 0
    assert_nothing_written(folder)


def test_enroll_with_unreachable_controller(tmp_path: Path) -> None:
    folder = tmp_path / "board"
    url = f"http://127.0.0.1:{free_port()}"  # nobody listens there
    one_line_error(cli(*enroll_args(url, folder)), "enrolment failed: ", "cannot reach the controller", url)
    assert_nothing_written(folder)


def test_enroll_with_a_controller_answering_hello(tmp_path: Path, fake: FakeController) -> None:
    fake.answer(200, "hello", "text/plain")
    folder = tmp_path / "board"
    one_line_error(cli(*enroll_args(fake.url, folder)), "enrolment failed: ", "not JSON")
    assert fake.requests == 1
    assert_nothing_written(folder)


def full_answer(**changes: Any) -> dict[str, Any]:
    """What a controller answers to a good enrolment."""
    answer: dict[str, Any] = {
        "device_id": "loa-7", "areas": ["tinh-thu", "xa-mot", "thon-a"], "root_public_key": ROOT_KEY,
        "controller_url": "https://radio.example.vn",
        "broker": {"host": "127.0.0.1", "port": 1883, "username": "loa-7", "password": "p" * 43,
                   "client_id": "loa-7", "tls": False, "keepalive": 30},
    }
    answer.update(changes)
    return answer


def _broker(**changes: Any) -> dict[str, Any]:
    broker: dict[str, Any] = full_answer()["broker"]
    return {**broker, **changes}


# status, body, content type, words named; the last group fails validation
ANSWERS: dict[str, tuple[int, bytes | str | Any, str, tuple[str, ...]]] = {
    "html page": (200, "<html><body>Captive portal</body></html>", "text/html", ("not JSON",)),
    "empty body": (200, b"", "application/json", ("not JSON",)),
    "invalid utf-8": (200, b"\xff\xfe{", "application/json", ("not JSON",)),
    "over 64 KB": (200, json.dumps({**full_answer(), "pad": "x" * 100_000}), "application/json",
                   ("not JSON",)),
    "json list": (200, [1, 2, 3], "application/json", ("incomplete",)),
    "json string": (200, "\"enrolled\"", "application/json", ("incomplete",)),
    "json null": (200, "null", "application/json", ("incomplete",)),
    "empty object": (200, {}, "application/json", ("incomplete", "broker")),
    "broker not an object": (200, full_answer(broker="mqtt://127.0.0.1"), "application/json",
                             ("incomplete",)),
    "refused with json": (403, {"detail": "claim code is not valid (unknown, used or expired)"},
                          "application/json", ("(403)", "claim code is not valid")),
    "refused with html": (502, "<html>Bad Gateway</html>", "text/html", ("(502)",)),
    "refused with a validation list": (422, {"detail": [{"loc": ["body", "code"], "msg": "too short"}]},
                                       "application/json", ("(422)", "too short")),
}
INVALID_ANSWERS: dict[str, dict[str, Any]] = {
    "no broker password": full_answer(broker=_broker(password=None)),
    "short broker password": full_answer(broker=_broker(password="secret1")),
    "device id traversal": full_answer(device_id="../../etc/cron.d/x"),
    "areas with wildcard": full_answer(areas=["#"]),
    "controller url file": full_answer(controller_url="file:///etc/shadow"),
    "broker port text": full_answer(broker=_broker(port="mqtt")),
    "broker address host bad": full_answer(broker=_broker(addresses=[{"host": "a b", "port": 1883}])),
    "broker addresses too many": full_answer(broker=_broker(addresses=[f"n{i}:1883" for i in range(17)])),
}


def stderr_lines_ok(result: subprocess.CompletedProcess[str], *words: str) -> None:
    """Exit 2, no traceback, the first line says enrolment failed and the words are named."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr.startswith("enrolment failed: "), result.stderr
    for word in words:
        assert word in result.stderr, f"{word!r} not named in {result.stderr!r}"


@pytest.mark.parametrize("case", ANSWERS.keys())
def test_enroll_with_a_bad_answer_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 fake: FakeController, case: str) -> None:
    status, body, content_type, words = ANSWERS[case]
    fake.answer(status, body, content_type)
    folder = tmp_path / "board"
    one_line_error(cli_in_process(capsys, *enroll_args(fake.url, folder)), "enrolment failed: ", *words)
    assert fake.requests == 1
    assert_nothing_written(folder)


@pytest.mark.parametrize("case", INVALID_ANSWERS.keys())
def test_enroll_with_an_invalid_answer_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                      fake: FakeController, case: str) -> None:
    fake.answer(200, INVALID_ANSWERS[case])
    folder = tmp_path / "board"
    stderr_lines_ok(cli_in_process(capsys, *enroll_args(fake.url, folder)), "not usable")
    assert_nothing_written(folder)


def test_enroll_invalid_answer_is_one_line_without_the_password(tmp_path: Path, fake: FakeController) -> None:
    fake.answer(200, INVALID_ANSWERS["short broker password"])
    folder = tmp_path / "board"
    message = one_line_error(cli(*enroll_args(fake.url, folder)), "enrolment failed: ", "password")
    assert "secret1" not in message and "pydantic" not in message


def test_failed_re_enrolment_keeps_the_old_configuration(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                         fake: FakeController) -> None:
    """A board already enrolled keeps working when a re-enrolment fails halfway."""
    folder = tmp_path / "board"
    config_file.save(sample_config(folder), folder / "agent.toml")
    (folder / "device.key").write_bytes(b"old key")
    before = (folder / "agent.toml").read_bytes()
    for status, body in ((200, full_answer(device_id="Not A Slug")), (200, "hello"), (403, {"detail": "no"})):
        fake.answer(status, body)
        stderr_lines_ok(cli_in_process(capsys, *enroll_args(fake.url, folder)))
        assert (folder / "agent.toml").read_bytes() == before
        assert (folder / "device.key").read_bytes() == b"old key"


def test_enroll_with_a_good_answer_writes_a_private_configuration(tmp_path: Path,
                                                                   fake: FakeController) -> None:
    """The positive control for the cases above: the same fake controller, a complete answer."""
    fake.answer(200, full_answer())
    folder = tmp_path / "board"
    result = cli(*enroll_args(fake.url, folder))
    assert result.returncode == 0, result.stderr
    config = config_file.load(folder / "agent.toml")
    assert config.device_id == "loa-7" and config.broker.password == "p" * 43
    assert (folder / "agent.toml").stat().st_mode & 0o777 == 0o600
    assert (folder / "device.key").stat().st_mode & 0o777 == 0o600


def test_enroll_stores_the_broker_addresses_given(tmp_path: Path, fake: FakeController) -> None:
    nodes = [{"host": "nats-1.example", "port": 1883}, {"host": "10.0.0.2", "port": 11883}]
    fake.answer(200, full_answer(broker=_broker(addresses=nodes)))
    folder = tmp_path / "board"
    assert cli(*enroll_args(fake.url, folder)).returncode == 0
    assert 'addresses = ["nats-1.example:1883", "10.0.0.2:11883"]' in (folder / "agent.toml").read_text()
    config = config_file.load(folder / "agent.toml")
    assert [tuple(a) for a in config.broker.broker_addresses()] == [("nats-1.example", 1883),
                                                                    ("10.0.0.2", 11883)]


def test_enroll_without_addresses_keeps_host_and_port(tmp_path: Path, fake: FakeController) -> None:
    fake.answer(200, full_answer())
    folder = tmp_path / "board"
    assert cli(*enroll_args(fake.url, folder)).returncode == 0
    assert "addresses =" not in (folder / "agent.toml").read_text()
    assert [tuple(a) for a in config_file.load(folder / "agent.toml").broker.broker_addresses()] == [
        ("127.0.0.1", 1883)]


def test_enroll_refused_with_a_json_list_body(tmp_path: Path, fake: FakeController) -> None:
    fake.answer(403, ["claim code is not valid"])
    folder = tmp_path / "board"
    one_line_error(cli(*enroll_args(fake.url, folder)), "enrolment failed: ", "(403)")
    assert_nothing_written(folder)


@pytest.mark.parametrize("args", [["enroll", "--controller", "http://x"], ["enroll", "--code", "K7QM"]],
                         ids=["no code", "no controller"])
def test_enroll_missing_arguments(capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    result = cli_in_process(capsys, *args)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "required" in result.stderr


# -------------------------------------------------------------------------------------------- simulate


def test_simulate_needs_at_least_one_receiver(tmp_path: Path) -> None:
    result = cli("simulate", "--count", "0", "--data-dir", str(tmp_path / "sim"),
                 "--controller", f"http://127.0.0.1:{free_port()}")
    one_line_error(result, "--count must be at least 1")
    assert not (tmp_path / "sim").exists()


def test_simulate_negative_count(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = cli_in_process(capsys, "simulate", "--count", "-3", "--data-dir", str(tmp_path / "sim"))
    one_line_error(result, "--count must be at least 1")
    assert not (tmp_path / "sim").exists()


@pytest.mark.parametrize(("option", "value", "lowest"),
                         [("--processes", "0", 1), ("--decode-every", "-1", 0)])
def test_simulate_process_and_decoder_counts(tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str,
                                             value: str, lowest: int) -> None:
    result = cli_in_process(capsys, "simulate", "--count", "2", option, value,
                            "--data-dir", str(tmp_path / "sim"))
    one_line_error(result, f"{option} must be at least {lowest}")
    assert not (tmp_path / "sim").exists()


def test_simulate_count_not_a_number(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = cli_in_process(capsys, "simulate", "--count", "many", "--data-dir", str(tmp_path / "sim"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "invalid int value" in result.stderr
    assert not (tmp_path / "sim").exists()


# --------------------------------------------------------------------------------- the configuration file


def test_dump_load_round_trip(tmp_path: Path) -> None:
    config = sample_config(tmp_path / "data")
    text = config_file.dump(config)
    assert AgentConfig.model_validate(tomllib.loads(text)) == config
    path = tmp_path / "etc" / "agent.toml"
    config_file.save(config, path)
    assert config_file.load(path) == config
    assert path.read_text() == text
    assert path.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == ["agent.toml"]  # no temporary file left


def test_round_trip_of_awkward_text(tmp_path: Path) -> None:
    """Quotes, backslashes, control characters and Vietnamese survive dump and load."""
    awkward = 'pa"ss\\wo\nrd\t\x01\x7f Đông Hà ờ'
    config = sample_config(tmp_path / 'data "quoted" \\ Thôn Đông',
                           broker=sample_config(tmp_path).broker.model_copy(update={"password": awkward}),
                           audio=AudioConfig(sink="alsa", alsa_device='hw:"USB"\\0', alsa_mixer="Âm lượng"))
    path = tmp_path / "agent.toml"
    config_file.save(config, path)
    assert config_file.load(path) == config


def test_round_trip_of_text_outside_the_basic_plane(tmp_path: Path) -> None:
    config = sample_config(tmp_path / "loa \U0001f4fb", audio=AudioConfig(alsa_device="card \U0001f50a"))
    path = tmp_path / "agent.toml"
    config_file.save(config, path)
    assert config_file.load(path) == config


def test_save_replaces_a_readable_file_with_a_private_one(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    path.write_text("old")
    path.chmod(0o644)
    config_file.save(sample_config(tmp_path), path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert config_file.load(path) == sample_config(tmp_path)


def test_save_is_private_even_over_a_leftover_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    leftover = tmp_path / "agent.toml.tmp"
    leftover.write_text("half-written by a crash")
    leftover.chmod(0o644)
    config_file.save(sample_config(tmp_path), path)
    assert path.stat().st_mode & 0o777 == 0o600


def test_load_defaults_data_dir_to_the_file_folder(tmp_path: Path) -> None:
    text = "\n".join(line for line in valid_toml(tmp_path / "elsewhere").splitlines()
                     if not line.startswith("data_dir"))
    path = tmp_path / "etc" / "agent.toml"
    path.parent.mkdir()
    path.write_text(text)
    assert config_file.load(path).data_dir == path.parent


def test_load_errors_are_config_errors(tmp_path: Path) -> None:
    """load() raises only ConfigError, with the file named, for the kinds of damage above."""
    path = tmp_path / "agent.toml"
    too_big = b"a" * (config_file.MAX_CONFIG_BYTES + 1)
    for content in (b"", b"\xff", b"x = ", b"[broker]\nport = 'x'\n", too_big):
        path.write_bytes(content)
        with pytest.raises(ConfigError, match=str(path)):
            config_file.load(path)
