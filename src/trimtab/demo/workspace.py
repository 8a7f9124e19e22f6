"""The demo workspace: the movie-booking `shop` from docs/scenario, seeded on a fresh store.

Each capability adds its part of the story as a step in `SEED_STEPS`, so a newcomer sees every
page populated. Steps run in one transaction, in order; the whole seed is skipped when the
project already exists.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from trimtab.demo.releases import seed_releases
from trimtab.domain.spine import projects
from trimtab.domain.spine.actors import Actor
from trimtab.store.models import Project

DEMO_PROJECT = "shop"
DEMO_ACTOR = Actor(kind="user", name="demo-seed", scopes=frozenset({"admin"}))


@dataclass
class SeedReport:
    created: bool
    project: str = DEMO_PROJECT
    notes: list[str] = field(default_factory=list)


def _seed_project(session: Session, report: SeedReport) -> Project:
    project = projects.create_project(
        session, DEMO_ACTOR, DEMO_PROJECT, name="Movie booking (demo)"
    )
    report.notes.append("project shop with development, staging and production")
    return project


SeedStep = Callable[[Session, Project, SeedReport], None]
# Later capabilities append their steps here (services, flags, releases, error reports).
SEED_STEPS: list[SeedStep] = [seed_releases]


def _seed_flags(session: Session, project: Project, report: SeedReport) -> None:
    from trimtab.demo.flags import seed_flags  # flag_demo refers back to SeedReport

    seed_flags(session, project, report)


SEED_STEPS.append(_seed_flags)


def _seed_dependencies(session: Session, project: Project, report: SeedReport) -> None:
    from trimtab.demo.dependencies import seed_dependencies

    seed_dependencies(session, project, report)


SEED_STEPS.append(_seed_dependencies)

# Imported here, after SeedStep exists; each capability's seed lives in its own module.
from trimtab.demo.reports import seed_error_reports  # noqa: E402

SEED_STEPS.append(seed_error_reports)


def seed(session: Session) -> SeedReport:
    existing = session.scalars(select(Project).where(Project.slug == DEMO_PROJECT)).first()
    if existing is not None:
        return SeedReport(created=False)
    report = SeedReport(created=True)
    project = _seed_project(session, report)
    for step in SEED_STEPS:
        step(session, project, report)
    return report
