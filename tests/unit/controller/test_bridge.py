"""A device is heard from when its message comes off the socket: a controller behind on its inbox, or
shedding telemetry, does not take its own delay for the device's silence."""

from __future__ import annotations

from types import SimpleNamespace

import paho.mqtt.client as paho
import pytest

from controller.mqtt.bridge import DeviceBridge
from loalang_protocol import topics
from loalang_protocol.inbox import InboxLimits
from loalang_protocol.mqtt import LinkSettings, MqttLink
from loalang_protocol.topics import DeviceTopic

pytestmark = pytest.mark.unit


def arrive(link: MqttLink, topic: str, retained: bool = False) -> None:
    """A message as paho hands it over, read off the socket."""
    message = paho.MQTTMessage(topic=topic.encode())
    message.payload, message.retain = b"{}", retained
    link._on_message(link.client, None, message)


def test_a_message_is_heard_as_it_arrives_before_any_handling_and_even_when_shed() -> None:
    def sheddable(topic: str) -> str | None:
        return "telemetry" if topic.endswith("/telemetry") else None

    link = MqttLink(LinkSettings(host="127.0.0.1", port=1, client_id="ctl", inbox=InboxLimits(shed_lane=1),
                                 sheddable=sheddable))
    bridge = DeviceBridge(SimpleNamespace(link=link))
    for device in ("loa-a", "loa-b"):  # the second pushes the first out of the one-place lane
        arrive(link, topics.device(device, DeviceTopic.TELEMETRY))
    assert set(bridge._heard) == {"loa-a", "loa-b"}, "no handler ran: heard on arrival"
    assert link.inbox.shed == {"telemetry": 1}, "loa-a's telemetry was shed, and it was still heard"


def test_a_birth_a_will_and_a_retained_message_are_not_signs_of_life() -> None:
    link = MqttLink(LinkSettings(host="127.0.0.1", port=1, client_id="ctl"))
    bridge = DeviceBridge(SimpleNamespace(link=link))
    arrive(link, topics.device("loa-gone", DeviceTopic.STATUS))  # a will is the broker's message
    arrive(link, topics.device("loa-old", DeviceTopic.REPORTED), retained=True)  # kept from before
    arrive(link, "loa/v1/area/xa-x/desired")
    arrive(link, "somewhere/else")
    assert bridge._heard == {}
    arrive(link, topics.device("loa-here", DeviceTopic.EVENT))
    assert set(bridge._heard) == {"loa-here"}
