"""A flood of wrong logins against a controller that is on the air: /healthz and a live stream's chunks.

Starts the project's own Mosquitto, Redis, an Icecast station (a 1 kHz tone) and the controller,
puts a live relay of the station on the air, and subscribes to its chunk topic with the
controller's broker account. Then, round after round, FLOOD wrong logins arrive at once, each over a
connection of its own (written by hand: an HTTP client library would take a core of this machine's
two for the flood and slow the controller it measures), while /healthz is probed every 20 ms.

Each probe is timed from when it was due, so that a stall counts once for every probe it held up. A
chunk is late when it reaches the broker's subscriber after its presentation time plus the playout
latency: every receiver would drop it. Its lead is how long before that it arrived.

--names one: every login names the same user, from one address (as a guesser at one account would);
--names many: every login names another user, from one address (the per-address limit holds them).

    .venv/bin/python -m benchmarks.login_flood --rounds 5
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import redis
from paho.mqtt.enums import CallbackAPIVersion

from benchmarks.stack import PASSWORD, live_stack, machine
from loalang_protocol import chunks, topics
from loalang_protocol.topics import StreamTopic
from loalang_stack import broker
from tests.testkit import playing_station, probe_health_during, wait_for, wrong_login

API = "/api/v1"
FLOOD = 300
LATENCY_MS = 500  # LOALANG_LIVE_LATENCY_MS's default
TONE = "aevalsrc=exprs=0.4*sin(2*PI*1000*t):s=48000"  # lavfi sine made an MP3 ffmpeg could not probe


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[int(share * (len(ordered) - 1))] if ordered else float("nan")


async def flood(url: str, names: str, round_number: int) -> list[int]:
    def name(n: int) -> str:
        return f"guess-{round_number}" if names == "one" else f"guess-{round_number}-{n}"
    answers = await asyncio.gather(*(wrong_login(url, name(n), n) for n in range(FLOOD)))
    return [answer.status_code for answer in answers]


class ChunkListener:
    """Every chunk of every stream as it reaches a subscriber: (arrival s, presentation s)."""

    def __init__(self, port: int, password: str) -> None:
        self.chunks: list[tuple[float, float]] = []
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-flood-{os.getpid()}")
        self._client.username_pw_set(broker.CONTROLLER_USERNAME, password)
        every_chunk = f"{topics.PREFIX}/stream/+/{StreamTopic.CHUNK.value}"
        self._client.on_connect = lambda client, *_: client.subscribe(every_chunk, 0)
        self._client.on_message = self._on_message
        self._client.connect("127.0.0.1", port)
        self._client.loop_start()

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        chunk = chunks.decode(bytes(message.payload))
        self.chunks.append((time.time(), chunk.pts_us / 1e6))

    def between(self, start: float, end: float) -> list[tuple[float, float]]:
        return [(arrived, pts) for arrived, pts in list(self.chunks) if start <= arrived <= end]

    def close(self) -> None:
        self._client.loop_stop()
        self._client.disconnect()


def chunk_figures(received: list[tuple[float, float]]) -> str:
    leads = [pts + LATENCY_MS / 1000 - arrived for arrived, pts in received]
    late = sum(1 for lead in leads if lead < 0)
    return (f"{len(received)} chunks, {late} late, lead min {min(leads) * 1000:.0f} ms, "
            f"p1 {percentile(leads, 0.01) * 1000:.0f} ms" if leads else "no chunk")


def run(rounds: int, names: str) -> None:
    print(f"machine: {machine()}; {FLOOD} wrong logins a round, names: {names}")
    with tempfile.TemporaryDirectory(prefix="loalang-flood-") as folder, \
            live_stack(Path(folder), LOALANG_RELAY_ALLOWED_NETWORKS="127.0.0.0/8") as stack, \
            playing_station(Path(folder) / "station", TONE, seconds=3600) as station:
        counts = redis.Redis(port=stack.redis_port)
        try:
            listener = ChunkListener(stack.mqtt_port, stack.mqtt_password)
            stack.fleet.ensure_areas()
            time.sleep(2)  # the station is mounted
            created = stack.fleet.http.post(f"{API}/broadcasts", json={
                "level": "live", "live": {"kind": "relay", "url": station.listen_url("station.mp3")},
                "area_ids": ["thon-a"], "confirm_password": PASSWORD})
            created.raise_for_status()
            wait_for(lambda: len(listener.chunks) > 20, 30.0, what="the stream's chunks")
            quiet_start = time.time()
            time.sleep(5)
            print(f"before the flood (5 s): {chunk_figures(listener.between(quiet_start, time.time()))}")
            url = stack.controller.url
            for round_number in range(rounds):
                answers: list[int] = []
                action = threading.Thread(target=lambda r=round_number, kept=answers: kept.extend(
                    asyncio.run(flood(url, names, r))))
                start = time.time()
                delays, statuses = probe_health_during(url, action)
                if set(statuses) != {200}:
                    print(f"  /healthz answered {dict(statuses)}")
                end = time.time()
                p99, worst = percentile(delays, 0.99) * 1000, max(delays) * 1000
                print(f"round {round_number + 1}: {dict(Counter(answers))} in {end - start:.1f} s; "
                      f"/healthz p99 {p99:.0f} ms, max {worst:.0f} ms; "
                      f"stream: {chunk_figures(listener.between(start, end + LATENCY_MS / 1000))}")
                for key in counts.scan_iter("loa:login*"):
                    counts.delete(key)  # the next round meets the same limits
            stack.fleet.http.post(f"{API}/broadcasts/{created.json()['id']}/stop")
            listener.close()
        finally:
            counts.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--names", choices=("one", "many"), default="one")
    args = parser.parse_args()
    run(args.rounds, args.names)


if __name__ == "__main__":
    main()
