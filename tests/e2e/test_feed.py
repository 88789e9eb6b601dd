"""The event feed as a console reads it: server-sent events of the reader's own scope, a stream that
stays open through quiet spells, and a reconnecting reader resuming after the last event it saw."""

from __future__ import annotations

import json
import queue
import threading
import time
from typing import Any

import httpx
import pytest

from loalang_stack.services import ControllerProcess
from tests.testkit import OPERATOR_PASSWORD, Fleet, login, new_commune, operator_of, wait_for

pytestmark = pytest.mark.e2e

API = "/api/v1"


class FeedReader:
    """Reads a feed stream in a thread: each event (or the error that ended the stream) goes to a queue."""

    def __init__(self, client: httpx.Client, last_event_id: str | None = None) -> None:
        self.client = client
        self.headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
        self.events: queue.Queue[dict[str, Any] | Exception] = queue.Queue()
        self.ended = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        event_id = None
        try:
            with self.client.stream("GET", f"{API}/feed", headers=self.headers, timeout=None) as response:
                response.raise_for_status()
                for line in response.iter_lines():
                    if line.startswith("id: "):
                        event_id = line[4:]
                    elif line.startswith("data: "):
                        self.events.put({**json.loads(line[6:]), "id": event_id})
        except Exception as exc:  # handed to the test, which fails with it
            self.events.put(exc)
        finally:
            self.ended.set()

    def until(self, wanted: Any, timeout: float) -> dict[str, Any]:
        """The first event for which wanted(event) is true; fails after timeout or when the stream ends."""
        deadline = time.monotonic() + timeout
        while True:
            item = self.events.get(timeout=max(0.01, deadline - time.monotonic()))
            if isinstance(item, Exception):
                raise AssertionError(f"the stream ended: {item!r}")
            if wanted(item):
                return item

    def seen(self) -> list[dict[str, Any]]:
        """Everything received so far (errors included)."""
        items = []
        while not self.events.empty():
            items.append(self.events.get())
        return items


def test_a_reader_sees_its_own_communes_events_through_quiet_spells_and_resumes_after_the_last(
        fleet: Fleet, controller: ControllerProcess) -> None:
    ours_commune, ours = new_commune(fleet, villages=1)
    _, theirs = new_commune(fleet, villages=1)
    with login(controller.url, operator_of(fleet, ours_commune), OPERATOR_PASSWORD) as client:
        reader = FeedReader(client)
        time.sleep(7)  # longer than a Redis client's default read timeout: the stream must stay open
        assert not reader.ended.is_set(), reader.seen()

        their_id, their_config = fleet.enrolled_agent(area=theirs[0])
        fleet.start(their_config)
        wait_for(lambda: fleet.online(their_id), 10.0, what="the other commune's cluster online")
        our_id, our_config = fleet.enrolled_agent(area=ours[0])
        fleet.start(our_config)
        reader.until(lambda e: e["type"] == "online" and e["device_id"] == our_id, 15.0)
        assert all(e.get("device_id") != their_id for e in reader.seen()), "nothing of another commune"

        aired = fleet.http.post(f"{API}/broadcasts", json={"level": "normal", "area_ids": ours,
                                                           "title": "Tin ngắn", "text": "Xin chào."}).json()
        ours_only = lambda e: e.get("broadcast_id") == aired["id"]  # noqa: E731
        assert reader.until(ours_only, 10.0)["status"] == "on_air"
        assert client.get(f"{API}/broadcasts", params={"status": "on_air"}).json()[0]["id"] == aired["id"]
        done = reader.until(ours_only, 30.0)
        assert done["status"] == "done", "a broadcast that ends by itself says so"
        assert all(b["id"] != aired["id"] for b in client.get(f"{API}/broadcasts",
                                                               params={"status": "on_air"}).json())
        assert client.get(f"{API}/broadcasts", params={"status": "playing"}).status_code == 422

        fleet.agents[-1].stop()  # our cluster goes offline while nobody reads
        wait_for(lambda: not fleet.online(our_id), 15.0, what="offline")
        resumed = FeedReader(client, last_event_id=done["id"])
        offline = resumed.until(lambda e: e.get("device_id") == our_id, 10.0)
        assert offline["type"] == "offline", "the first event after the last one seen"

        refused = client.get(f"{API}/feed", headers={"Last-Event-ID": "<script>"})
        assert refused.status_code == 400
