"""Releases at a glance, for the release engineer's screen: where each release went and what
its windows say, a window's verdict even before the verdict job first ran, and the hourly
error counts across a window.

Everything here reads; the verdict is computed with `verdicts.compute` exactly as the job does,
but only shown, not stored (the job stores it and sends the final one once).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from trimtab.domain.errors import NotFound
from trimtab.domain.releases import releases, verdicts
from trimtab.domain.releases.stabilization import WindowSummary, window_summary
from trimtab.domain.releases.verdicts import WindowVerdict
from trimtab.domain.reports import release_health
from trimtab.domain.spine import projects
from trimtab.domain.spine.actors import Actor
from trimtab.store import rollups
from trimtab.store.models import Deploy, Release, StabilizationWindow

# The chart shows this much before the deploy, so the rise (or its absence) has a baseline.
CHART_BEFORE = timedelta(hours=24)
MAX_CHART_HOURS = 24 * 31


@dataclass
class ReleaseRow:
    """One release in the list: where it was deployed and its latest window per environment."""

    release: Release
    deployed_to: list[str] = field(default_factory=list)
    windows: list[WindowSummary] = field(default_factory=list)


@dataclass(frozen=True)
class WindowSeries:
    """Per hour in a window's environment, from `start` (CHART_BEFORE before the deploy) to the
    window's end or now, whichever comes first: events, and the crash-free sessions of the
    window's release in percent (None for an hour without sessions)."""

    start: datetime
    deployed_at: datetime
    ends_at: datetime
    counts: list[int]
    crash_free: list[float | None]


def release_rows(session: Session, actor: Actor, slug: str, limit: int = 50) -> list[ReleaseRow]:
    """The newest releases with where they went and their latest window per environment, in
    three queries whatever the number of releases."""
    rows = [ReleaseRow(r) for r in releases.list_releases(session, actor, slug, limit)]
    by_id = {row.release.id: row for row in rows}
    if not by_id:
        return rows
    bound = projects.bound_environment(session, actor)
    reached_query = (
        select(Deploy.release_id, Deploy.environment)
        .where(Deploy.release_id.in_(by_id), Deploy.result == "success")
        .distinct()
    )
    window_query = select(StabilizationWindow).where(StabilizationWindow.release_id.in_(by_id))
    if bound is not None:
        reached_query = reached_query.where(Deploy.environment == bound)
        window_query = window_query.where(StabilizationWindow.environment == bound)
    for release_id, environment in session.execute(reached_query):
        if release_id is not None:
            by_id[release_id].deployed_to.append(environment)
    windows = session.scalars(window_query.order_by(StabilizationWindow.opened_at.desc()))
    for window in windows:
        row = by_id[window.release_id] if window.release_id is not None else None
        if row is not None and all(w.environment != window.environment for w in row.windows):
            row.windows.append(window_summary(window))
    for row in rows:
        row.deployed_to.sort()
    return rows


def _window(session: Session, actor: Actor, slug: str, window_id: int) -> StabilizationWindow:
    project = projects.get_project(session, actor, slug)
    window = session.get(StabilizationWindow, window_id)
    bound = projects.bound_environment(session, actor)
    if window is None or window.project_id != project.id or bound not in (None, window.environment):
        raise NotFound(f"project {slug!r} has no stabilization window {window_id}")
    return window


def current_verdict(
    session: Session, actor: Actor, slug: str, window_id: int, now: datetime
) -> WindowVerdict:
    """The window's verdict as of `now`: the stored one once the job computed it, else computed
    here the same way (a window opened a minute ago has no stored verdict yet)."""
    window = _window(session, actor, slug, window_id)
    if window.verdict:
        return WindowVerdict.model_validate(window.verdict)
    return WindowVerdict.model_validate(verdicts.compute(session, window, now).as_dict())


def window_series(
    session: Session, actor: Actor, slug: str, window_id: int, now: datetime
) -> WindowSeries:
    window = _window(session, actor, slug, window_id)
    start = (window.opened_at - CHART_BEFORE).replace(minute=0, second=0, microsecond=0)
    end = min(now, window.ends_at, start + timedelta(hours=MAX_CHART_HOURS))
    counts = rollups.hourly_counts(
        session, window.project_id, rollups.TOTAL, start, end, window.environment
    )
    health = release_health.hourly_health(
        session,
        window.project_id,
        window.release_version,
        window.environment,
        start,
        end,
        users=False,
    )
    return WindowSeries(
        start=start,
        deployed_at=window.opened_at,
        ends_at=window.ends_at,
        counts=counts,
        crash_free=[h.rates.sessions if h.sessions else None for h in health],
    )
