"""core.flag_guards: the binomial tail and the on-vs-off comparison."""

from __future__ import annotations

import math

import pytest

from trimtab.core.auto_off import binomial_tail, compare


@pytest.mark.parametrize(
    ("k", "n", "p", "expected"),
    [
        (0, 10, 0.5, 1.0),
        (11, 10, 0.5, 0.0),
        (10, 10, 0.5, 0.5**10),
        (6, 10, 0.5, 386 / 1024),  # sum C(10, i) for i >= 6 over 2^10
        (1, 20, 0.05, 1 - 0.95**20),
    ],
)
def test_binomial_tail__exact_values(k: int, n: int, p: float, expected: float) -> None:
    assert binomial_tail(k, n, p) == pytest.approx(expected, rel=1e-9)


def test_binomial_tail__large_n__normal_approximation_close_to_exact() -> None:
    exact = binomial_tail(10_250, 20_000, 0.5)
    approx = binomial_tail(20_500, 40_000, 0.5)  # above the exact limit
    assert 0 < approx < exact < 0.001  # twice the data, same share: stronger evidence
    assert math.isclose(binomial_tail(20_000, 40_000, 0.5), 0.5, abs_tol=0.01)


def test_compare__on_side_with_its_share_of_errors__no_trip() -> None:
    # 25% exposure, 25% of the errors: the flag changes nothing.
    verdict = compare(50, 150, 0.25)
    assert not verdict.trip
    assert verdict.ratio == pytest.approx(1.0)


def test_compare__on_side_far_above_its_share__trips() -> None:
    # 25% exposure but 60% of the errors: 4.5x the off rate, p far below 0.001.
    verdict = compare(120, 80, 0.25)
    assert verdict.trip
    assert verdict.ratio == pytest.approx(4.5)
    assert verdict.p_value is not None and verdict.p_value < 1e-10


def test_compare__significant_but_small_difference__no_trip_below_min_ratio() -> None:
    verdict = compare(5_500, 14_500, 0.25)  # 1.14x with a tiny p-value
    assert verdict.p_value is not None and verdict.p_value < 0.001
    assert not verdict.trip


def test_compare__few_errors__never_trips() -> None:
    assert not compare(5, 0, 0.05).trip  # infinitely worse, but 5 errors prove nothing


def test_compare__no_off_side__cannot_compare() -> None:
    verdict = compare(500, 0, 1.0)
    assert not verdict.trip and "no off side" in verdict.reason
