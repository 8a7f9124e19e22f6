"""Release health: crash-free sessions and crash-free users per release and environment.

Ingest hands every batch of parsed session items to `record_sessions`, inside the batch's own
transaction. Counting rules (Sentry's, see `core.sessions`):

- a session counts once, by its session id, however many updates it sends, and whether or not
  its `init` update arrived (a lost first update must not leave a crash with no session);
- its state is the worst seen: crashed, abnormal and errored never revert to healthy;
- a user counts once per release and environment; a user is crashed when any of their
  sessions crashed. Abnormal sessions (killed by the OS, hangs) are not crashes.

The stabilization verdict compares windows with `crash_free_between`.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select, union
from sqlalchemy.orm import Session

from trimtab.core.sessions import CrashFreeRates, SessionAggregate, SessionUpdate, crash_free_rates
from trimtab.domain.errors import InvalidInput
from trimtab.domain.results import IsoTime, Result
from trimtab.domain.spine import projects
from trimtab.domain.spine.actors import Actor
from trimtab.store.db import upsert
from trimtab.store.models import HealthBucket, HealthSession, Project

__all__ = [
    "HealthCounts",
    "ReleaseHealth",
    "ReleaseHealthHour",
    "ReleaseHealthSeries",
    "ReleaseHealthSummary",
    "crash_free_between",
    "health_for_project",
    "hourly_health",
    "record_sessions",
    "release_health",
    "release_series",
]

_CHUNK = 500  # rows per INSERT: well under SQLite's bound-parameter limit
MAX_SERIES_HOURS = 24 * 31
_NEVER = datetime(1970, 1, 1, tzinfo=UTC)


def hour_of(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def user_digest(distinct_id: str) -> str:
    return hashlib.sha256(distinct_id.encode()).hexdigest()[:32]


# -- writing ---------------------------------------------------------------------------------


def record_sessions(
    session: Session,
    project_id: int,
    updates: Sequence[SessionUpdate],
    aggregates: Sequence[SessionAggregate],
) -> None:
    """Store a batch of session updates and aggregates, in the caller's transaction."""
    _upsert_sessions(session, project_id, updates)
    _add_buckets(session, project_id, aggregates)


def _upsert_sessions(session: Session, project_id: int, updates: Sequence[SessionUpdate]) -> None:
    # Merge first: one statement may not touch the same row twice (PostgreSQL refuses), and a
    # batch can hold a session's init and its end.
    merged: dict[str, dict[str, Any]] = {}
    for update in updates:
        row = merged.get(update.session_id)
        if row is None:
            merged[update.session_id] = {
                "project_id": project_id,
                "session_id": update.session_id,
                "release": update.release,
                "environment": update.environment or "",
                "user_key": user_digest(update.distinct_id) if update.distinct_id else None,
                "started": update.started,
                "hour": hour_of(update.started),
                "last_update": update.timestamp,
                "errors": update.errors,
                "duration": update.duration,
                "errored": update.is_errored,
                "crashed": update.is_crashed,
                "abnormal": update.is_abnormal,
                "ended": update.is_terminal,
            }
            continue
        row["errors"] = max(row["errors"], update.errors)
        row["last_update"] = max(row["last_update"], update.timestamp)
        if update.duration is not None:
            row["duration"] = update.duration
        if row["user_key"] is None and update.distinct_id:
            row["user_key"] = user_digest(update.distinct_id)
        for flag, value in (
            ("errored", update.is_errored),
            ("crashed", update.is_crashed),
            ("abnormal", update.is_abnormal),
            ("ended", update.is_terminal),
        ):
            row[flag] = row[flag] or value
    rows = list(merged.values())
    for start in range(0, len(rows), _CHUNK):
        statement = upsert(session, HealthSession).values(rows[start : start + _CHUNK])
        new = statement.excluded
        statement = statement.on_conflict_do_update(
            index_elements=["project_id", "session_id"],
            set_={
                "errors": case(
                    (new.errors > HealthSession.errors, new.errors), else_=HealthSession.errors
                ),
                "last_update": case(
                    (new.last_update > HealthSession.last_update, new.last_update),
                    else_=HealthSession.last_update,
                ),
                "duration": func.coalesce(new.duration, HealthSession.duration),
                "user_key": func.coalesce(HealthSession.user_key, new.user_key),
                "errored": HealthSession.errored | new.errored,
                "crashed": HealthSession.crashed | new.crashed,
                "abnormal": HealthSession.abnormal | new.abnormal,
                "ended": HealthSession.ended | new.ended,
            },
        )
        session.execute(statement)


