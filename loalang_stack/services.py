"""The controller and receiver agents as child processes, for the demo and the tests."""

from __future__ import annotations

import json
import os
import ssl
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .process import Server

BIN_DIR = Path(sys.executable).parent


def _program(name: str) -> str:
    candidate = BIN_DIR / name
    return str(candidate) if candidate.exists() else name


@dataclass
class ControllerProcess:
    """`radio-controller serve` with settings given as LOALANG_* variables."""

    data_dir: Path
    http_port: int
    env: dict[str, str] = field(default_factory=dict)
    server: Server | None = None

    @property
    def url(self) -> str:
        """Base URL of the API (https when the controller is given a certificate)."""
        scheme = "https" if self.env.get("LOALANG_HTTPS_CERT_FILE") else "http"
        return f"{scheme}://127.0.0.1:{self.http_port}"

    def environment(self) -> dict[str, str]:
        """The process environment it runs with (also for its command-line tools). The URL given to
        devices is its own, unless env names another (a proxy's)."""
        return {**os.environ, "LOALANG_PUBLIC_URL": self.url, **self.env,
                "LOALANG_DATA_DIR": str(self.data_dir), "LOALANG_HTTP_PORT": str(self.http_port)}

    def start(self, timeout: float = 30.0) -> None:
        """Start and wait until /healthz says the broker is connected."""
        self.server = Server("controller", [_program("radio-controller"), "serve"],
                             self.data_dir / "controller.log", self.environment())
        self.server.start()
        self.wait_healthy(timeout)

    def wait_healthy(self, timeout: float) -> None:
        """Wait for a healthy answer, failing early when the process died."""
        assert self.server is not None and self.server.process is not None
        deadline = time.monotonic() + timeout
        said: Any = "nothing"
        while time.monotonic() < deadline:
            if self.server.process.poll() is not None:
                raise RuntimeError(f"controller exited:\n{self.server.tail(40)}")
            said = self._health()
            if isinstance(said, dict) and said.get("ok"):
                return
            time.sleep(0.2)
        raise RuntimeError(f"controller not healthy after {timeout} s; /healthz said {said}; its log, "
                           f"without the health checks:\n{self.server.tail(40, leaving_out='GET /healthz')}")

    def _health(self) -> Any:
        """What /healthz answers (its JSON, on a 503 too), or why it could not be asked."""
        try:
            with urllib.request.urlopen(self.url + "/healthz", timeout=2,  # noqa: S310
                                        context=self._tls_context()) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            try:
                return json.loads(exc.read())
            except ValueError:
                return f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError, ValueError) as exc:
            return str(exc)

    def _tls_context(self) -> ssl.SSLContext | None:
        """Trust the controller's own certificate (a test's self-signed one) when it serves HTTPS."""
        certificate = self.env.get("LOALANG_HTTPS_CERT_FILE")
        return ssl.create_default_context(cafile=certificate) if certificate else None

    def stop(self) -> None:
        """Stop the process."""
        if self.server is not None:
            self.server.stop()


def agent_process(config: Path, log_file: Path, extra_env: dict[str, str] | None = None) -> Server:
    """`receiver-agent run --config FILE` as a Server."""
    env = {**os.environ, **(extra_env or {})}
    return Server(f"agent {config.parent.name}", [_program("receiver-agent"), "run", "--config", str(config)],
                  log_file, env)
