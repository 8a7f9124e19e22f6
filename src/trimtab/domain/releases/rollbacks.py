"""Rollback: redeploy what ran before, dependents first, as new ledger rows pointing at what
they undo.

A rollback restores a row of the ledger: it reruns that row's recorded command (the line that
deployed the old version), or renders the service's current template for the old version when
the row has none (it was recorded by sentry-cli). Rollbacks are never refused by a window or a
freeze: undoing a bad change is what those exist to make safe.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from trimtab.core.commands import CommandError, render_command
from trimtab.core.planning import PlanningError, plan_waves, rollback_order
from trimtab.domain.errors import InvalidInput
from trimtab.domain.releases import ledger, releases, runs, services
from trimtab.domain.spine import audit, projects
from trimtab.domain.spine.actors import Actor
from trimtab.store.models import DeployRun, Project, Service


def _command(
    service: Service | None, restore_command: str | None, version: str, env: str
) -> str | None:
    if restore_command is not None:
        return restore_command
    if service is None or service.command is None:
        return None  # manual: the owning team redeploys and confirms
    try:
        return render_command(service.command, service.name, version, env)
    except CommandError as exc:
        raise InvalidInput(f"cannot roll back {service.name} to {version}: {exc}") from exc


def plan_rollback(
    session: Session,
    project: Project,
    environment: str,
    names: list[str],
    to_version: str | None = None,
) -> tuple[list[list[str]], list[runs.StepSpec], list[str]]:
    """(waves, steps, services with nothing to restore) for undoing `names` in `environment`."""
    by_name = {s.name: s for s in services.project_services(session, project)}
    specs: dict[str, runs.StepSpec] = {}
    skipped: list[str] = []
    for name in sorted(set(names)):
        now, target = ledger.rollback_target(session, project.id, environment, name, to_version)
        if now is None or target is None:
            skipped.append(name)
            continue
        specs[name] = runs.StepSpec(
            service=name,
            version=target.version,
            command=_command(by_name.get(name), target.command, target.version, environment),
            wave=0,
            release_id=target.release_id,
            release_version=target.release_version,
            rollback_of_id=now.id,
            commit=target.commit,
        )
    graph = {n: set(d) for n, d in services.graph_of(session, project).items()}
    for name in specs:
        graph.setdefault(name, set())  # a service removed since keeps its ledger
    try:
        waves = rollback_order(plan_waves(graph, specs))
    except PlanningError as exc:
        raise InvalidInput(str(exc)) from exc
    wave_of = {name: i for i, wave in enumerate(waves) for name in wave}
    steps = [
        runs.StepSpec(**{**vars(spec), "wave": wave_of[spec.service]}) for spec in specs.values()
    ]
    return waves, steps, skipped


def rollback_services(
    session: Session,
    project: Project,
    environment: str,
    names: list[str],
    *,
    actor_label: str,
    to_version: str | None = None,
) -> DeployRun:
    waves, steps, skipped = plan_rollback(session, project, environment, names, to_version)
    if not steps:
        what = f"version {to_version} of " if to_version else "an earlier version of "
        raise InvalidInput(
            f"nothing to roll back in {project.slug}/{environment}: the ledger has no "
            f"{what}{', '.join(skipped) or 'these services'} to restore"
        )
    return runs.create_run(
        session,
        project,
        environment,
        kind="rollback",
        release=None,
        waves=waves,
        steps=steps,
        actor_label=actor_label,
    )


def rollback(
    session: Session,
    actor: Actor,
    slug: str,
    environment: str,
    *,
    service: str | None = None,
    to_version: str | None = None,
    release: str | None = None,
) -> DeployRun:
    """`trimtab rollback SERVICE [--to V]` or `trimtab rollback --release R`."""
    project = projects.get_project(session, actor, slug, scope="deploy")
    env = projects.get_environment(session, project, environment)
    actor.require("deploy", project_id=project.id, environment_id=env.id)
    if (service is None) == (release is None):
        raise InvalidInput("name a SERVICE or --release R, not both")
    if release is not None:
        if to_version is not None:
            raise InvalidInput("--to goes with a SERVICE; --release restores what ran before")
        found = releases.get_release(session, project, release)
        names = []
        for name in found.services:
            now = ledger.current(session, project.id, env.name, name)
            if now is not None and now.release_id == found.id and now.rollback_of_id is None:
                names.append(name)
        if not names:
            raise InvalidInput(
                f"release {release} is not what runs in {environment} for any service"
            )
    else:
        assert service is not None
        names = [service]
    run = rollback_services(
        session, project, env.name, names, actor_label=actor.label, to_version=to_version
    )
    audit.record(
        session,
        actor,
        "deploy.rollback",
        target_type="deploy_run",
        target_id=run.id,
        project_id=project.id,
        environment=env.name,
        after={"release": release, "services": names, "to": to_version, "waves": run.waves},
    )
    return run
