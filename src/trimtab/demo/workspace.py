"""The demo workspace: the movie-booking `shop` from docs/scenario, seeded on a fresh store.

Each capability adds its part of the story as a step in `SEED_STEPS`, so a newcomer sees every
page populated. Steps run in one transaction, in order; the whole seed is skipped when the
project already exists.

What marks the demo is who made it: the audit log's `project.create` entry of the seeded
project names `DEMO_ACTOR` (a dashboard user no login can be), so `demo_dsn` tells the seeded
`shop` from a project someone named shop (the audit log is never pruned).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from trimtab.demo.common import DEMO_ACTOR, DEMO_PROJECT, SeedReport
from trimtab.demo.dependencies import seed_dependencies
from trimtab.demo.flags import seed_flags
from trimtab.demo.releases import seed_releases
from trimtab.demo.reports import seed_error_reports
from trimtab.domain.spine import keys, projects
from trimtab.domain.spine.actors import SYSTEM
from trimtab.store.models import AuditEntry, Project


def _seed_project(session: Session, report: SeedReport) -> Project:
    project = projects.create_project(
        session, DEMO_ACTOR, DEMO_PROJECT, name="Movie booking (demo)"
    )
    report.notes.append("project shop with development, staging and production")
    return project


SeedStep = Callable[[Session, Project, SeedReport], None]
# In story order: services and releases, flags, the dependencies the payment flag is bound to,
# then the error reports that refer to all of them.
SEED_STEPS: list[SeedStep] = [seed_releases, seed_flags, seed_dependencies, seed_error_reports]


def seed(session: Session) -> SeedReport:
    existing = session.scalars(select(Project).where(Project.slug == DEMO_PROJECT)).first()
    if existing is not None:
        return SeedReport(created=False)
    report = SeedReport(created=True)
    project = _seed_project(session, report)
    for step in SEED_STEPS:
        step(session, project, report)
    return report


def demo_dsn(session: Session, public_url: str) -> str | None:
    """The DSN of the demo project, when this store has the one `trimtab demo seed` made (see
    the module doc); None without it, or for a `shop` that is not the demo."""
    project = session.scalars(select(Project).where(Project.slug == DEMO_PROJECT)).first()
    if project is None:
        return None
    seeded = session.scalars(
        select(AuditEntry.id).where(
            AuditEntry.project_id == project.id,
            AuditEntry.action == "project.create",
            AuditEntry.actor == DEMO_ACTOR.label,
        )
    ).first()
    if seeded is None:
        return None
    return keys.project_detail(session, SYSTEM, DEMO_PROJECT, public_url).dsn
