"""Rollout ramps: which percentage applies at a moment, and when it next changes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from trimtab.core.schedules import ScheduleError, next_ramp_change, ramp_percentage

RAMP = [
    {"at": "2024-05-01T09:00:00Z", "percentage": 5},
    {"at": "2024-05-02T09:00:00+00:00", "percentage": 25},
    {"at": "2024-05-03T18:00:00+09:00", "percentage": 100},
]


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        ("2024-05-01T08:59:59Z", None),
        ("2024-05-01T09:00:00Z", 5),
        ("2024-05-02T08:59:59Z", 5),
        ("2024-05-02T09:00:00Z", 25),
        ("2024-05-03T08:59:59Z", 25),
        ("2024-05-03T09:00:00Z", 100),
        ("2030-01-01T00:00:00Z", 100),
    ],
)
def test_ramp_percentage__moment__is_the_last_step_reached(now: str, expected: int | None) -> None:
    assert ramp_percentage(RAMP, now) == expected


def test_ramp_percentage__naive_datetime__is_taken_as_utc() -> None:
    assert ramp_percentage(RAMP, datetime(2024, 5, 2, 9, 0)) == 25


def test_next_ramp_change__between_steps__is_the_next_step() -> None:
    assert next_ramp_change(RAMP, "2024-05-02T10:00:00Z") == datetime(2024, 5, 3, 9, tzinfo=UTC)


def test_next_ramp_change__after_the_last_step__is_none() -> None:
    assert next_ramp_change(RAMP, "2024-05-04T00:00:00Z") is None


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ([], "non-empty list"),
        ([{"at": "soon", "percentage": 5}], r"steps\[0\]\.at"),
        ([{"at": "2024-05-01T00:00:00Z", "percentage": 101}], r"steps\[0\]\.percentage"),
        ([{"at": "2024-05-01T00:00:00Z", "percentage": True}], r"steps\[0\]\.percentage"),
        (
            [
                {"at": "2024-05-02T00:00:00Z", "percentage": 5},
                {"at": "2024-05-01T00:00:00Z", "percentage": 50},
            ],
            r"steps\[1\]\.at: must be later",
        ),
    ],
)
def test_ramp_percentage__bad_ramp__raises_schedule_error(
    steps: list[dict[str, object]], message: str
) -> None:
    with pytest.raises(ScheduleError, match=message):
        ramp_percentage(steps, "2024-05-01T12:00:00Z")
