"""The controller runs on PostgreSQL when given its URL, with the same migrations and behaviour."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from loalang_stack import postgres
from loalang_stack.ports import free_port
from loalang_stack.process import Server
from loalang_stack.services import ControllerProcess
from tests.testkit import Fleet, Stack, own_stack, ping, wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def pg_controller(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControllerProcess]:
    root = tmp_path_factory.mktemp("pg")
    server: Server
    server, url, cluster = postgres.start(root, free_port())
    try:
        with own_stack(stack, root) as own:  # its areas are the session's names, signed by its own keys
            env = {**own.controller_env(), "LOALANG_DATABASE_URL": url, "LOALANG_INSTANCE_ID": "ctl-pg",
                   "LOALANG_REDIS_URL": f"redis://127.0.0.1:{stack.redis_port}/1"}
            process = ControllerProcess(root / "controller", free_port(), env)
            try:
                process.start()
                yield process
            finally:
                process.stop()
    finally:
        server.stop()
        shutil.rmtree(cluster, ignore_errors=True)


def test_controller_on_postgresql(pg_controller: ControllerProcess, tmp_path: Path) -> None:
    log = (pg_controller.data_dir / "controller.log").read_text()
    assert "loalang.sqlite3" not in log
    assert not (pg_controller.data_dir / "loalang.sqlite3").exists()
    fleet = Fleet(pg_controller, tmp_path)
    try:
        fleet.ensure_areas()
        device_id, config = fleet.enrolled_agent(area="thon-b")
        fleet.start(config)
        wait_for(lambda: fleet.online(device_id), 10.0, what="online through the PostgreSQL controller")
        assert ping(fleet, device_id)["ok"] is True
        version = fleet.http.patch(f"/api/v1/devices/{device_id}/settings", json={"volume": 22}).json()
        wait_for(lambda: fleet.device(device_id)["applied_version"] == version["desired_version"], 5.0,
                 what="applied")
        audit = fleet.http.get("/api/v1/audit").json()
        assert {"device.create", "device.enrol", "device.volume"} <= {entry["action"] for entry in audit}
    finally:
        fleet.close()
