"""Dependencies (billing-api, pay-library): definitions, SDK reports, and what they look like.

A flag bound to dependencies (`fallback: {variant, dependencies}`) serves its fallback variant
while any of them is unhealthy. Health itself is decided in `domain.dependency_health`; this
module holds the definitions, takes SDK guard reports, and answers "which are failing".

Dependencies are project-wide (one billing API serves every environment). Defining a probe
makes the server send GET requests to a URL, so only admin tokens create or change them.

Each new, changed or deleted dependency, and each change of health, is announced on the change
stream as `dependencies.changed` (its name and state), so pages showing health refresh; a check
that changes no state is not news.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import Field
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from trimtab.core.names import InvalidName, check_name
from trimtab.core.urls import InvalidUrl, check_url
from trimtab.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from trimtab.domain.flags.rule_sets import bump_revision
from trimtab.domain.results import Deleted, IsoTime, Result
from trimtab.domain.spine import audit
from trimtab.domain.spine.actors import Actor
from trimtab.domain.spine.projects import get_project
from trimtab.store.db import upsert
from trimtab.store.models import (
    Dependency,
    DependencyReportBucket,
    DependencyReporter,
    DependencyTransition,
    Environment,
    Flag,
    FlagConfig,
    Project,
    utcnow,
)
from trimtab.store.models.dependencies import BREAKER_STATES, REPORT_BUCKET_S
from trimtab.store.notify import Change, announce

DEPENDENCIES_CHANGED = "dependencies.changed"
MAX_DEPENDENCIES_PER_PROJECT = 200
MAX_REPORT_COUNT = 10**9
# Breaker states per SDK instance: an instance that stops reporting for STALE_AFTER times its
# re-report interval (the SDK says it; else the SDK's default) no longer counts.
DEFAULT_REPORT_INTERVAL_S = 10.0
REPORT_INTERVAL_BOUNDS = (1.0, 600.0)
STALE_AFTER = 3
MAX_REPORTERS_PER_DEPENDENCY = 10_000
MAX_INSTANCE_ID = 64
HISTORY_LIMIT = 50


@dataclass(frozen=True)
class Bounds:
    low: float
    high: float
    integer: bool = True


# Every tunable, with the range a request may set it to.
SETTINGS: dict[str, Bounds] = {
    "probe_expected_status": Bounds(100, 599),
    "probe_timeout_s": Bounds(0.1, 30, integer=False),
    "interval_s": Bounds(1, 3600),
    "window_s": Bounds(5, 3600),
    "failure_rate": Bounds(0.01, 1.0, integer=False),
    "min_calls": Bounds(1, 10**6),
    "open_reports": Bounds(1, 10**6),
    "max_errors": Bounds(1, 10**9),
    "error_window_s": Bounds(60, 86400),
    "down_after": Bounds(1, 100),
    "up_after": Bounds(1, 100),
}


class FallbackStatus(Result):
    """Why flags bound to some dependencies serve their fallback now."""

    since: IsoTime
    dependencies: list[str]
    reasons: dict[str, str]
    message: str


def fallback_status(
    session: Session, project_id: int, dependencies: list[str] | tuple[str, ...]
) -> FallbackStatus | None:
    """Why a flag bound to `dependencies` serves its fallback now, or None when it does not;
    its message ("serving fallback since 12:03 UTC: billing-api failing") is for the flag page,
    API and CLI."""
    if not dependencies:
        return None
    rows = session.execute(
        select(Dependency.name, Dependency.state_since, Dependency.state_reason).where(
            Dependency.project_id == project_id,
            Dependency.name.in_(list(dependencies)),
            Dependency.state == "unhealthy",
        )
    )
    return _fallback_of({row.name: (row.state_since, row.state_reason) for row in rows})


def _fallback_of(failing: dict[str, tuple[datetime, str]]) -> FallbackStatus | None:
    """The fallback status from the failing dependencies a flag is bound to: name -> (since,
    reason)."""
    if not failing:
        return None
    since = min(at for at, _ in failing.values())
    names = sorted(failing)
    return FallbackStatus(
        since=since,
        dependencies=names,
        reasons={name: reason for name, (_, reason) in failing.items()},
        message=f"serving fallback since {since:%H:%M} UTC: {', '.join(names)} failing",
    )


# --- definitions -----------------------------------------------------------------------------


def _name(value: str) -> str:
    try:
        return check_name(value, "dependency name")
    except InvalidName as exc:
        raise InvalidInput(str(exc)) from exc


def _probe_url(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    try:
        return check_url(value, "probe_url")
    except InvalidUrl as exc:
        raise InvalidInput(str(exc)) from None


def _apply_settings(dependency: Dependency, values: dict[str, Any]) -> None:
    for field, value in values.items():
        if field not in SETTINGS:
            raise InvalidInput(f"unknown dependency setting {field!r}")
        bounds = SETTINGS[field]
        if value is None:
            if field != "max_errors":
                raise InvalidInput(f"{field} cannot be empty")
            dependency.max_errors = None
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidInput(f"{field} must be a number")
        if not (math.isfinite(value) and bounds.low <= value <= bounds.high):
            raise InvalidInput(f"{field} must be from {bounds.low:g} to {bounds.high:g}")
        if bounds.integer and value != int(value):
            raise InvalidInput(f"{field} must be a whole number")
        setattr(dependency, field, int(value) if bounds.integer else float(value))


def get_dependency(session: Session, project: Project, name: str) -> Dependency:
    found = session.scalars(
        select(Dependency).where(Dependency.project_id == project.id, Dependency.name == name)
    ).first()
    if found is None:
        raise NotFound(f"project {project.slug!r} has no dependency {name!r}")
    return found


def create_dependency(
    session: Session,
    actor: Actor,
    project_slug: str,
    name: str,
    *,
    description: str = "",
    probe_url: str | None = None,
    settings: dict[str, Any] | None = None,
) -> Dependency:
    project = get_project(session, actor, project_slug, scope="admin")
    name = _name(name)
    if session.scalars(
        select(Dependency.id).where(Dependency.project_id == project.id, Dependency.name == name)
    ).first():
        raise Conflict(f"project {project.slug!r} already has dependency {name!r}")
    _check_room(session, project.id)
    dependency = Dependency(
        project_id=project.id,
        name=name,
        description=description[:1000],
        probe_url=_probe_url(probe_url),
        created_by=actor.label,
    )
    _defaults(dependency)
    _apply_settings(dependency, settings or {})
    session.add(dependency)
    session.flush()
    audit.record(
        session,
        actor,
        "dependency.create",
        target_type="dependency",
        target_id=name,
        project_id=project.id,
        after=dependency_view(dependency).model_dump(mode="json"),
    )
    announce_change(session, project.id, name, dependency.state)
    return dependency


def update_dependency(
    session: Session,
    actor: Actor,
    project_slug: str,
    name: str,
    *,
    description: str | None = None,
    probe_url: str | None = None,
    clear_probe: bool = False,
    settings: dict[str, Any] | None = None,
) -> Dependency:
    project = get_project(session, actor, project_slug, scope="admin")
    dependency = get_dependency(session, project, name)
    before = dependency_view(dependency).model_dump(mode="json")
    if description is not None:
        dependency.description = description[:1000]
    if clear_probe:
        dependency.probe_url = None
    elif probe_url is not None:
        dependency.probe_url = _probe_url(probe_url)
    _apply_settings(dependency, settings or {})
    dependency.next_check_at = utcnow()
    audit.record(
        session,
        actor,
        "dependency.update",
        target_type="dependency",
        target_id=name,
        project_id=project.id,
        before=before,
        after=dependency_view(dependency).model_dump(mode="json"),
    )
    announce_change(session, project.id, name, dependency.state)
    return dependency


def delete_dependency(session: Session, actor: Actor, project_slug: str, name: str) -> Deleted:
    project = get_project(session, actor, project_slug, scope="admin")
    dependency = get_dependency(session, project, name)
    was_unhealthy = dependency.state == "unhealthy"
    before = dependency_view(dependency).model_dump(mode="json")
    session.delete(dependency)
    session.flush()
    audit.record(
        session,
        actor,
        "dependency.delete",
        target_type="dependency",
        target_id=name,
        project_id=project.id,
        before=before,
    )
    if was_unhealthy:  # its bound flags stop serving the fallback
        bump_revision(session, project.id, None, f"dependency {name} deleted")
    announce_change(session, project.id, name, None)
    return Deleted(deleted=name)


def announce_change(session: Session, project_id: int, name: str, state: str | None) -> None:
    """`dependencies.changed` once the transaction commits (state None: deleted)."""
    data = {"dependency": name, "state": state}
    announce(session, Change(DEPENDENCIES_CHANGED, project_id, data=data))


def _defaults(dependency: Dependency) -> None:
    # Column defaults apply at INSERT; views of a new row need them before the flush.
    for column in Dependency.__table__.columns:
        if getattr(dependency, column.key) is None and column.default is not None:
            arg = column.default.arg  # type: ignore[attr-defined]
            if not callable(arg):
                setattr(dependency, column.key, arg)
    dependency.state_since = dependency.state_since or utcnow()
    dependency.next_check_at = dependency.next_check_at or utcnow()


def _check_room(session: Session, project_id: int) -> None:
    count = session.scalar(
        select(func.count()).select_from(Dependency).where(Dependency.project_id == project_id)
    )
    if (count or 0) >= MAX_DEPENDENCIES_PER_PROJECT:
        raise InvalidInput(f"a project has at most {MAX_DEPENDENCIES_PER_PROJECT} dependencies")


# --- SDK reports -----------------------------------------------------------------------------


def bucket_of(moment: datetime) -> datetime:
    second = moment.second - moment.second % REPORT_BUCKET_S
    return moment.replace(second=second, microsecond=0)


def record_report(
    session: Session,
    actor: Actor,
    name: str,
    *,
    successes: int,
    failures: int,
    timeouts: int,
    state: str,
    instance: str | None = None,
    interval_s: float | None = None,
    now: datetime | None = None,
) -> Dependency:
    """Add one SDK guard report (an sdk-server token, bound to project and environment).

    `instance` names the SDK client that reports (one per process) and `interval_s` how often
    it re-reports an open breaker: its breaker state is kept per (token, instance) until the
    same instance reports again (`open_reporters`).

    An unknown dependency is registered on its first report, as Unleash registers apps: the
    name comes from the application's code, and a flag may already be bound to it.
    """
    if "sdk-server" not in actor.scopes or actor.project_id is None:
        raise Forbidden("dependency reports need an sdk-server token bound to a project")
    if actor.environment_id is None:
        raise Forbidden("dependency reports need a token bound to an environment")
    name = _name(name)
    if state not in BREAKER_STATES:
        raise InvalidInput(f"state must be one of {', '.join(BREAKER_STATES)}")
    for field, value in (("successes", successes), ("failures", failures), ("timeouts", timeouts)):
        if not 0 <= value <= MAX_REPORT_COUNT:
            raise InvalidInput(f"{field} must be from 0 to {MAX_REPORT_COUNT}")
    if instance is not None and not (
        0 < len(instance) <= MAX_INSTANCE_ID and instance.isprintable()
    ):
        raise InvalidInput(f"instance must be 1 to {MAX_INSTANCE_ID} printable characters")
    low, high = REPORT_INTERVAL_BOUNDS
    if interval_s is not None and not (math.isfinite(interval_s) and interval_s > 0):
        raise InvalidInput("interval_s must be a positive number of seconds")
    interval = min(max(interval_s or DEFAULT_REPORT_INTERVAL_S, low), high)
    now = now or utcnow()
    dependency = session.scalars(
        select(Dependency).where(Dependency.project_id == actor.project_id, Dependency.name == name)
    ).first()
    if dependency is None:
        _check_room(session, actor.project_id)
        dependency = Dependency(
            project_id=actor.project_id,
            name=name,
            description="registered by an SDK guard report",
            created_by=actor.label,
        )
        _defaults(dependency)
        session.add(dependency)
        session.flush()
        announce_change(session, actor.project_id, name, dependency.state)
    environment = session.get(Environment, actor.environment_id)
    assert environment is not None  # the token's foreign key guarantees it
    values = {
        "dependency_id": dependency.id,
        "environment": environment.name,
        "bucket": bucket_of(now),
        "successes": successes,
        "failures": failures,
        "timeouts": timeouts,
        "open_reports": 1 if state == "open" else 0,
        "reports": 1,
    }
    statement = upsert(session, DependencyReportBucket).values(**values)
    table = DependencyReportBucket
    statement = statement.on_conflict_do_update(
        index_elements=["dependency_id", "environment", "bucket"],
        set_={
            "successes": table.successes + statement.excluded.successes,
            "failures": table.failures + statement.excluded.failures,
            "timeouts": table.timeouts + statement.excluded.timeouts,
            "open_reports": table.open_reports + statement.excluded.open_reports,
            "reports": table.reports + statement.excluded.reports,
        },
    )
    session.execute(statement)
    token = actor.token_id if actor.token_id is not None else actor.label
    reporter = f"token:{token}/{instance or '-'}"[:200]
    _record_breaker(session, dependency.id, environment.name, reporter, state, interval, now)
    # An open breaker while healthy, or a closed one while unhealthy, is news: check at the
    # next tick.
    news = (state == "open") == (dependency.state == "healthy")
    if news and state != "half_open" and dependency.next_check_at > now:
        dependency.next_check_at = now
    return dependency


def _record_breaker(
    session: Session,
    dependency_id: int,
    environment: str,
    reporter: str,
    state: str,
    interval_s: float,
    now: datetime,
) -> None:
    table = DependencyReporter
    known = session.scalar(
        select(table.id).where(
            table.dependency_id == dependency_id,
            table.environment == environment,
            table.reporter == reporter,
        )
    )
    if known is None:
        mine = table.dependency_id == dependency_id
        count = session.scalar(select(func.count()).select_from(table).where(mine))
        if (count or 0) >= MAX_REPORTERS_PER_DEPENDENCY:
            # Short-lived processes come and go: forget those past any staleness first.
            quiet = now - timedelta(seconds=STALE_AFTER * REPORT_INTERVAL_BOUNDS[1])
            session.execute(delete(table).where(mine, table.last_report_at < quiet))
            count = session.scalar(select(func.count()).select_from(table).where(mine))
        if (count or 0) >= MAX_REPORTERS_PER_DEPENDENCY:
            raise InvalidInput(
                f"more than {MAX_REPORTERS_PER_DEPENDENCY} SDK instances report this dependency"
            )
    values = {"state": state, "interval_s": interval_s, "last_report_at": now}
    statement = upsert(session, table).values(
        dependency_id=dependency_id, environment=environment, reporter=reporter, **values
    )
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["dependency_id", "environment", "reporter"], set_=values
        )
    )


def open_reporters(session: Session, dependency_id: int, now: datetime) -> int:
    """SDK instances whose breaker for the dependency is open now: their latest report said
    open (or half-open: trying, not recovered), and they have reported within STALE_AFTER of
    their re-report interval. Whatever the dependency's window: an open breaker is re-reported
    every interval, and stays visible between two re-reports."""
    table = DependencyReporter
    horizon = now - timedelta(seconds=STALE_AFTER * REPORT_INTERVAL_BOUNDS[1])
    rows = session.execute(
        select(table.interval_s, table.last_report_at).where(
            table.dependency_id == dependency_id,
            table.state != "closed",
            table.last_report_at >= horizon,
        )
    )
    return sum(
        1
        for interval_s, last_report_at in rows
        if now - last_report_at <= timedelta(seconds=STALE_AFTER * interval_s)
    )


class ReportTotals(Result):
    """What SDK guards reported for one dependency over a window, summed."""

    successes: int
    failures: int
    timeouts: int
    open_reports: int
    reports: int


def report_totals(session: Session, dependency_id: int, since: datetime) -> ReportTotals:
    """Summed SDK reports for one dependency from `since` (bucket granularity: 5 s)."""
    table = DependencyReportBucket
    row = session.execute(
        select(
            func.coalesce(func.sum(table.successes), 0),
            func.coalesce(func.sum(table.failures), 0),
            func.coalesce(func.sum(table.timeouts), 0),
            func.coalesce(func.sum(table.open_reports), 0),
            func.coalesce(func.sum(table.reports), 0),
        ).where(table.dependency_id == dependency_id, table.bucket >= bucket_of(since))
    ).one()
    successes, failures, timeouts, open_reports, reports = (int(value) for value in row)
    return ReportTotals(
        successes=successes,
        failures=failures,
        timeouts=timeouts,
        open_reports=open_reports,
        reports=reports,
    )


def prune_reports(session: Session, before: datetime) -> None:
    session.execute(delete(DependencyReportBucket).where(DependencyReportBucket.bucket < before))
    session.execute(delete(DependencyReporter).where(DependencyReporter.last_report_at < before))


# --- views -----------------------------------------------------------------------------------


class BoundFlag(Result):
    """A flag config bound to dependencies: it serves `fallback_variant` while one fails."""

    flag: str
    environment: str
    enabled: bool
    fallback_variant: str
    dependencies: list[str]


class BoundFlagStatus(BoundFlag):
    """A bound flag and what it serves now: `off`, `fallback` or `normal`."""

    serving: str
    fallback_status: FallbackStatus | None


class DependencyView(Result):
    """A dependency's definition, settings and health (what create and update answer)."""

    name: str
    description: str
    state: str
    state_since: IsoTime
    state_reason: str
    probe_url: str | None
    probe_expected_status: int
    probe_timeout_s: float
    interval_s: int
    window_s: int
    failure_rate: float
    min_calls: int
    open_reports: int
    max_errors: int | None
    error_window_s: int
    down_after: int
    up_after: int
    last_checked_at: IsoTime | None
    created_by: str


