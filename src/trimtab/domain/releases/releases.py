"""Releases: a named set of service versions ("shop@2.3.0": billing-api 1.8.0, web-front 2.3.0)."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from trimtab.core.commands import CommandError
from trimtab.core.commands import check_name as check_command_value
from trimtab.domain.errors import Conflict, InvalidInput, NotFound
from trimtab.domain.releases import ledger, services, stabilization
from trimtab.domain.releases.ledger import LedgerEntry
from trimtab.domain.releases.stabilization import WindowSummary
from trimtab.domain.results import IsoTime, Result
from trimtab.domain.spine import audit, projects
from trimtab.domain.spine.actors import Actor
from trimtab.store.models import Project, Release, StabilizationWindow, utcnow

MAX_LIST = 500
# Sentry's rule for release names, so what sentry-cli sends is accepted and nothing odd is.
_VERSION = re.compile(r"^[^\s/\\]{1,200}$")


class ReleaseSummary(Result):
    """A release: the version of each service it names, and how many commits it carries."""

    version: str
    services: dict[str, str]
    commits: int
    created_by: str
    created_at: IsoTime
    finalized_at: IsoTime | None


class ReleaseDetail(Result):
    """A release with its commits (as sentry-cli sent them), the ledger rows that deployed it
    and its stabilization windows, newest first."""

    version: str
    services: dict[str, str]
    commits: list[dict[str, Any]]
    created_by: str
    created_at: IsoTime
    finalized_at: IsoTime | None
    ref: str | None
    deploys: list[LedgerEntry]
    windows: list[WindowSummary]


def check_version(version: str) -> str:
    if not _VERSION.match(version) or version in (".", "..") or not version.isprintable():
        raise InvalidInput(
            f"invalid release version {version!r}: 1-200 characters, no whitespace or slashes"
        )
    return version


def check_service_versions(
    session: Session, project: Project, versions: dict[str, str]
) -> dict[str, str]:
    if len(versions) > 200:
        raise InvalidInput("a release may name at most 200 services")
    for name, version in versions.items():
        services.get_service(session, project, name)
        try:
            check_command_value("version", version)
        except CommandError as exc:
            raise InvalidInput(f"service {name}: {exc}") from exc
    return dict(sorted(versions.items()))


def find_release(session: Session, project: Project, version: str) -> Release | None:
    return session.scalars(
        select(Release).where(Release.project_id == project.id, Release.version == version)
    ).first()


def get_release(session: Session, project: Project, version: str) -> Release:
    release = find_release(session, project, version)
    if release is None:
        raise NotFound(f"project {project.slug!r} has no release {version!r}")
    return release


def create_release(
    session: Session,
    actor: Actor,
    slug: str,
    version: str,
    service_versions: dict[str, str],
    *,
    commits: list[dict[str, Any]] | None = None,
    ref: str | None = None,
    url: str | None = None,
) -> Release:
    project = projects.get_project(session, actor, slug, scope="deploy")
    version = check_version(version)
    if find_release(session, project, version) is not None:
        raise Conflict(f"project {slug!r} already has release {version!r}")
    release = Release(
        project_id=project.id,
        version=version,
        services=check_service_versions(session, project, service_versions),
        commits=commits or [],
        ref=ref,
        url=url,
        created_by=actor.label,
    )
    session.add(release)
    session.flush()
    audit.record(
        session,
        actor,
        "release.create",
        target_type="release",
        target_id=version,
        project_id=project.id,
        after=release_summary(release).model_dump(mode="json"),
    )
    return release


def finalize_release(session: Session, actor: Actor, release: Release) -> None:
    if release.finalized_at is None:
        release.finalized_at = utcnow()
        audit.record(
            session,
            actor,
            "release.finalize",
            target_type="release",
            target_id=release.version,
            project_id=release.project_id,
        )


def list_releases(session: Session, actor: Actor, slug: str, limit: int = 100) -> list[Release]:
    project = projects.get_project(session, actor, slug)
    return list(
        session.scalars(
            select(Release)
            .where(Release.project_id == project.id)
            .order_by(Release.created_at.desc(), Release.id.desc())
            .limit(min(max(limit, 1), MAX_LIST))
        )
    )


def release_summary(release: Release) -> ReleaseSummary:
    return ReleaseSummary(
        version=release.version,
        services=release.services,
        commits=len(release.commits or []),
        created_by=release.created_by,
        created_at=release.created_at,
        finalized_at=release.finalized_at,
    )


def release_detail(session: Session, actor: Actor, slug: str, version: str) -> ReleaseDetail:
    """A release with its commits, where it went and its windows with their latest verdict
    (in the actor's environment only, when it is bound to one)."""
    project = projects.get_project(session, actor, slug)
    release = get_release(session, project, version)
    bound = projects.bound_environment(session, actor)
    query = select(StabilizationWindow).where(StabilizationWindow.release_id == release.id)
    if bound is not None:
        query = query.where(StabilizationWindow.environment == bound)
    windows = session.scalars(query.order_by(StabilizationWindow.opened_at.desc()))
    deploys = ledger.release_deploys(session, release)
    return ReleaseDetail(
        version=release.version,
        services=release.services,
        commits=release.commits or [],
        created_by=release.created_by,
        created_at=release.created_at,
        finalized_at=release.finalized_at,
        ref=release.ref,
        deploys=[ledger.ledger_entry(d) for d in deploys if bound in (None, d.environment)],
        windows=[stabilization.window_summary(w) for w in windows],
    )


def set_commits(
    session: Session, actor: Actor, release: Release, commits: list[dict[str, Any]]
) -> None:
    """Replace the release's commits (what `sentry-cli releases set-commits` sends)."""
    actor.require("deploy", project_id=release.project_id)
    before = len(release.commits or [])
    release.commits = commits[:1000]
    audit.record(
        session,
        actor,
        "release.set_commits",
        target_type="release",
        target_id=release.version,
        project_id=release.project_id,
        before={"commits": before},
        after={"commits": len(release.commits)},
    )
