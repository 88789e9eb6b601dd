"""How long the project's Mosquitto takes to notice a frozen client, by keepalive.

A client connects with a last will and keepalive K, then is frozen (SIGSTOP), as a hung board
would be. The time from the freeze to the will's arrival is what presence would show without
the controller's own watchdog. Prints one JSON line per keepalive.

    .venv/bin/python benchmarks/keepalive_detection.py --keepalive 5 10 20 --trials 3
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from loalang_stack import broker
from loalang_stack.broker import CONTROLLER_USERNAME, BrokerConfig
from loalang_stack.ports import free_port


def measure(keepalive: int, trials: int) -> dict[str, object]:
    """Freeze trials clients with this keepalive and time each will."""
    config = BrokerConfig(Path(tempfile.mkdtemp(prefix="loalang-ka-")), free_port())
    server, password = broker.start(config)
    base = ["-h", "127.0.0.1", "-p", str(config.port), "-u", CONTROLLER_USERNAME, "-P", password]
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
        server.stop()
    return {"keepalive_s": keepalive, "will_after_freeze_s": delays, "spec_1_5x_s": 1.5 * keepalive}


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
