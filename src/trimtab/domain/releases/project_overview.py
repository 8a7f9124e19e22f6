"""A project at a glance, per environment: what runs where, the open window or the freeze that
holds deploys, maintenance, the issues new since the last deploy there and the flags changed
lately; and, for the project, the dependencies that are failing now.

Only reads, through the functions the API answers with (`ledger.status`,
`stabilization.freeze_status`, `maintenance.status`, `audit.list_entries`,
`issues.new_since`, `rule_sets.unhealthy_dependencies`), so the page and the CLI agree. The
number of queries grows with environments and services, never with issues, events or flags.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from trimtab.domain.flags import dependencies, rule_sets
from trimtab.domain.releases import ledger, maintenance, stabilization
from trimtab.domain.releases.ledger import ServiceStatus
from trimtab.domain.releases.maintenance import MaintenanceStatus
from trimtab.domain.releases.stabilization import FreezeStatus, FreezeSummary, WindowSummary
from trimtab.domain.reports import issues
from trimtab.domain.reports.issues import NewIssues
from trimtab.domain.results import IsoTime, Result
from trimtab.domain.spine import audit, projects
from trimtab.domain.spine.actors import Actor
from trimtab.domain.spine.audit import AuditEntrySummary
from trimtab.store.models import Dependency, Project

# "Changed recently": what a release engineer coming back from a weekend wants to see.
FLAG_CHANGES_SINCE = timedelta(days=7)
FLAG_CHANGES_LISTED = 5
NEW_ISSUES_LISTED = 5


class EnvironmentOverview(Result):
    """One environment: the services running (latest successful ledger row each), when the
    last deploy finished, whether a deploy may go now and what holds it (open windows, active
    freezes), maintenance, issues new since that deploy (None before any) and flag changes."""

    name: str
    services: list[ServiceStatus]
    last_deploy_at: IsoTime | None
    deploy_allowed: bool
    refusals: list[str]
    windows: list[WindowSummary]
    freezes: list[FreezeSummary]
    maintenance: MaintenanceStatus
    new_issues: NewIssues | None
    flag_changes: list[AuditEntrySummary]


class FailingDependency(Result):
    """A dependency that is not healthy, since when and why, and the flags bound to it (which
    serve their fallback while it fails)."""

    name: str
    since: IsoTime
    reason: str
    flags: list[str]


class ProjectOverview(Result):
    slug: str
    name: str
    environments: list[EnvironmentOverview]
    failing_dependencies: list[FailingDependency]
    flag_changes_since: IsoTime


def _environment(
    session: Session,
    actor: Actor,
    project: Project,
    gate: FreezeStatus,
    running: list[ServiceStatus],
    now: datetime,
) -> EnvironmentOverview:
    name = gate.environment
    services = [s for s in running if s.environment == name]
    deployed = [s.deployed_at for s in services if s.deployed_at is not None]
    last_deploy_at = max(deployed) if deployed else None
    changes = audit.list_entries(
        session,
        project_id=project.id,
        action_prefix="flag.",
        since=now - FLAG_CHANGES_SINCE,
        environment=name,
        limit=FLAG_CHANGES_LISTED,
    )
    return EnvironmentOverview(
        name=name,
        services=services,
        last_deploy_at=last_deploy_at,
        deploy_allowed=gate.deploy_allowed,
        refusals=gate.refusals,
        windows=[w for w in gate.windows if w.environment == name],
        freezes=[
            f for f in gate.freezes if f.active and (not f.environments or name in f.environments)
        ],
        maintenance=maintenance.status(session, actor, project.slug, name),
        new_issues=None
        if last_deploy_at is None
        else issues.new_since(session, project, name, last_deploy_at, NEW_ISSUES_LISTED),
        flag_changes=[AuditEntrySummary.of(e) for e in changes],
    )


def failing_dependencies(session: Session, project: Project) -> list[FailingDependency]:
    """The dependencies flag delivery treats as failing now (`unhealthy_dependencies`: the one
    definition), with the flags bound to them."""
    names = rule_sets.unhealthy_dependencies(session, project.id)
    if not names:
        return []
    rows = session.scalars(
        select(Dependency)
        .where(Dependency.project_id == project.id, Dependency.name.in_(sorted(names)))
        .order_by(Dependency.name)
    )
    bound = dependencies.bound_flags(session, project.id)
    return [
        FailingDependency(
            name=row.name,
            since=row.state_since,
            reason=row.state_reason,
            flags=sorted({b.flag for b in bound.get(row.name, [])}),
        )
        for row in rows
    ]


def project_overview(session: Session, actor: Actor, slug: str, now: datetime) -> ProjectOverview:
    """The project's screen: every environment the actor reads (its own, when bound)."""
    project = projects.get_project(session, actor, slug)
    bound = projects.bound_environment(session, actor)
    names = [e.name for e in project.environments if bound is None or e.name == bound]
    running = ledger.status(session, actor, slug)
    gates = stabilization.freeze_statuses(session, actor, slug, names)
    return ProjectOverview(
        slug=project.slug,
        name=project.name,
        environments=[_environment(session, actor, project, g, running, now) for g in gates],
        failing_dependencies=failing_dependencies(session, project),
        flag_changes_since=now - FLAG_CHANGES_SINCE,
    )
