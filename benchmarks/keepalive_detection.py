"""How long the project's Mosquitto takes to notice a frozen client, by keepalive.

A client connects with a last will and keepalive K, then is frozen (SIGSTOP), as a hung board
would be. The time from the freeze to the will's arrival is what presence would show without
the controller's own watchdog. Prints one JSON line per keepalive.

    .venv/bin/python -m benchmarks.keepalive_detection --keepalive 5 10 20 --trials 3
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from loalang_stack.broker import CONTROLLER_USERNAME
from loalang_stack.stack import LocalStack


def measure(keepalive: int, trials: int) -> dict[str, object]:
    """Freeze trials clients with this keepalive and time each will."""
    with LocalStack(Path(tempfile.mkdtemp(prefix="loalang-ka-"))) as stack:
        stack.start_broker()
        return {"keepalive_s": keepalive, "will_after_freeze_s": freeze(stack, keepalive, trials),
                "spec_1_5x_s": 1.5 * keepalive}


def freeze(stack: LocalStack, keepalive: int, trials: int) -> list[float]:
    """The delays from each freeze to its will."""
    base = ["-h", "127.0.0.1", "-p", str(stack.mqtt_port), "-u", CONTROLLER_USERNAME,
            "-P", stack.mqtt_password]
    monitor = subprocess.Popen(["mosquitto_sub", *base, "-i", "monitor", "-t", "loa/v1/bench/will"],
                               stdout=subprocess.PIPE, text=True)
    time.sleep(0.5)
    delays = []
    try:
        for trial in range(trials):
            client = subprocess.Popen(["mosquitto_sub", *base, "-i", f"frozen-{trial}", "-k", str(keepalive),
                                       "-t", "loa/v1/bench/x", "--will-topic", "loa/v1/bench/will",
                                       "--will-payload", str(trial)])
            time.sleep(1.0)
            frozen = time.monotonic()
            client.send_signal(signal.SIGSTOP)
            assert monitor.stdout is not None
            monitor.stdout.readline()
            delays.append(round(time.monotonic() - frozen, 2))
            client.kill()
    finally:
        monitor.kill()
    return delays


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keepalive", type=int, nargs="+", default=[5, 10, 20])
    parser.add_argument("--trials", type=int, default=3)
    args = parser.parse_args()
    for keepalive in args.keepalive:
        print(json.dumps(measure(keepalive, args.trials)), flush=True)


if __name__ == "__main__":
    main()
