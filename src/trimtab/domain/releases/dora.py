"""DORA figures for a project and environment, from the ledger through core.dora."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from trimtab.core.dora import LedgerDeploy, dora_figures
from trimtab.domain.results import Result
from trimtab.domain.spine import projects
from trimtab.domain.spine.actors import Actor
from trimtab.store.models import Deploy, Release, StabilizationWindow, utcnow

MAX_ROWS = 20_000


class DoraFigures(Result):
    """The four DORA figures of an environment over the last `days`: deployment frequency,
    lead time for changes (median, commit to deploy), change failure rate and time to restore
    (median). None where there was nothing to measure."""

    project: str
    environment: str
    days: int
    changes: int
    deploys_per_day: float
    deploys_per_week: float
    lead_time_s: float | None
    lead_time_commits: int
    failed_changes: int
    change_failure_rate: float | None
    time_to_restore_s: float | None
    restored: int
    unrestored: int


def _commit_times(release: Release | None) -> tuple[datetime, ...]:
    times = []
    for commit in (release.commits or []) if release else []:
        stamp = commit.get("timestamp")
        if isinstance(stamp, str):
            try:
                moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
            except ValueError:
                continue
            if moment.tzinfo is not None:
                times.append(moment)
    return tuple(times)


def figures(session: Session, actor: Actor, slug: str, environment: str, days: int) -> DoraFigures:
    project = projects.get_project(session, actor, slug)
    projects.get_environment(session, project, environment, actor=actor)
    end = utcnow()
    start = end - timedelta(days=days)
    rows = session.scalars(
        select(Deploy)
        .where(
            Deploy.project_id == project.id,
            Deploy.environment == environment,
            Deploy.result.in_(("success", "failed")),
            Deploy.finished_at.is_not(None),
        )
        .order_by(Deploy.finished_at.desc())
        .limit(MAX_ROWS)
    )
    releases = {
        r.id: r for r in session.scalars(select(Release).where(Release.project_id == project.id))
    }
    verdicts = {
        w.release_id: w.verdict_status
        for w in session.scalars(
            select(StabilizationWindow).where(
                StabilizationWindow.project_id == project.id,
                StabilizationWindow.environment == environment,
            )
        )
    }
    ledger = []
    for row in rows:
        assert row.finished_at is not None
        release = releases.get(row.release_id) if row.release_id else None
        ledger.append(
            LedgerDeploy(
                deployed_at=row.finished_at,
                environment=environment,
                service=row.service,
                result=row.result,
                is_rollback=row.rollback_of_id is not None,
                commit_times=() if row.rollback_of_id else _commit_times(release),
                verdict=verdicts.get(row.release_id) if row.release_id else None,
                release=row.release_version,
            )
        )
    result = dora_figures(ledger, start, end, environment)

    def seconds(value: timedelta | None) -> float | None:
        return value.total_seconds() if value is not None else None

    return DoraFigures(
        project=slug,
        environment=environment,
        days=days,
        changes=result.changes,
        deploys_per_day=round(result.per_day, 3),
        deploys_per_week=round(result.per_week, 3),
        lead_time_s=seconds(result.lead_time),
        lead_time_commits=result.lead_time_commits,
        failed_changes=result.failed_changes,
        change_failure_rate=result.change_failure_rate,
        time_to_restore_s=seconds(result.time_to_restore),
        restored=result.restored,
        unrestored=result.unrestored,
    )