def _add_buckets(session: Session, project_id: int, aggregates: Sequence[SessionAggregate]) -> None:
    merged: dict[tuple[str, str, datetime, str], dict[str, Any]] = {}
    for aggregate in aggregates:
        if aggregate.total == 0:
            continue
        user = user_digest(aggregate.distinct_id) if aggregate.distinct_id else ""
        key = (aggregate.release, aggregate.environment or "", hour_of(aggregate.started), user)
        row = merged.setdefault(
            key,
            {
                "project_id": project_id,
                "release": key[0],
                "environment": key[1],
                "hour": key[2],
                "user_key": key[3],
                "exited": 0,
                "errored": 0,
                "abnormal": 0,
                "crashed": 0,
            },
        )
        row["exited"] += aggregate.exited
        row["errored"] += aggregate.errored
        row["abnormal"] += aggregate.abnormal
        row["crashed"] += aggregate.crashed
    rows = list(merged.values())
    for start in range(0, len(rows), _CHUNK):
        statement = upsert(session, HealthBucket).values(rows[start : start + _CHUNK])
        new = statement.excluded
        statement = statement.on_conflict_do_update(
            index_elements=["project_id", "release", "environment", "hour", "user_key"],
            set_={
                "exited": HealthBucket.exited + new.exited,
                "errored": HealthBucket.errored + new.errored,
                "abnormal": HealthBucket.abnormal + new.abnormal,
                "crashed": HealthBucket.crashed + new.crashed,
            },
        )
        session.execute(statement)


# -- reading ---------------------------------------------------------------------------------


@dataclass
class ReleaseHealth:
    """Counts for one release in one environment (or one hour of it). The session states are
    exclusive: healthy + errored + abnormal + crashed == sessions."""

    release: str
    environment: str | None
    sessions: int = 0
    crashed: int = 0
    abnormal: int = 0
    errored: int = 0
    users: int = 0
    crashed_users: int = 0
    first_session: datetime | None = None
    last_session: datetime | None = None
    hour: datetime | None = None

    @property
    def healthy(self) -> int:
        return self.sessions - self.crashed - self.abnormal - self.errored

    @property
    def rates(self) -> CrashFreeRates:
        return crash_free_rates(self.sessions, self.crashed, self.users, self.crashed_users)

    def counts(self) -> HealthCounts:
        rates = self.rates
        return HealthCounts(
            release=self.release,
            environment=self.environment,
            sessions=self.sessions,
            healthy_sessions=self.healthy,
            errored_sessions=self.errored,
            abnormal_sessions=self.abnormal,
            crashed_sessions=self.crashed,
            users=self.users,
            crashed_users=self.crashed_users,
            crash_free_sessions=_round(rates.sessions),
            crash_free_users=_round(rates.users),
        )

    def summary(self) -> ReleaseHealthSummary:
        return ReleaseHealthSummary(
            **dict(self.counts()),
            first_session=self.first_session,
            last_session=self.last_session,
        )

    def hourly(self) -> ReleaseHealthHour:
        assert self.hour is not None  # set on every entry of a series
        return ReleaseHealthHour(**dict(self.counts()), hour=self.hour)


class HealthCounts(Result):
    """Session states are exclusive: healthy + errored + abnormal + crashed == sessions.
    Crash-free rates are percentages (3 decimals), None without sessions (or users)."""

    release: str
    environment: str | None
    sessions: int
    healthy_sessions: int
    errored_sessions: int
    abnormal_sessions: int
    crashed_sessions: int
    users: int
    crashed_users: int
    crash_free_sessions: float | None
    crash_free_users: float | None


class ReleaseHealthSummary(HealthCounts):
    """One release in one environment, over all time kept."""

    first_session: IsoTime | None
    last_session: IsoTime | None


class ReleaseHealthHour(HealthCounts):
    hour: IsoTime


class ReleaseHealthSeries(Result):
    project: str
    release: str
    environment: str | None  # as asked; None means every environment the token reaches
    hours: list[ReleaseHealthHour]


@dataclass(frozen=True)
class _Filter:
    project_id: int
    environment: str | None = None
    release: str | None = None
    start: datetime | None = None
    end: datetime | None = None

    def sessions(self, query: Any) -> Any:
        query = query.where(HealthSession.project_id == self.project_id)
        if self.environment is not None:
            query = query.where(HealthSession.environment == self.environment)
        if self.release is not None:
            query = query.where(HealthSession.release == self.release)
        if self.start is not None:
            query = query.where(HealthSession.started >= self.start)
        if self.end is not None:
            query = query.where(HealthSession.started < self.end)
        return query

    def buckets(self, query: Any) -> Any:
        query = query.where(HealthBucket.project_id == self.project_id)
        if self.environment is not None:
            query = query.where(HealthBucket.environment == self.environment)
        if self.release is not None:
            query = query.where(HealthBucket.release == self.release)
        # Aggregates are kept per hour, so windows are matched at hour precision.
        if self.start is not None:
            query = query.where(HealthBucket.hour >= hour_of(self.start))
        if self.end is not None:
            query = query.where(HealthBucket.hour < self.end)
        return query


