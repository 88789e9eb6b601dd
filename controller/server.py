"""Serving the application with uvicorn, and stopping it within seconds.

On SIGTERM uvicorn stops accepting connections, waits for the requests still open, and only then
runs the application's own shutdown (jobs failed, broker session closed). An event stream stays
open for up to an hour, so the server first sets `Services.stopping`, which ends every stream at
once (see api/streams.py); a request still open SHUTDOWN_GRACE_S later (a large upload, a slow
device's download, which resumes with a Range request) is cancelled. The controller is thus gone
a second or two after SIGTERM, well before docker compose (10 s) or systemd kill it.
"""

from __future__ import annotations

import socket
import sys

import uvicorn
from fastapi import FastAPI

from .context import Services
from .settings import Settings

SHUTDOWN_GRACE_S = 5
STARTUP_FAILURE = 3  # uvicorn's exit status when the application did not start


class Server(uvicorn.Server):
    """uvicorn's server, telling the application it is stopping as soon as the shutdown begins."""

    def __init__(self, config: uvicorn.Config, application: FastAPI) -> None:
        super().__init__(config)
        self.application = application

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """End the event streams, then shut down as uvicorn does."""
        services: Services | None = getattr(self.application.state, "services", None)
        if services is not None:
            services.stopping.set()
        await super().shutdown(sockets)


def serve(app: FastAPI, settings: Settings, log_level: str) -> None:
    """Run app on the configured address until a signal stops it; exits with 3 if it cannot start."""
    certificate, key = settings.https_cert_file, settings.https_key_file
    config = uvicorn.Config(app, host=settings.http_host, port=settings.http_port, log_level=log_level,
                            proxy_headers=False, server_header=False,
                            ssl_certfile=str(certificate) if certificate else None,
                            ssl_keyfile=str(key) if key else None,
                            timeout_graceful_shutdown=SHUTDOWN_GRACE_S)
    server = Server(config, app)
    server.run()
    if not server.started:
        sys.exit(STARTUP_FAILURE)
