"""Run plans: the steps a run will take, before it exists.

A deploy run and a rollback run are both planned as `StepSpec`s in waves; `runs.create_run` turns
a plan into ledger rows. Rollback planning lives here, below `runs`, because a run that fails
starts its own automatic rollback (see `runs`), and the user-facing `rollbacks` use case plans the
same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from trimtab.core.commands import CommandError, render_command
from trimtab.core.planning import PlanningError, plan_waves, rollback_order
from trimtab.domain.errors import InvalidInput
from trimtab.domain.releases import ledger, services
from trimtab.store.models import Project, Service


@dataclass(frozen=True)
class StepSpec:
    """One step of a run being created."""

    service: str
    version: str
    command: str | None
    wave: int
    release_id: int | None = None
    release_version: str | None = None
    rollback_of_id: int | None = None
    commit: str | None = None


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
) -> tuple[list[list[str]], list[StepSpec], list[str]]:
    """(waves, steps, services with nothing to restore) for undoing `names` in `environment`."""
    by_name = {s.name: s for s in services.project_services(session, project)}
    specs: dict[str, StepSpec] = {}
    skipped: list[str] = []
    for name in sorted(set(names)):
        now, target = ledger.rollback_target(session, project.id, environment, name, to_version)
        if now is None or target is None:
            skipped.append(name)
            continue
        specs[name] = StepSpec(
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
    steps = [StepSpec(**{**vars(spec), "wave": wave_of[spec.service]}) for spec in specs.values()]
    return waves, steps, skipped