def _as_int(flag: Any) -> Any:
    return case((flag, 1), else_=0)


def _collect(
    session: Session, where: _Filter, by_hour: bool, users: bool = True
) -> dict[tuple[Any, ...], ReleaseHealth]:
    """Counts grouped by (release, environment[, hour]) from sessions, buckets and (unless
    `users` is False) distinct users."""
    s_keys: list[Any] = [HealthSession.release, HealthSession.environment]
    b_keys: list[Any] = [HealthBucket.release, HealthBucket.environment]
    if by_hour:
        s_keys.append(HealthSession.hour)
        b_keys.append(HealthBucket.hour)
    out: dict[tuple[Any, ...], ReleaseHealth] = {}

    def entry(key: tuple[Any, ...]) -> ReleaseHealth:
        if key not in out:
            out[key] = ReleaseHealth(
                release=key[0],
                environment=key[1] or None,
                hour=key[2] if by_hour else None,
            )
        return out[key]

    crashed_only = HealthSession.crashed
    abnormal_only = HealthSession.abnormal & ~HealthSession.crashed
    errored_only = HealthSession.errored & ~HealthSession.crashed & ~HealthSession.abnormal
    session_rows = session.execute(
        where.sessions(
            select(
                *s_keys,
                func.count(),
                func.sum(_as_int(crashed_only)),
                func.sum(_as_int(abnormal_only)),
                func.sum(_as_int(errored_only)),
                func.min(HealthSession.started),
                func.max(HealthSession.last_update),
            )
        ).group_by(*s_keys)
    )
    # int(): PostgreSQL sums integers as NUMERIC, which arrive as Decimal and would not mix with
    # the float arithmetic of the rates.
    for *key, total, crashed, abnormal, errored, first, last in session_rows:
        health = entry(tuple(key))
        health.sessions += int(total)
        health.crashed += int(crashed or 0)
        health.abnormal += int(abnormal or 0)
        health.errored += int(errored or 0)
        health.first_session = _earliest(health.first_session, first)
        health.last_session = _latest(health.last_session, last)

    bucket_rows = session.execute(
        where.buckets(
            select(
                *b_keys,
                func.sum(HealthBucket.exited),
                func.sum(HealthBucket.crashed),
                func.sum(HealthBucket.abnormal),
                func.sum(HealthBucket.errored),
                func.min(HealthBucket.hour),
                func.max(HealthBucket.hour),
            )
        ).group_by(*b_keys)
    )
    for *key, exited, crashed, abnormal, errored, first, last in bucket_rows:
        health = entry(tuple(key))
        exited, crashed, abnormal, errored = (
            int(n or 0) for n in (exited, crashed, abnormal, errored)
        )
        health.sessions += exited + crashed + abnormal + errored
        health.crashed += crashed
        health.abnormal += abnormal
        health.errored += errored
        health.first_session = _earliest(health.first_session, first)
        health.last_session = _latest(health.last_session, last)

    for crashed_only_users in (False, True) if users else ():
        for *key, count in session.execute(_user_counts(where, by_hour, crashed_only_users)):
            health = entry(tuple(key))
            if crashed_only_users:
                health.crashed_users = int(count)
            else:
                health.users = int(count)
    return out


def _user_counts(where: _Filter, by_hour: bool, crashed: bool) -> Any:
    """Distinct users per group across single sessions and aggregates (a UNION, so a user
    seen in both counts once)."""
    s_cols: list[Any] = [HealthSession.release, HealthSession.environment]
    b_cols: list[Any] = [HealthBucket.release, HealthBucket.environment]
    if by_hour:
        s_cols.append(HealthSession.hour.label("hour"))
        b_cols.append(HealthBucket.hour.label("hour"))
    from_sessions = where.sessions(
        select(*s_cols, HealthSession.user_key.label("user_key")).where(
            HealthSession.user_key.is_not(None)
        )
    )
    from_buckets = where.buckets(
        select(*b_cols, HealthBucket.user_key.label("user_key")).where(HealthBucket.user_key != "")
    )
    if crashed:
        from_sessions = from_sessions.where(HealthSession.crashed.is_(True))
        from_buckets = from_buckets.where(HealthBucket.crashed > 0)
    users = union(from_sessions, from_buckets).subquery()
    keys = [users.c.release, users.c.environment] + ([users.c.hour] if by_hour else [])
    return select(*keys, func.count(users.c.user_key.distinct())).group_by(*keys)


