"""Topic builders and the topic parser."""

from __future__ import annotations

import pytest

from loalang_protocol import PROTOCOL_VERSION, topics
from loalang_protocol.slugs import InvalidSlug
from loalang_protocol.topics import (
    ALL_CONTROLLER_STATES,
    DEVICE_PUBLISHES,
    DEVICE_RECEIVES,
    PREFIX,
    AreaTopic,
    DeviceTopic,
    ParsedTopic,
    StreamTopic,
    parse,
)

pytestmark = pytest.mark.unit

BAD_IDS = ["#", "+", "a/b", "a+b", "a#", "", "A", "dev.1", "a b", "thôn", "-a", "a-", "a--b", "/", "a" * 49]


def test_prefix_carries_protocol_version() -> None:
    assert PREFIX == "loa/v1"
    assert PREFIX.endswith(f"/v{PROTOCOL_VERSION}")


def test_builders_spell_the_expected_topics() -> None:
    assert topics.device("dev-1", DeviceTopic.STATUS) == "loa/v1/dev/dev-1/status"
    assert topics.device("dev-1", DeviceTopic.CLOCK_REQUEST) == "loa/v1/dev/dev-1/clock/req"
    assert topics.device("dev-1", DeviceTopic.COMMAND) == "loa/v1/dev/dev-1/cmd"
    assert topics.area("xa-phu-my", AreaTopic.DESIRED) == "loa/v1/area/xa-phu-my/desired"
    assert topics.stream("live-1", StreamTopic.CHUNK) == "loa/v1/stream/live-1/chunk"
    assert topics.controller_state("ctl-a") == "loa/v1/ctl/ctl-a/state"
    assert topics.all_devices(DeviceTopic.STATUS) == "loa/v1/dev/+/status"
    assert ALL_CONTROLLER_STATES == "loa/v1/ctl/+/state"
    assert topics.revocations("0123456789abcdef") == "loa/v1/keys/0123456789abcdef/revoked"
    assert parse("loa/v1/keys/0123456789abcdef/revoked") == ParsedTopic("keys", "0123456789abcdef", "revoked")


def test_device_leaves_are_split_between_publish_and_receive() -> None:
    assert set(DEVICE_PUBLISHES).isdisjoint(DEVICE_RECEIVES)
    assert set(DEVICE_PUBLISHES) | set(DEVICE_RECEIVES) == set(DeviceTopic)
    # a device must never be able to publish a command or its own desired state
    assert DeviceTopic.COMMAND not in DEVICE_PUBLISHES
    assert DeviceTopic.DESIRED not in DEVICE_PUBLISHES


@pytest.mark.parametrize("bad", BAD_IDS)
def test_builders_reject_non_slugs(bad: str) -> None:
    with pytest.raises(InvalidSlug, match="device id"):
        topics.device(bad, DeviceTopic.STATUS)
    with pytest.raises(InvalidSlug, match="area id"):
        topics.area(bad, AreaTopic.DESIRED)
    with pytest.raises(InvalidSlug, match="stream id"):
        topics.stream(bad, StreamTopic.CHUNK)
    with pytest.raises(InvalidSlug, match="controller instance id"):
        topics.controller_state(bad)


def test_builders_reject_id_with_trailing_newline() -> None:
    with pytest.raises(InvalidSlug):
        topics.device("dev-1\n", DeviceTopic.STATUS)


def _all_built() -> list[tuple[str, ParsedTopic]]:
    out = []
    for leaf in DeviceTopic:
        out.append((topics.device("dev-7", leaf), ParsedTopic("dev", "dev-7", leaf.value)))
    for aleaf in AreaTopic:
        out.append((topics.area("xa-1", aleaf), ParsedTopic("area", "xa-1", aleaf.value)))
    for sleaf in StreamTopic:
        out.append((topics.stream("s1", sleaf), ParsedTopic("stream", "s1", sleaf.value)))
    out.append((topics.controller_state("ctl-a"), ParsedTopic("ctl", "ctl-a", "state")))
    return out


@pytest.mark.parametrize(("topic", "expected"), _all_built())
def test_parse_round_trips_every_builder(topic: str, expected: ParsedTopic) -> None:
    assert parse(topic) == expected


def test_every_leaf_is_covered_by_round_trip() -> None:
    built = _all_built()
    assert len(built) == len(DeviceTopic) + len(AreaTopic) + len(StreamTopic) + 1
    assert len({t for t, _ in built}) == len(built)


@pytest.mark.parametrize(
    "topic",
    [
        "",
        "loa",
        "loa/v1",
        "loa/v1/",
        "loa/v2/dev/dev-1/status",
        "loa/v0/dev/dev-1/status",
        "LOA/v1/dev/dev-1/status",
        "/loa/v1/dev/dev-1/status",
        "other/v1/dev/dev-1/status",
        "loa/v1x/dev/dev-1/status",
        "loa/v1dev/dev-1/status",
        "$SYS/broker/uptime",
    ],
)
def test_parse_rejects_foreign_prefixes(topic: str) -> None:
    assert parse(topic) is None


@pytest.mark.parametrize(
    "topic",
    [
        "loa/v1/dev/dev-1/unknown",
        "loa/v1/dev/dev-1/",
        "loa/v1/dev/dev-1",
        "loa/v1/dev/dev-1/status/extra",
        "loa/v1/dev/dev-1/clock",
        "loa/v1/dev/dev-1/clock/other",
        "loa/v1/dev/dev-1/clock/req/x",
        "loa/v1/dev/dev-1/STATUS",
        "loa/v1/area/xa-1/status",  # a device leaf under an area
        "loa/v1/area/xa-1/chunk",
        "loa/v1/stream/s1/desired",  # an area leaf under a stream
        "loa/v1/stream/s1/status",
        "loa/v1/ctl/ctl-a/status",
        "loa/v1/ctl/ctl-a/desired",
        "loa/v1/devices/dev-1/status",  # unknown family
        "loa/v1/x/dev-1/status",
        "loa/v1//dev-1/status",
    ],
)
def test_parse_rejects_unknown_leaves_and_wrong_families(topic: str) -> None:
    assert parse(topic) is None


@pytest.mark.parametrize("bad", ["#", "+", "A", "dev.1", "a b", "thôn", "-a", "a-", "a--b", "", "a" * 49])
def test_parse_rejects_non_slug_ids(bad: str) -> None:
    assert parse(f"loa/v1/dev/{bad}/status") is None
    assert parse(f"loa/v1/area/{bad}/desired") is None
    assert parse(f"loa/v1/stream/{bad}/chunk") is None
    assert parse(f"loa/v1/ctl/{bad}/state") is None


def test_parse_does_not_treat_wildcard_filters_as_topics() -> None:
    assert parse(topics.all_devices(DeviceTopic.STATUS)) is None
    assert parse(ALL_CONTROLLER_STATES) is None
    assert parse("loa/v1/dev/dev-1/#") is None


def test_parse_result_is_immutable() -> None:
    parsed = parse("loa/v1/dev/dev-1/status")
    assert parsed is not None
    with pytest.raises(AttributeError):
        parsed.ident = "other"  # type: ignore[misc]
