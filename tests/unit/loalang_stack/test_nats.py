"""MQTT topic permissions written for NATS: the subjects its MQTT gateway checks."""

from __future__ import annotations

import json

import pytest

from loalang_stack.nats import NatsUser, render_accounts, topic_subjects, user_entry

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("topic_filter", "subjects"), [
    ("loa/v1/dev/d1/status", ["loa.v1.dev.d1.status"]),
    ("loa/v1/stream/+/chunk", ["loa.v1.stream.*.chunk"]),
    ("loa/v1/test/#", ["loa.v1.test", "loa.v1.test.>"]),
    ("#", [">"]),
])
def test_topic_filters_become_subjects(topic_filter: str, subjects: list[str]) -> None:
    assert topic_subjects(topic_filter) == subjects


def test_a_subscriber_may_take_its_qos1_deliveries() -> None:
    entry = user_entry(NatsUser("dev-d1", "pw", publish=("loa/v1/dev/d1/status",),
                                subscribe=("loa/v1/dev/d1/cmd",)))
    assert entry["permissions"] == {"publish": {"allow": ["loa.v1.dev.d1.status"]},
                                    "subscribe": {"allow": ["loa.v1.dev.d1.cmd", "$MQTT.sub.>"]}}
    assert entry["allowed_connection_types"] == ["MQTT"]


def test_no_topics_means_nothing_rather_than_everything() -> None:
    entry = user_entry(NatsUser("quiet", "pw"))
    assert entry["permissions"] == {"publish": {"deny": [">"]}, "subscribe": {"deny": [">"]}}


def test_each_user_is_one_json_line_of_the_accounts_file() -> None:
    users = [NatsUser("a", 'with "quotes"'), NatsUser("b", "pw", mqtt_only=False)]
    lines = [line.strip().rstrip(",") for line in render_accounts(users).splitlines()]
    entries = [json.loads(line) for line in lines if line.startswith("{")]
    assert [(entry["user"], entry["password"]) for entry in entries] == [("a", 'with "quotes"'), ("b", "pw")]
    assert "allowed_connection_types" not in entries[1]
    assert "system_account: SYS" in lines