def health_for_project(
    session: Session,
    project_id: int,
    *,
    environment: str | None = None,
    release: str | None = None,
) -> list[ReleaseHealth]:
    """One entry per release and environment, most recently active first."""
    collected = _collect(
        session, _Filter(project_id, environment=environment, release=release), by_hour=False
    )
    return sorted(
        collected.values(),
        key=lambda h: (h.last_session or _NEVER, h.release, h.environment or ""),
        reverse=True,
    )


def crash_free_between(
    session: Session,
    project_id: int,
    environment: str | None,
    start: datetime,
    end: datetime,
    *,
    release: str | None = None,
) -> CrashFreeRates:
    """Crash-free rates of the sessions started in [start, end), all releases unless one is
    named; `environment=None` means every environment. Users are distinct across the window."""
    where = _Filter(project_id, environment=environment, release=release, start=start, end=end)
    total = ReleaseHealth(release=release or "", environment=environment)
    for health in _collect(session, where, by_hour=False).values():
        total.sessions += health.sessions
        total.crashed += health.crashed
    # Users must be distinct over the whole window, not summed per release.
    total.users = _distinct_users(session, where, crashed=False)
    total.crashed_users = _distinct_users(session, where, crashed=True)
    return total.rates


def _distinct_users(session: Session, where: _Filter, *, crashed: bool) -> int:
    from_sessions = where.sessions(
        select(HealthSession.user_key.label("user_key")).where(HealthSession.user_key.is_not(None))
    )
    from_buckets = where.buckets(
        select(HealthBucket.user_key.label("user_key")).where(HealthBucket.user_key != "")
    )
    if crashed:
        from_sessions = from_sessions.where(HealthSession.crashed.is_(True))
        from_buckets = from_buckets.where(HealthBucket.crashed > 0)
    users = union(from_sessions, from_buckets).subquery()
    return int(session.scalar(select(func.count()).select_from(users)) or 0)


def hourly_health(
    session: Session,
    project_id: int,
    release: str | None,
    environment: str | None,
    start: datetime,
    end: datetime,
    *,
    users: bool = True,
) -> list[ReleaseHealth]:
    """Per hour from `start` (truncated) to `end`, zero-filled; environments merged when
    `environment` is None (users then count once per environment), releases merged when
    `release` is None (an environment's timeline across its deploys; `release` is then "").
    `users=False`: sessions only, users left at 0 (a chart of crash-free sessions skips the
    two distinct-user queries)."""
    first = hour_of(start)
    hours = math.ceil((end - first) / timedelta(hours=1))
    if hours > MAX_SERIES_HOURS:
        raise InvalidInput(f"a health series covers at most {MAX_SERIES_HOURS} hours")
    series = {
        first + timedelta(hours=i): ReleaseHealth(release=release or "", environment=environment)
        for i in range(max(hours, 0))
    }
    where = _Filter(project_id, environment=environment, release=release, start=first, end=end)
    for key, health in _collect(session, where, by_hour=True, users=users).items():
        slot = series.get(key[2])
        if slot is None:
            continue
        slot.sessions += health.sessions
        slot.crashed += health.crashed
        slot.abnormal += health.abnormal
        slot.errored += health.errored
        slot.users += health.users
        slot.crashed_users += health.crashed_users
    for hour, slot in series.items():
        slot.hour = hour
    return list(series.values())


def release_health(
    session: Session,
    actor: Actor,
    slug: str,
    *,
    environment: str | None = None,
    release: str | None = None,
) -> list[ReleaseHealthSummary]:
    """The API's list: the actor must read the project (and the environment, if bound)."""
    project, environment = _reach(session, actor, slug, environment)
    found = health_for_project(session, project.id, environment=environment, release=release)
    return [health.summary() for health in found]


def release_series(
    session: Session,
    actor: Actor,
    slug: str,
    release: str,
    *,
    environment: str | None,
    hours: int,
    now: datetime,
) -> ReleaseHealthSeries:
    """The API's hourly series for one release: `hours` buckets, the current hour last."""
    project, reached = _reach(session, actor, slug, environment)
    start = hour_of(now) - timedelta(hours=hours - 1)
    series = hourly_health(session, project.id, release, reached, start, now)
    return ReleaseHealthSeries(
        project=project.slug,
        release=release,
        environment=environment,
        hours=[health.hourly() for health in series],
    )


def _reach(
    session: Session, actor: Actor, slug: str, environment: str | None
) -> tuple[Project, str | None]:
    project = projects.get_project(session, actor, slug)
    return project, projects.environment_view(session, actor, project, environment)


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else min(a, b)


def _latest(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else max(a, b)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
