"""The circuit breaker, driven by a fake clock (the breaker's only input besides outcomes)."""

from __future__ import annotations

import pytest

from trimtab.sdk import BreakerPolicy, CircuitBreaker, ConfigurationError


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(policy: BreakerPolicy, clock: Clock) -> tuple[CircuitBreaker, list[tuple[str, str]]]:
    changes: list[tuple[str, str]] = []
    breaker = CircuitBreaker(
        "billing-api", policy, clock=clock, on_state_change=lambda b, x, y: changes.append((x, y))
    )
    return breaker, changes


def fail(breaker: CircuitBreaker, n: int = 1) -> None:
    for _ in range(n):
        assert breaker.acquire()
        breaker.record(False)


def test_breaker__consecutive_failures__open_and_refuse_calls() -> None:
    clock = Clock()
    breaker, changes = make(BreakerPolicy(consecutive_failures=3, minimum_calls=100), clock)
    fail(breaker, 2)
    assert breaker.state == "closed"
    fail(breaker, 1)
    assert breaker.state == "open"
    assert changes == [("closed", "open")]
    assert breaker.acquire() is False
    assert breaker.retry_in() == pytest.approx(10.0)


def test_breaker__a_success_between_failures__resets_the_consecutive_count() -> None:
    clock = Clock()
    breaker, _ = make(BreakerPolicy(consecutive_failures=3, minimum_calls=100), clock)
    fail(breaker, 2)
    assert breaker.acquire()
    breaker.record(True)
    fail(breaker, 2)
    assert breaker.state == "closed"


def test_breaker__failure_rate_over_minimum_volume__opens() -> None:
    clock = Clock()
    policy = BreakerPolicy(consecutive_failures=100, failure_rate=0.5, minimum_calls=10)
    breaker, _ = make(policy, clock)
    for i in range(9):  # 5 failures of 9 calls: over the rate, under the volume
        assert breaker.acquire()
        breaker.record(i % 2 == 1)
        clock.now += 0.5
    assert breaker.state == "closed"
    fail(breaker, 1)  # 6 of 10
    assert breaker.state == "open"


def test_breaker__old_failures__leave_the_sliding_window() -> None:
    clock = Clock()
    policy = BreakerPolicy(consecutive_failures=100, minimum_calls=4, window_s=10)
    breaker, _ = make(policy, clock)
    fail(breaker, 1)
    assert breaker.acquire()
    breaker.record(True)
    fail(breaker, 1)
    clock.now += 11  # those three calls leave the window
    assert breaker.window_counts() == (0, 0)
    for _ in range(3):
        assert breaker.acquire()
        breaker.record(True)
    fail(breaker, 1)  # 1 of 4 in the window
    assert breaker.state == "closed"


def test_breaker__after_open_s__lets_exactly_one_trial_through() -> None:
    clock = Clock()
    breaker, changes = make(BreakerPolicy(consecutive_failures=1, open_s=5), clock)
    fail(breaker)
    clock.now += 5
    assert breaker.state == "half_open"
    assert breaker.acquire() is True
    assert breaker.acquire() is False  # the trial is in flight
    breaker.record(True)
    assert breaker.state == "closed"
    assert changes == [("closed", "open"), ("open", "half_open"), ("half_open", "closed")]


def test_breaker__failed_trial__opens_again_for_open_s() -> None:
    clock = Clock()
    breaker, _ = make(BreakerPolicy(consecutive_failures=1, open_s=5), clock)
    fail(breaker)
    clock.now += 6
    fail(breaker)
    assert breaker.state == "open"
    assert breaker.retry_in() == pytest.approx(5.0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"consecutive_failures": 0},
        {"failure_rate": 0},
        {"failure_rate": 1.5},
        {"minimum_calls": 0},
        {"window_s": 0.1},
        {"open_s": 0},
        {"open_s": float("nan")},
    ],
)
def test_breaker_policy__invalid_setting__refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigurationError):
        BreakerPolicy(**kwargs)  # type: ignore[arg-type]
