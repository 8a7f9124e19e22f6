"""An environment's recent history as one timeline, for the releases page: errors per hour, the
crash-free sessions per hour (every release merged), each deploy or rollback run marked where it
happened, and each stabilization window as the span it covered.

Four queries per environment whatever the length: the hourly rollups, the hourly health
buckets, the runs and the windows in the range.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from trimtab.domain.reports import release_health
from trimtab.store import rollups
from trimtab.store.models import DeployRun, Release, StabilizationWindow

TIMELINE_DAYS = 14
MAX_MARKS = 200


@dataclass(frozen=True)
class RunMark:
    """A deploy or rollback run: when it started, how it ended, what it shipped."""

    run_id: int
    at: datetime
    kind: str
    state: str
    release: str | None
    actor: str


@dataclass(frozen=True)
class WindowSpan:
    release: str
    opened_at: datetime
    ends_at: datetime


@dataclass(frozen=True)
class EnvironmentTimeline:
    """Hour by hour from `start` to `end`: `counts` events and `crash_free` percent (None for an
    hour without sessions), with the runs and windows that fall in the range."""

    environment: str
    start: datetime
    end: datetime
    counts: list[int]
    crash_free: list[float | None]
    runs: list[RunMark]
    windows: list[WindowSpan]


def environment_timeline(
    session: Session, project_id: int, environment: str, now: datetime, days: int = TIMELINE_DAYS
) -> EnvironmentTimeline:
    """The last `days` days of `environment` up to `now` (the caller has checked access)."""
    end = now
    start = (now - timedelta(days=days)).replace(minute=0, second=0, microsecond=0)
    counts = rollups.hourly_counts(session, project_id, rollups.TOTAL, start, end, environment)
    health = release_health.hourly_health(
        session, project_id, None, environment, start, end, users=False
    )
    runs = session.execute(
        select(
            DeployRun.id,
            DeployRun.created_at,
            DeployRun.kind,
            DeployRun.state,
            DeployRun.actor,
            Release.version,
        )
        .outerjoin(Release, Release.id == DeployRun.release_id)
        .where(
            DeployRun.project_id == project_id,
            DeployRun.environment == environment,
            DeployRun.created_at >= start,
            DeployRun.created_at <= end,
        )
        .order_by(DeployRun.created_at)
        .limit(MAX_MARKS)
    )
    windows = session.scalars(
        select(StabilizationWindow)
        .where(
            StabilizationWindow.project_id == project_id,
            StabilizationWindow.environment == environment,
            StabilizationWindow.ends_at > start,
            StabilizationWindow.opened_at <= end,
        )
        .order_by(StabilizationWindow.opened_at)
        .limit(MAX_MARKS)
    )
    return EnvironmentTimeline(
        environment=environment,
        start=start,
        end=end,
        counts=counts,
        crash_free=[h.rates.sessions if h.sessions else None for h in health],
        runs=[
            RunMark(run_id=run_id, at=at, kind=kind, state=state, release=version, actor=actor)
            for run_id, at, kind, state, actor, version in runs
        ],
        windows=[WindowSpan(w.release_version, w.opened_at, w.ends_at) for w in windows],
    )