class DependencySummary(DependencyView):
    """A dependency in the list, with the keys of the flags bound to it."""

    flags: list[str]


class HealthTransition(Result):
    """A dependency turning unhealthy or healthy (sent as `from` / `to`)."""

    from_state: str = Field(serialization_alias="from")
    to_state: str = Field(serialization_alias="to")
    at: IsoTime
    reason: str
    signals: dict[str, Any]


class DependencyDetail(DependencyView):
    """One dependency: `signals` of its last check (probe, sdk, errors, bad: whichever it
    had), SDK reports in its window, the flags bound to it and its recent transitions."""

    signals: dict[str, Any]
    reports: ReportTotals
    flags: list[BoundFlagStatus]
    history: list[HealthTransition]


def bound_flags(session: Session, project_id: int) -> dict[str, list[BoundFlag]]:
    """dependency name -> the flag configs bound to it."""
    rows = session.execute(
        select(Flag.key, Environment.name, FlagConfig.enabled, FlagConfig.fallback)
        .join(FlagConfig, FlagConfig.flag_id == Flag.id)
        .join(Environment, Environment.id == FlagConfig.environment_id)
        .where(
            Flag.project_id == project_id,
            Flag.archived_at.is_(None),
            FlagConfig.fallback.is_not(None),
        )
        .order_by(Flag.key, Environment.name)
    )
    bound: dict[str, list[BoundFlag]] = {}
    for key, environment, enabled, fallback in rows:
        for name in (fallback or {}).get("dependencies") or []:
            bound.setdefault(name, []).append(
                BoundFlag(
                    flag=key,
                    environment=environment,
                    enabled=enabled,
                    fallback_variant=fallback.get("variant"),
                    dependencies=list(fallback.get("dependencies") or []),
                )
            )
    return bound


