"""The window verdict, computed from the store with core.verdict and kept on the window.

Error rates come from the rollups (dimension `total` for the window's environment), in whole
hours: the baseline is up to 7 days before the deploy's hour (never before the project
existed, so an empty past is not taken for a calm one), the window runs from the first full hour
after the deploy. Issues are the project's issues seen in the window's environment since the
deploy, with how many events each had there in the window. At the end of the window the final
verdict goes to the notification outbox (`release.verdict`) once.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from trimtab.core.verdict import IssueFacts, Relation, Status, Verdict, compute_verdict
from trimtab.domain.reports import issues, release_health
from trimtab.domain.results import Result
from trimtab.domain.spine import notifications
from trimtab.store import rollups
from trimtab.store.models import Issue, Project, StabilizationWindow, utcnow

BASELINE = timedelta(days=7)
MAX_ISSUES = 500
HOUR = timedelta(hours=1)


# The verdict as the API shows it, mirroring core.verdict's dataclasses (the core stays free of
# Pydantic). Times stay the ISO text the verdict was stored with.
class VerdictIssue(Result):
    """An issue and how it relates to the deploy (`relation`); `note` says when it appeared."""

    id: str
    title: str
    relation: Relation
    first_seen: str = Field(description="ISO time")
    first_release: str | None
    events: int
    note: str


class VerdictFigures(Result):
    """The figures behind a verdict. Rates are events per hour; crash-free rates are 0..1."""

    hours_before: int
    hours_after: int
    events_before: int
    events_after: int
    events_per_hour_before: float | None
    events_per_hour_after: float | None
    ratio: float | None
    p_value: float | None
    crash_free_before: float | None
    crash_free_after: float | None
    new_issues: list[VerdictIssue]
    regressed_issues: list[VerdictIssue]
    cleared_issues: list[VerdictIssue]
    other_issues: list[VerdictIssue]


class WindowVerdict(Result):
    """A window's latest verdict as stored on it (`core.verdict.Verdict.as_dict()`)."""

    release: str
    status: Status
    final: bool
    numbers: VerdictFigures
    reasons: list[str]


def _floor_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def _ceil_hour(moment: datetime) -> datetime:
    floor = _floor_hour(moment)
    return floor if floor == moment else floor + HOUR


def _issues(
    session: Session, project_id: int, environment: str, since: datetime, until: datetime
) -> list[IssueFacts]:
    # The issues seen in the window's environment since the deploy (by that environment's
    # line): an issue of staging alone says nothing of a production deploy, and the window's
    # verdict is read by tokens bound to its environment.
    line, on = issues.environment_line(environment)
    rows = session.execute(
        select(Issue, line.count)
        .join(line, on)
        # The issue's own last_seen is never earlier than a line's: the index narrows first.
        .where(Issue.project_id == project_id, Issue.last_seen >= since, line.last_seen >= since)
        .order_by(line.last_seen.desc())
        .limit(MAX_ISSUES)
    )
    facts = []
    for issue, seen_here in rows:
        events = rollups.count_between(
            session, project_id, rollups.issue(issue.id), since, until, environment
        )
        if events == 0 and issue.first_seen >= since:
            events = int(seen_here)  # ingest without per-issue rollups
        facts.append(
            IssueFacts(
                id=str(issue.id),
                title=issue.title,
                first_seen=issue.first_seen,
                first_release=issue.first_release,
                events=events,
                regressed_in=issue.regressed_in_release,
                regressed_at=issue.regressed_at,
            )
        )
    return facts


def _fraction(percent: float | None) -> float | None:
    """Release health speaks percentages (99.5); the verdict core takes fractions (0.995)."""
    return None if percent is None else percent / 100.0


def compute(session: Session, window: StabilizationWindow, now: datetime) -> Verdict:
    project = session.get(Project, window.project_id)
    assert project is not None
    deployed_at = window.opened_at
    env = window.environment
    base_end = _floor_hour(deployed_at)
    base_start = max(base_end - BASELINE, _ceil_hour(project.created_at))
    before = (
        rollups.hourly_counts(session, project.id, rollups.TOTAL, base_start, base_end, env)
        if base_start < base_end
        else []
    )
    after_start = _ceil_hour(deployed_at)
    after_end = max(after_start, _floor_hour(min(now, window.ends_at)))
    after = (
        rollups.hourly_counts(session, project.id, rollups.TOTAL, after_start, after_end, env)
        if after_start < after_end
        else []
    )
    # Crash-free sessions where the SDKs send sessions: the baseline period against everything
    # since the deploy in that environment (None on either side when nothing was counted).
    crash_free_before = _fraction(
        release_health.crash_free_between(session, project.id, env, base_start, base_end).sessions
    )
    crash_free_after = _fraction(
        release_health.crash_free_between(
            session, project.id, env, deployed_at, min(now, window.ends_at)
        ).sessions
    )
    return compute_verdict(
        release=window.release_version,
        deployed_at=deployed_at,
        window_start=window.opened_at,
        window_end=window.ends_at,
        now=now,
        hourly_before=before,
        hourly_after=after,
        issues=_issues(session, project.id, env, deployed_at, min(now, window.ends_at)),
        crash_free_before=crash_free_before,
        crash_free_after=crash_free_after,
    )


def update_window(session: Session, window: StabilizationWindow, now: datetime) -> Verdict:
    """Store the latest verdict; send the final one to the outbox once."""
    verdict = compute(session, window, now)
    window.verdict = verdict.as_dict()
    window.verdict_status = verdict.status
    window.verdict_at = now
    if verdict.final and window.final_at is None:
        window.final_at = now
        project = session.get(Project, window.project_id)
        assert project is not None
        notifications.notify(
            session,
            window.project_id,
            "release.verdict",
            f"{project.slug}: {window.release_version} in {window.environment} is "
            f"{verdict.status} after its stabilization window",
            {"window_id": window.id, **verdict.as_dict()},
            environment=window.environment,
        )
    return verdict


def pending_windows(session: Session, now: datetime) -> list[StabilizationWindow]:
    """Windows whose final verdict is not out yet."""
    return list(
        session.scalars(
            select(StabilizationWindow)
            .where(StabilizationWindow.final_at.is_(None), StabilizationWindow.opened_at <= now)
            .order_by(StabilizationWindow.id)
        )
    )


def update_all(session: Session, now: datetime | None = None) -> int:
    now = now or utcnow()
    windows = pending_windows(session, now)
    for window in windows:
        update_window(session, window, now)
    return len(windows)
