"""MQTT topic permissions written as the NATS subjects its MQTT gateway checks."""

from __future__ import annotations

import pytest

from controller.broker_accounts.base import device_grants
from controller.broker_accounts.nats_subjects import device_permissions, subjects, topic_subjects

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("topic_filter", "expected"), [
    ("loa/v1/dev/d1/status", ["loa.v1.dev.d1.status"]),
    ("loa/v1/stream/+/chunk", ["loa.v1.stream.*.chunk"]),
    ("loa/v1/test/#", ["loa.v1.test", "loa.v1.test.>"]),
    ("#", [">"]),
])
def test_topic_filters_become_subjects(topic_filter: str, expected: list[str]) -> None:
    assert topic_subjects(topic_filter) == expected


def test_repeated_subjects_are_listed_once() -> None:
    assert subjects(["a/#", "a", "b/+"]) == ["a", "a.>", "b.*"]


def test_a_device_publishes_its_own_topics_and_takes_its_qos1_deliveries() -> None:
    publish, subscribe = device_permissions(device_grants("d1", ("vn", "vn-hn")))
    assert publish and all(subject.startswith("loa.v1.dev.d1.") for subject in publish)
    assert "loa.v1.area.vn-hn.desired" in subscribe and "loa.v1.area.vn.desired" in subscribe
    assert subscribe[-1] == "$MQTT.sub.>"
    assert not any(subject.endswith(">") for subject in subscribe[:-1])
    assert not any("d2" in subject for subject in publish + subscribe)
