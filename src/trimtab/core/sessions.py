"""Release health from Sentry session items: parse them, and compute crash-free rates.

A `session` item is one update of one user session (https://develop.sentry.dev/sdk/sessions/):
the SDK sends `init: true` with the first update, then updates while the session runs, and
one final update with a terminal status (exited, crashed, abnormal). A `sessions` item is a
batch of pre-counted sessions, as server SDKs send in request mode: per start minute, how many
ended exited, errored, abnormal and crashed.

Counting, for whoever stores them: a session is counted once, on its `init` update; it is
crashed (abnormal) when an update has that status; it is errored when any update has
`errors > 0` or a non-ok status, which must be de-duplicated by `session_id`, as must users by
`distinct_id`. Abnormal sessions (killed by the OS, app hangs) are not crashes, as in Sentry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from trimtab.core.event_fields import (
    MAX_ENVIRONMENT,
    MAX_RELEASE,
    MAX_USER_KEY,
    bounded,
    parse_timestamp,
)

__all__ = [
    "SESSION_STATUSES",
    "CrashFreeRates",
    "InvalidSession",
    "SessionAggregate",
    "SessionUpdate",
    "crash_free_rates",
    "parse_session",
    "parse_sessions",
]

SESSION_STATUSES = ("ok", "exited", "crashed", "abnormal", "errored")
TERMINAL_STATUSES = frozenset({"exited", "crashed", "abnormal"})
MAX_AGGREGATES = 1000


class InvalidSession(ValueError):
    """A session item trimtab cannot use, with the reason."""


@dataclass(frozen=True, slots=True)
class SessionUpdate:
    session_id: str
    distinct_id: str | None
    release: str
    environment: str | None
    status: str
    errors: int
    started: datetime
    timestamp: datetime
    duration: float | None  # seconds
    init: bool
    sequence: int | None

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def is_crashed(self) -> bool:
        return self.status == "crashed"

    @property
    def is_abnormal(self) -> bool:
        return self.status == "abnormal"

    @property
    def is_errored(self) -> bool:
        return self.errors > 0 or self.status in ("errored", "crashed", "abnormal")


@dataclass(frozen=True, slots=True)
class SessionAggregate:
    release: str
    environment: str | None
    started: datetime
    distinct_id: str | None
    exited: int
    errored: int
    abnormal: int
    crashed: int

    @property
    def total(self) -> int:
        return self.exited + self.errored + self.abnormal + self.crashed


def parse_session(payload: Any, received_at: datetime) -> SessionUpdate:
    """Normalize a `session` item payload; `received_at` stands in for a missing timestamp."""
    if not isinstance(payload, Mapping):
        raise InvalidSession("session payload must be a JSON object")
    release, environment = _attrs(payload)
    sid = bounded(payload.get("sid"), 64)
    if sid is None:
        raise InvalidSession('session has no "sid" (session id)')
    status = payload.get("status", "ok")
    if status not in SESSION_STATUSES:
        raise InvalidSession(
            f"session status {status!r} is not one of {', '.join(SESSION_STATUSES)}"
        )
    started = parse_timestamp(payload.get("started"))
    if started is None:
        raise InvalidSession('session has no readable "started" timestamp')
    duration = payload.get("duration")
    sequence = payload.get("seq")
    return SessionUpdate(
        session_id=sid,
        distinct_id=bounded(payload.get("did"), MAX_USER_KEY),
        release=release,
        environment=environment,
        status=status,
        errors=_count(payload.get("errors"), "errors"),
        started=started,
        timestamp=parse_timestamp(payload.get("timestamp")) or received_at,
        duration=_duration(duration),
        init=payload.get("init") is True,
        sequence=sequence if isinstance(sequence, int) and not isinstance(sequence, bool) else None,
    )


def parse_sessions(payload: Any) -> list[SessionAggregate]:
    """Normalize a `sessions` (aggregates) item payload into one entry per bucket."""
    if not isinstance(payload, Mapping):
        raise InvalidSession("sessions payload must be a JSON object")
    release, environment = _attrs(payload)
    buckets = payload.get("aggregates")
    if not isinstance(buckets, list):
        raise InvalidSession('sessions payload has no "aggregates" list')
    if len(buckets) > MAX_AGGREGATES:
        raise InvalidSession(f"sessions payload has more than {MAX_AGGREGATES} aggregates")
    out: list[SessionAggregate] = []
    for i, bucket in enumerate(buckets):
        if not isinstance(bucket, Mapping):
            raise InvalidSession(f"aggregate {i} must be a JSON object")
        started = parse_timestamp(bucket.get("started"))
        if started is None:
            raise InvalidSession(f'aggregate {i} has no readable "started" timestamp')
        out.append(
            SessionAggregate(
                release=release,
                environment=environment,
                started=started,
                distinct_id=bounded(bucket.get("did"), MAX_USER_KEY),
                exited=_count(bucket.get("exited"), "exited"),
                errored=_count(bucket.get("errored"), "errored"),
                abnormal=_count(bucket.get("abnormal"), "abnormal"),
                crashed=_count(bucket.get("crashed"), "crashed"),
            )
        )
    return out


def _attrs(payload: Mapping[str, Any]) -> tuple[str, str | None]:
    attrs = payload.get("attrs")
    if not isinstance(attrs, Mapping):
        raise InvalidSession('session has no "attrs" with a release')
    release = bounded(attrs.get("release"), MAX_RELEASE)
    if release is None:
        # Release health is per release; Relay drops such sessions too.
        raise InvalidSession("session attrs have no release: set `release` in the SDK")
    return release, bounded(attrs.get("environment"), MAX_ENVIRONMENT)


def _count(value: Any, field: str) -> int:
    if value is None:
        return 0
    if not _is_number(value) or value < 0:
        raise InvalidSession(f"session {field} must be a count (a whole number >= 0)")
    return int(value)


def _duration(value: Any) -> float | None:
    return float(value) if _is_number(value) and value >= 0 else None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


@dataclass(frozen=True, slots=True)
class CrashFreeRates:
    """Percentages from 0 to 100; None when there is nothing to count."""

    sessions: float | None
    users: float | None


def crash_free_rates(
    total_sessions: int, crashed_sessions: int, total_users: int = 0, crashed_users: int = 0
) -> CrashFreeRates:
    """Crash-free sessions % and crash-free users % from counts (crashed counts above the
    totals, as late updates can briefly produce, are capped at the totals)."""
    return CrashFreeRates(
        sessions=_crash_free(total_sessions, crashed_sessions),
        users=_crash_free(total_users, crashed_users),
    )


def _crash_free(total: int, crashed: int) -> float | None:
    if total <= 0:
        return None
    return 100.0 * (1.0 - min(max(crashed, 0), total) / total)
