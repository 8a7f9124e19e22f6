"""Dependency guards: outcomes, time-outs, the open circuit, and what gets reported."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from trimtab.sdk import BreakerPolicy, ConfigurationError, DependencyUnavailable, GuardTimeout
from trimtab.sdk.guard import DependencyTracker, Guard, guarded


class Boom(Exception):
    pass


class NotFound(Exception):
    pass


def tracker(**policy: float) -> tuple[DependencyTracker, list[tuple[str, str, str]]]:
    changes: list[tuple[str, str, str]] = []
    t = DependencyTracker(
        BreakerPolicy(**policy),  # type: ignore[arg-type]
        on_state_change=lambda *c: changes.append(c),
    )
    return t, changes


def test_guard__exception_in_block__recorded_as_failure_and_reraised() -> None:
    t, _ = tracker()
    with pytest.raises(Boom), Guard(t, "billing-api"):
        raise Boom("down")
    with Guard(t, "billing-api"):
        pass
    [report] = t.drain()
    assert (report.successes, report.failures, report.timeouts) == (1, 1, 0)
    assert report.state == "closed"
    assert t.drain() == []  # nothing new since


def test_guard__slow_block_past_timeout__recorded_as_timeout() -> None:
    t, _ = tracker()
    with Guard(t, "billing-api", timeout=0.01):
        time.sleep(0.03)
    with pytest.raises(httpx.ReadTimeout), Guard(t, "billing-api"):
        raise httpx.ReadTimeout("slow")
    [report] = t.drain()
    assert (report.successes, report.failures, report.timeouts) == (0, 0, 2)


def test_guard__ignored_exception__counts_as_an_answer_not_a_failure() -> None:
    t, _ = tracker(consecutive_failures=1)
    with pytest.raises(NotFound), Guard(t, "billing-api", ignore=(NotFound,)):
        raise NotFound
    assert t.states() == {"billing-api": "closed"}
    assert t.drain()[0].successes == 1


def test_guard__open_circuit__raises_dependency_unavailable_without_running_the_block() -> None:
    t, changes = tracker(consecutive_failures=2)
    for _ in range(2):
        with pytest.raises(Boom), Guard(t, "billing-api"):
            raise Boom
    ran = []
    with pytest.raises(DependencyUnavailable) as raised, Guard(t, "billing-api"):
        ran.append(True)
    assert ran == []
    assert raised.value.dependency == "billing-api"
    assert "circuit is open" in str(raised.value)
    assert changes == [("billing-api", "closed", "open")]
    assert t.open_dependencies() == frozenset({"billing-api"})
    [report] = t.drain()
    assert (report.failures, report.state) == (2, "open")
    # Still open: reported again even without calls, so the server keeps seeing it.
    assert [r.state for r in t.drain()] == ["open"]


def test_guarded__sync_function__guarded_on_every_call() -> None:
    t, _ = tracker(consecutive_failures=1)
    calls = []

    @guarded(t, "pay-library")
    def tokenize(card: str) -> str:
        calls.append(card)
        if card == "bad":
            raise Boom
        return "tok_" + card

    assert tokenize("4242") == "tok_4242"
    with pytest.raises(Boom):
        tokenize("bad")
    with pytest.raises(DependencyUnavailable):
        tokenize("4242")
    assert calls == ["4242", "bad"]
    assert tokenize.__name__ == "tokenize"


async def test_guarded__async_function_past_timeout__cancelled_and_counted() -> None:
    t, _ = tracker()

    finished: list[str] = []

    @guarded(t, "billing-api", timeout=0.05)
    async def charge() -> str:
        await asyncio.sleep(3600)
        finished.append("charged")
        return "charged"

    # A call of an hour that returns to the test at all was cancelled, not waited for.
    with pytest.raises(GuardTimeout) as raised:
        await charge()
    assert finished == []
    assert isinstance(raised.value, TimeoutError)
    assert t.drain()[0].timeouts == 1


async def test_guard__async_with__records_outcomes() -> None:
    t, _ = tracker()
    async with Guard(t, "billing-api"):
        await asyncio.sleep(0)
    assert t.drain()[0].successes == 1


def test_guard__cancelled_trial__gives_back_the_half_open_slot() -> None:
    t, _ = tracker(consecutive_failures=1, open_s=0.05)
    with pytest.raises(Boom), Guard(t, "billing-api"):
        raise Boom
    time.sleep(0.06)
    with pytest.raises(DependencyUnavailable), Guard(t, "billing-api"):
        # A nested refusal is not billing's fault: the trial slot is released, no outcome.
        raise DependencyUnavailable("pay-library")
    assert t.states() == {"billing-api": "half_open"}
    with Guard(t, "billing-api"):
        pass
    assert t.states() == {"billing-api": "closed"}


@pytest.mark.parametrize("name", ["", "Billing API", "x" * 65, "../etc"])
def test_guard__invalid_dependency_name__configuration_error(name: str) -> None:
    t, _ = tracker()
    with pytest.raises(ConfigurationError):
        Guard(t, name)


def test_guard__non_positive_timeout__configuration_error() -> None:
    t, _ = tracker()
    with pytest.raises(ConfigurationError):
        Guard(t, "billing-api", timeout=0)
