"""The demo's choice of broker and of the folder its state lives in."""

from __future__ import annotations

from pathlib import Path

import pytest

from loalang_stack.demo import DemoRefused, broker_kind, check_demo_dir, demo_dir

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("value", "kind"), [(None, "mosquitto"), ("", "mosquitto"), ("nats", "nats"),
                                             ("NATS", "nats"), ("mosquitto", "mosquitto")])
def test_the_broker_is_mosquitto_unless_nats_is_asked_for(monkeypatch: pytest.MonkeyPatch, value: str | None,
                                                          kind: str) -> None:
    if value is None:
        monkeypatch.delenv("LOALANG_BROKER", raising=False)
    else:
        monkeypatch.setenv("LOALANG_BROKER", value)
    assert broker_kind() == kind


def test_each_broker_keeps_its_demo_state_apart_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOALANG_DEMO_DIR", raising=False)
    assert (demo_dir("mosquitto"), demo_dir("nats")) == (Path("data/demo"), Path("data/demo-nats"))
    monkeypatch.setenv("LOALANG_DEMO_DIR", "/srv/demo")
    assert demo_dir("nats") == Path("/srv/demo")


@pytest.mark.parametrize(("left", "kind"), [("broker", "nats"), ("nats", "mosquitto")])
def test_state_another_broker_left_is_refused(tmp_path: Path, left: str, kind: str) -> None:
    (tmp_path / left).mkdir()
    with pytest.raises(DemoRefused, match="delete it or set LOALANG_DEMO_DIR"):
        check_demo_dir(tmp_path, kind)


@pytest.mark.parametrize(("left", "kind"), [("broker", "mosquitto"), ("nats", "nats"), (None, "nats")])
def test_a_new_folder_or_the_same_brokers_state_is_used(tmp_path: Path, left: str | None, kind: str) -> None:
    if left is not None:
        (tmp_path / left).mkdir()
    check_demo_dir(tmp_path, kind)