def _with_status(item: BoundFlag, status: FallbackStatus | None) -> BoundFlagStatus:
    serving = "off" if not item.enabled else ("fallback" if status else "normal")
    return BoundFlagStatus(**dict(item), serving=serving, fallback_status=status)


def dependency_view(dependency: Dependency) -> DependencyView:
    return DependencyView(**_view_fields(dependency))


def _view_fields(dependency: Dependency) -> dict[str, Any]:
    return {
        "name": dependency.name,
        "description": dependency.description,
        "state": dependency.state,
        "state_since": dependency.state_since,
        "state_reason": dependency.state_reason,
        "probe_url": dependency.probe_url,
        **{field: getattr(dependency, field) for field in SETTINGS},
        "last_checked_at": dependency.last_checked_at,
        "created_by": dependency.created_by,
    }


def list_dependencies(session: Session, actor: Actor, project_slug: str) -> list[DependencySummary]:
    project = get_project(session, actor, project_slug)
    bound = bound_flags(session, project.id)
    rows = session.scalars(
        select(Dependency).where(Dependency.project_id == project.id).order_by(Dependency.name)
    )
    return [
        DependencySummary(
            **_view_fields(row), flags=sorted({b.flag for b in bound.get(row.name, [])})
        )
        for row in rows
    ]


