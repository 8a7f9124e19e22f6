"""Rollout ramps (5% -> 25% -> 100% over days) as pure functions of the clock.

Ramps are not an evaluation-time concept: the server's job calls `ramp_percentage` on a timer
and, when the answer differs from the flag's current rollout percentage, writes the new
percentage (audited and pushed like a manual change). `next_ramp_change` tells the job when to
wake up next.

A ramp is a list of steps `[{"at": ISO 8601 date-time, "percentage": 0-100}, ...]` with
strictly increasing `at`. A step holds from its `at` until the next step's; before the first
step the ramp says nothing (None) and the flag keeps whatever percentage it has. Percentages
may go down as well as up.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from trimtab.core.flags.values import parse_datetime


class ScheduleError(ValueError):
    """A ramp definition is invalid; the message names the step."""


def validate_ramp(steps: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Check a ramp and return it normalized (`at` as given, `percentage` as a number)."""
    if isinstance(steps, str | bytes) or not isinstance(steps, Sequence) or not steps:
        raise ScheduleError("a ramp is a non-empty list of {at, percentage} steps")
    previous: datetime | None = None
    normalized = []
    for i, step in enumerate(steps):
        if not isinstance(step, Mapping):
            raise ScheduleError(f"steps[{i}]: must be an object {{at, percentage}}")
        at = parse_datetime(step.get("at"))
        if at is None:
            raise ScheduleError(f"steps[{i}].at: not an ISO 8601 date-time: {step.get('at')!r}")
        if previous is not None and at <= previous:
            raise ScheduleError(f"steps[{i}].at: must be later than the step before it")
        percentage = step.get("percentage")
        if (
            isinstance(percentage, bool)
            or not isinstance(percentage, int | float)
            or not 0 <= percentage <= 100
        ):
            raise ScheduleError(f"steps[{i}].percentage: must be a number from 0 to 100")
        previous = at
        normalized.append({"at": step["at"], "percentage": percentage})
    return normalized


def ramp_percentage(steps: Sequence[Mapping[str, Any]], now: datetime | str) -> float | None:
    """The percentage the ramp asks for at `now`, or None before its first step.

    A naive `now` (or step time) is taken as UTC. Raises ScheduleError for a bad ramp.
    """
    moment = _moment(now)
    current: float | None = None
    for step in validate_ramp(steps):
        if parse_datetime(step["at"]) > moment:  # type: ignore[operator]
            break
        current = step["percentage"]
    return current


def next_ramp_change(steps: Sequence[Mapping[str, Any]], now: datetime | str) -> datetime | None:
    """When the ramp next changes after `now`, or None when its last step has passed."""
    moment = _moment(now)
    for step in validate_ramp(steps):
        at = parse_datetime(step["at"])
        if at is not None and at > moment:
            return at
    return None


def _moment(now: datetime | str) -> datetime:
    moment = parse_datetime(now)
    if moment is None:
        raise ScheduleError(f"now: not a date-time: {now!r}")
    return moment
