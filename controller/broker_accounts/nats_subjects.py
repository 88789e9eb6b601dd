"""MQTT topic filters as the NATS subjects that grant them (docs/nats.md has the rules)."""

from __future__ import annotations

from .base import TopicGrants

MQTT_DELIVERY_SUBJECTS = "$MQTT.sub.>"  # where JetStream hands a QoS 1 subscriber its messages


def topic_subjects(topic_filter: str) -> list[str]:
    """The NATS subjects an MQTT topic filter covers: '/' becomes '.', '+' becomes '*', and a trailing
    '#' both its parent level and '>' (in MQTT 'a/#' matches 'a' too)."""
    levels = ["*" if level == "+" else level for level in topic_filter.split("/")]
    if levels[-1] != "#":
        return [".".join(levels)]
    parent = ".".join(levels[:-1])
    return [parent, f"{parent}.>"] if parent else [">"]


def subjects(topic_filters: tuple[str, ...] | list[str]) -> list[str]:
    """Every subject of several topic filters, in order, each once."""
    return list(dict.fromkeys(subject for topic in topic_filters for subject in topic_subjects(topic)))


def device_permissions(grants: TopicGrants) -> tuple[list[str], list[str]]:
    """A device's (publish, subscribe) subjects. NATS cannot refuse a wildcard subscription that is
    identical to a granted pattern: `loa/v1/stream/+/chunk`, granted so a device may join one stream,
    is granted as a subscription too (docs/nats.md); every wider wildcard is refused."""
    subscribe = subjects([*grants.subscribe, *grants.subscribe_patterns])
    return subjects(grants.publish), [*subscribe, MQTT_DELIVERY_SUBJECTS]
