"""Deploying a release: plan its waves, check windows and freezes, start a run; and recording a
deploy done elsewhere (sentry-cli).

A refused start raises `DeployRefused` (409, code `deploy_refused`) carrying the core's
messages. Because a raising transaction writes nothing, the caller records the refusal in a
transaction of its own with `record_refusal`, so the audit log shows refused attempts too.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from trimtab.core.commands import CommandError, render_command
from trimtab.core.planning import PlanningError, plan_waves
from trimtab.core.windows import Decision
from trimtab.domain.errors import Conflict, InvalidInput
from trimtab.domain.releases import releases, run_plans, runs, services, stabilization
from trimtab.domain.results import Result, iso
from trimtab.domain.spine import audit, notifications, projects
from trimtab.domain.spine.actors import Actor
from trimtab.store.models import Deploy, DeployRun, Environment, Project, Release, utcnow


class DeployRefused(Conflict):
    code = "deploy_refused"

    def __init__(self, decision: Decision, *, project: str, environment: str, release: str) -> None:
        super().__init__("\n".join(r.message for r in decision.refusals))
        self.decision = decision
        self.project = project
        self.environment = environment
        self.release = release


class PlannedStep(Result):
    """One step of a plan: `wave` counts from 1; no command means someone deploys by hand."""

    wave: int
    service: str
    version: str
    command: str | None
    manual: bool
    downtime: bool
    health_url: str | None


class DeployPlan(Result):
    """What `deploy start` would do now: its waves, each step, and whether it may go
    (`allowed`; `refusals` say why not)."""

    release: str
    environment: str
    waves: list[list[str]]
    steps: list[PlannedStep]
    allowed: bool
    refusals: list[str]


def _target(
    session: Session, actor: Actor, slug: str, environment: str, version: str
) -> tuple[Project, Environment, Release]:
    project = projects.get_project(session, actor, slug, scope="deploy")
    env = projects.get_environment(session, project, environment, actor=actor, scope="deploy")
    return project, env, releases.get_release(session, project, version)


def _steps(
    session: Session, project: Project, env: Environment, release: Release
) -> tuple[list[list[str]], list[run_plans.StepSpec]]:
    if not release.services:
        raise InvalidInput(
            f"release {release.version} names no services: "
            "create it with --service NAME=VERSION to deploy it through trimtab"
        )
    graph = services.graph_of(session, project)
    try:
        waves = plan_waves(graph, release.services)
    except PlanningError as exc:
        raise InvalidInput(str(exc)) from exc
    by_name = {s.name: s for s in services.project_services(session, project)}
    steps = []
    for index, wave in enumerate(waves):
        for name in wave:
            template = by_name[name].command
            version = release.services[name]
            try:
                command = render_command(template, name, version, env.name) if template else None
            except CommandError as exc:
                raise InvalidInput(f"{name}: {exc}") from exc
            steps.append(
                run_plans.StepSpec(
                    service=name,
                    version=version,
                    command=command,
                    wave=index,
                    release_id=release.id,
                    release_version=release.version,
                )
            )
    return waves, steps


def plan(session: Session, actor: Actor, slug: str, version: str, environment: str) -> DeployPlan:
    """What `deploy start` would do now: waves, each step's command, and whether it may go."""
    project, env, release = _target(session, actor, slug, environment, version)
    waves, steps = _steps(session, project, env, release)
    decision = stabilization.check_deploy(
        session, project.id, env.name, utcnow(), override=False, reason=None
    )
    by_name = {s.name: s for s in services.project_services(session, project)}
    return DeployPlan(
        release=release.version,
        environment=env.name,
        waves=waves,
        steps=[
            PlannedStep(
                wave=s.wave + 1,
                service=s.service,
                version=s.version,
                command=s.command,
                manual=s.command is None,
                downtime=by_name[s.service].downtime,
                health_url=by_name[s.service].health_url,
            )
            for s in steps
        ],
        allowed=decision.allowed,
        refusals=[r.message for r in decision.refusals],
    )


def start(
    session: Session,
    actor: Actor,
    slug: str,
    version: str,
    environment: str,
    *,
    override: bool = False,
    reason: str | None = None,
    auto_rollback: bool = False,
) -> DeployRun:
    project, env, release = _target(session, actor, slug, environment, version)
    waves, steps = _steps(session, project, env, release)
    decision = stabilization.check_deploy(
        session, project.id, env.name, utcnow(), override=override, reason=reason
    )
    if not decision.allowed:
        raise DeployRefused(decision, project=slug, environment=env.name, release=version)
    run = runs.create_run(
        session,
        project,
        env.name,
        kind="release",
        release=release,
        waves=waves,
        steps=steps,
        actor_label=actor.label,
        overridden=decision.overridden,
        reason=decision.reason,
        auto_rollback=auto_rollback,
    )
    audit.record(
        session,
        actor,
        "deploy.start",
        target_type="deploy_run",
        target_id=run.id,
        project_id=project.id,
        environment=env.name,
        after={
            "release": release.version,
            "waves": waves,
            "overrode": [r.message for r in decision.refusals],
        },
        reason=decision.reason,
        overridden=decision.overridden,
    )
    return run


def record_refusal(
    session: Session, actor: Actor, project_slug: str, refused: DeployRefused
) -> None:
    """Audit (and notify) a refused start, in its own transaction: see the module docstring."""
    project = projects.get_project(session, actor, project_slug)
    messages = [r.message for r in refused.decision.refusals]
    audit.record(
        session,
        actor,
        "deploy.refused",
        target_type="release",
        target_id=refused.release,
        project_id=project.id,
        environment=refused.environment,
        after={"release": refused.release, "refusals": messages},
    )
    notifications.notify(
        session,
        project.id,
        "deploy.refused",
        f"{project.slug}: deploy of {refused.release} to {refused.environment} refused",
        {"release": refused.release, "actor": actor.label, "refusals": messages},
        environment=refused.environment,
    )


def record_external(
    session: Session,
    actor: Actor,
    project: Project,
    release: Release,
    environment: str,
    *,
    started_at: datetime | None,
    finished_at: datetime | None,
    name: str | None = None,
) -> list[Deploy]:
    """A deploy done by someone else's tooling (sentry-cli `releases deploys new`): ledger rows
    for the release's services (or one row named after the project if it names none), and the
    stabilization window it opens."""
    env = projects.get_environment(session, project, environment, actor=actor, scope="deploy")
    finished = finished_at or utcnow()
    versions = release.services or {project.slug: release.version}
    rows = []
    for service, version in sorted(versions.items()):
        row = Deploy(
            project_id=project.id,
            environment=env.name,
            service=service,
            version=version[:200],
            actor=actor.label,
            result="success",
            started_at=started_at or finished,
            finished_at=finished,
            output_tail=f"recorded by sentry-cli{f' ({name})' if name else ''}\n",
            release_id=release.id,
            release_version=release.version,
        )
        session.add(row)
        rows.append(row)
    session.flush()
    open_now = [
        w.release_version
        for w in stabilization.open_windows(session, project.id, finished)
        if w.environment == env.name
    ]
    window = stabilization.open_window(
        session,
        project.id,
        env.name,
        release_version=release.version,
        release_id=release.id,
        services=sorted(versions),
        run_id=None,
        at=finished,
    )
    audit.record(
        session,
        actor,
        "deploy.record",
        target_type="release",
        target_id=release.version,
        project_id=project.id,
        environment=env.name,
        after={
            "deploys": [r.id for r in rows],
            "window_ends_at": iso(window.ends_at) if window else None,
            "inside_windows": open_now,
        },
    )
    return rows