def dependency_detail(
    session: Session, actor: Actor, project_slug: str, name: str, now: datetime | None = None
) -> DependencyDetail:
    """One dependency: settings, state, the last check's signals, SDK reports in its window,
    the flags bound to it (with what they serve now) and its recent transitions."""
    project = get_project(session, actor, project_slug)
    dependency = get_dependency(session, project, name)
    now = now or utcnow()
    transitions = session.scalars(
        select(DependencyTransition)
        .where(DependencyTransition.dependency_id == dependency.id)
        .order_by(DependencyTransition.at.desc(), DependencyTransition.id.desc())
        .limit(HISTORY_LIMIT)
    )
    flags = []
    for item in bound_flags(session, project.id).get(name, []):
        flags.append(_with_status(item, fallback_status(session, project.id, item.dependencies)))
    return DependencyDetail(
        **_view_fields(dependency),
        signals=dependency.last_signals,
        reports=report_totals(session, dependency.id, now - timedelta(seconds=dependency.window_s)),
        flags=flags,
        history=[
            HealthTransition(
                from_state=t.from_state,
                to_state=t.to_state,
                at=t.at,
                reason=t.reason,
                signals=t.signals,
            )
            for t in transitions
        ],
    )


class DependencyHealth(DependencyView):
    """A dependency as the services page lists it: its health, the result of its last probe
    (None without a probe or before the first check), and the flags bound to it with what
    each serves now."""

    probe: dict[str, Any] | None
    flags: list[BoundFlagStatus]


