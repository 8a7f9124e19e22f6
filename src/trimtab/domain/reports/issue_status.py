"""What a new event does to an issue's status: regressions and the end of an ignore.

Statuses and their `status_detail`:

- `unresolved` — detail None.
- `resolved` — detail `{"in_release": R}` when resolved *in* release R (events from releases
  before R are expected stragglers; R or later reopens), or `{}` for a plain resolve (any new
  event reopens it).
- `resolved_in_next_release` — detail `{"after": C}`, C being the newest release the issue had
  been seen in when it was resolved: events from C itself (or older) keep it resolved, an event
  from a release after C reopens it.
- `ignored` — detail `{"until_count": N, "count_at_ignore": c}` re-surfaces it once N more events
  arrived, `{"until": "<ISO time>"}` once an event arrives at or after that time, `{}` forever.

A reopened resolved issue is a *regression*: it records the release and the time, and ingest
queues an `issue.regressed` notification. Releases are ordered by `core.versions` (semver), and
when the names do not say, by when each release was first seen in the project.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from trimtab.core.event_fields import parse_timestamp
from trimtab.core.versions import UncomparableReleases, compare_releases

__all__ = ["Transition", "after_event"]

# Returns when a release was first seen in the project, or None for one never seen.
ReleaseDates = Callable[[str], datetime | None]


@dataclass(frozen=True, slots=True)
class Transition:
    status: str
    regressed: bool  # a resolved issue came back
    resurfaced: bool  # an ignored issue's condition was met


def after_event(
    status: str,
    detail: dict[str, Any] | None,
    *,
    event_count: int,
    release: str | None,
    at: datetime,
    release_dates: ReleaseDates,
) -> Transition | None:
    """The issue's new status after one more event (`event_count` already includes it), or
    None when the status stays as it is."""
    detail = detail or {}
    if status == "resolved":
        fixed_in = detail.get("in_release")
        if not isinstance(fixed_in, str) or release is None:
            # A plain resolve, or an event that does not say its release: reopening by mistake
            # costs less than hiding a regression.
            return Transition("unresolved", regressed=True, resurfaced=False)
        if _order(release, fixed_in, release_dates, at) >= 0:
            return Transition("unresolved", regressed=True, resurfaced=False)
        return None
    if status == "resolved_in_next_release":
        current = detail.get("after")
        if release is None:
            # Without a release the event cannot be from the next one.
            return None
        if not isinstance(current, str):
            # Resolved before any release was seen: the next release is any release seen
            # for the first time after the resolve.
            first = release_dates(release)
            resolved_at = parse_timestamp(detail.get("resolved_at"))
            if first is None or resolved_at is None or first >= resolved_at:
                return Transition("unresolved", regressed=True, resurfaced=False)
            return None
        if release != current and _order(release, current, release_dates, at) > 0:
            return Transition("unresolved", regressed=True, resurfaced=False)
        return None
    if status == "ignored":
        until_count = detail.get("until_count")
        if isinstance(until_count, int) and until_count > 0:
            count_at = detail.get("count_at_ignore")
            start = count_at if isinstance(count_at, int) else 0
            if event_count - start >= until_count:
                return Transition("unresolved", regressed=False, resurfaced=True)
        until = parse_timestamp(detail.get("until"))
        if until is not None and at >= until:
            return Transition("unresolved", regressed=False, resurfaced=True)
    return None


def _order(release: str, other: str, release_dates: ReleaseDates, now: datetime) -> int:
    try:
        return compare_releases(release, other)
    except UncomparableReleases:
        pass
    # A release never seen before is the newest there is — whatever the clocks say: its
    # event's own time can be earlier than the minute the other release was first counted.
    first, other_first = release_dates(release), release_dates(other)
    if first is None and other_first is not None:
        return 1
    if other_first is None and first is not None:
        return -1
    try:
        return compare_releases(release, other, first or now, other_first or now)
    except UncomparableReleases:  # pragma: no cover - both dates are always given here
        return 1
