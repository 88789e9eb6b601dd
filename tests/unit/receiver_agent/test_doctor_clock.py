"""doctor's clock verdict: an agent that has just started is waiting for its first clock reply (not a
fault); later, no reply and no NTP is a fault, and so is an offset over a second."""

from __future__ import annotations

import time

import pytest

from receiver_agent import doctor
from receiver_agent.doctor import FIRST_CLOCK_REPLY_S, CheckFailed, Session, _clock_verdict

pytestmark = pytest.mark.unit


@pytest.fixture
def ntp(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    synchronised = [False]
    monkeypatch.setattr(doctor, "ask_system_clock", lambda: synchronised[0])
    return synchronised


def running_agent(started_s_ago: float, offset_us: int | None = None) -> Session:
    return Session("the running agent reports its session", offset_us, time.time() - started_s_ago)


def test_an_agent_started_moments_ago_is_waiting_for_its_first_reply(ntp: list[bool]) -> None:
    assert _clock_verdict(running_agent(10)).startswith("waiting for the first clock reply")


def test_an_agent_without_a_reply_after_a_minute_fails_unless_ntp_keeps_the_time(ntp: list[bool]) -> None:
    with pytest.raises(CheckFailed, match="no signed clock reply"):
        _clock_verdict(running_agent(FIRST_CLOCK_REPLY_S + 5))
    ntp[0] = True
    assert "synchronised by NTP" in _clock_verdict(running_agent(FIRST_CLOCK_REPLY_S + 5))


def test_doctors_own_session_without_a_reply_is_not_waiting(ntp: list[bool]) -> None:
    with pytest.raises(CheckFailed, match="no signed clock reply"):
        _clock_verdict(Session("logged in as dev-loa-1", None))


@pytest.mark.parametrize("offset_us, fine", [(400_000, True), (-900_000, True), (1_500_000, False)])
def test_an_offset_over_a_second_fails(ntp: list[bool], offset_us: int, fine: bool) -> None:
    session = running_agent(5, offset_us)
    if fine:
        assert "of the controller" in _clock_verdict(session)
    else:
        with pytest.raises(CheckFailed, match="off the controller's"):
            _clock_verdict(session)
