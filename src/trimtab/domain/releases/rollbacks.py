"""Rollback: redeploy what ran before, dependents first, as new ledger rows pointing at what
they undo.

A rollback restores a row of the ledger: it reruns that row's recorded command (the line that
deployed the old version), or renders the service's current template for the old version when
the row has none (it was recorded by sentry-cli). Rollbacks are never refused by a window or a
freeze: undoing a bad change is what those exist to make safe.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from trimtab.domain.errors import InvalidInput
from trimtab.domain.releases import ledger, releases, runs
from trimtab.domain.spine import audit, projects
from trimtab.domain.spine.actors import Actor
from trimtab.store.models import DeployRun


def rollback(
    session: Session,
    actor: Actor,
    slug: str,
    environment: str,
    *,
    service: str | None = None,
    to_version: str | None = None,
    release: str | None = None,
    reason: str | None = None,
) -> DeployRun:
    """`trimtab rollback SERVICE [--to V]` or `trimtab rollback --release R`; `reason` goes to
    the audit entry."""
    project = projects.get_project(session, actor, slug, scope="deploy")
    env = projects.get_environment(session, project, environment, actor=actor, scope="deploy")
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
    run = runs.start_rollback_run(
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
        reason=(reason or "").strip()[:1000] or None,
    )
    return run