def list_dependency_health(
    session: Session, actor: Actor, project_slug: str
) -> list[DependencyHealth]:
    """Every dependency of the project with its bound flags' state, in three queries (what
    `dependency_detail` answers for one, without the history)."""
    project = get_project(session, actor, project_slug)
    rows = list(
        session.scalars(
            select(Dependency).where(Dependency.project_id == project.id).order_by(Dependency.name)
        )
    )
    failing = {
        row.name: (row.state_since, row.state_reason) for row in rows if row.state == "unhealthy"
    }
    bound = bound_flags(session, project.id)
    listed = []
    for row in rows:
        flags = []
        for item in bound.get(row.name, []):
            status = _fallback_of({n: failing[n] for n in item.dependencies if n in failing})
            flags.append(_with_status(item, status))
        probe = (row.last_signals or {}).get("probe")
        listed.append(
            DependencyHealth(
                **_view_fields(row), probe=probe if isinstance(probe, dict) else None, flags=flags
            )
        )
    return listed


class ReporterState(Result):
    """The breaker state one SDK instance last reported for a dependency; `counts` is whether
    it still counts (it reported within three of its re-report intervals)."""

    environment: str
    reporter: str
    state: str
    interval_s: float
    last_report_at: IsoTime
    counts: bool


def reporter_states(
    session: Session, actor: Actor, project_slug: str, name: str, now: datetime | None = None
) -> list[ReporterState]:
    """The SDK instances reporting a dependency, latest report first (at most HISTORY_LIMIT)."""
    project = get_project(session, actor, project_slug)
    dependency = get_dependency(session, project, name)
    now = now or utcnow()
    table = DependencyReporter
    rows = session.scalars(
        select(table)
        .where(table.dependency_id == dependency.id)
        .order_by(table.last_report_at.desc(), table.id.desc())
        .limit(HISTORY_LIMIT)
    )
    return [
        ReporterState(
            environment=row.environment,
            reporter=row.reporter,
            state=row.state,
            interval_s=row.interval_s,
            last_report_at=row.last_report_at,
            counts=now - row.last_report_at <= timedelta(seconds=STALE_AFTER * row.interval_s),
        )
        for row in rows
    ]
