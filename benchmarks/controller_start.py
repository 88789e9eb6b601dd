"""What one controller's start costs: the wall time from `radio-controller serve` to a healthy
/healthz, and the CPU the process used by then (imports, migrations of a fresh database, the first
admin's password hash). The test suite starts over a hundred controllers, so this is a large part of
its CPU (docs/benchmarks.md, "The test suite's own time").

    .venv/bin/python -m benchmarks.controller_start --starts 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.fanout import cpu_s
from benchmarks.stack import machine
from loalang_stack.ports import free_port
from loalang_stack.services import ControllerProcess
from tests.testkit import Stack


def one_start(stack: Stack, folder: Path, number: int) -> tuple[float, float]:
    """Start a controller on a fresh database; (wall seconds to healthy, CPU seconds by then)."""
    env = {**stack.controller_env(), "LOALANG_INSTANCE_ID": f"ctl-start-{number}",  # the tests' settings
           "LOALANG_REDIS_URL": f"{stack.redis_url.rsplit('/', 1)[0]}/{number % 15 + 1}"}
    controller = ControllerProcess(folder / f"controller-{number}", free_port(), env)
    started = time.monotonic()
    controller.start(timeout=120)
    wall = time.monotonic() - started
    assert controller.server is not None and controller.server.process is not None
    cpu = cpu_s(controller.server.process.pid)
    controller.stop()
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--starts", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="loalang-start-") as root, Stack(Path(root)) as stack:
        stack.start_broker()
        stack.start_redis()
        runs = [one_start(stack, Path(root), number) for number in range(args.starts)]
    walls, cpus = [wall for wall, _ in runs], [cpu for _, cpu in runs]
    print(json.dumps({"machine": machine(), "starts": args.starts,
                      "wall_s_median": round(statistics.median(walls), 2),
                      "cpu_s_median": round(statistics.median(cpus), 2),
                      "cpu_s": [round(cpu, 2) for cpu in cpus]}))


if __name__ == "__main__":
    main()
