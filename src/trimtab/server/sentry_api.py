"""The part of Sentry's release API that `sentry-cli releases …` calls, so CI steps keep working.

`sentry-cli releases new|finalize|list|info|set-commits` and `releases deploys VERSION new|list`
talk to `/api/0/organizations/{org}/releases/…` (and a few `/api/0/projects/{org}/{project}/…`
twins). The org slug is the install's (`TRIMTAB_ORG`); the auth token is a trimtab API token
(`deploy` scope to write). A Sentry release belongs to the organization and lists projects; in
trimtab each project has its own release of that version, so a call acts on the release of every
named project (or every project the token reaches that has it). A deploy recorded here enters
the ledger and opens the stabilization window.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from trimtab.domain.errors import InvalidInput, NotFound
from trimtab.domain.releases import deploys, ledger, releases
from trimtab.domain.spine import projects
from trimtab.domain.spine.actors import Actor
from trimtab.server.auth import current_actor, store_of
from trimtab.store.models import Deploy, Project, Release

router = APIRouter(prefix="/api/0", tags=["sentry-compatible releases"], include_in_schema=False)


class _Loose(BaseModel):
    # sentry-cli versions send a few more fields than we use; ignore them, bound the rest.
    model_config = ConfigDict(extra="ignore")


class ReleaseNew(_Loose):
    version: str = Field(min_length=1, max_length=200)
    projects: list[str] = Field(default_factory=list, max_length=50)
    ref: str | None = Field(default=None, max_length=200)
    url: str | None = Field(default=None, max_length=500)
    dateStarted: datetime | None = None
    dateReleased: datetime | None = None


class CommitIn(_Loose):
    id: str = Field(min_length=1, max_length=64)
    repository: str | None = Field(default=None, max_length=200)
    message: str | None = Field(default=None, max_length=2000)
    author_name: str | None = Field(default=None, max_length=200)
    author_email: str | None = Field(default=None, max_length=200)
    timestamp: datetime | None = None


class RefIn(_Loose):
    repository: str = Field(min_length=1, max_length=200)
    commit: str = Field(min_length=1, max_length=200)
    previousCommit: str | None = Field(default=None, max_length=200)


class ReleaseUpdate(_Loose):
    projects: list[str] | None = Field(default=None, max_length=50)
    ref: str | None = Field(default=None, max_length=200)
    url: str | None = Field(default=None, max_length=500)
    dateReleased: datetime | None = None
    commits: list[CommitIn] | None = Field(default=None, max_length=1000)
    refs: list[RefIn] | None = Field(default=None, max_length=100)


class DeployNew(_Loose):
    environment: str = Field(min_length=1, max_length=64)
    name: str | None = Field(default=None, max_length=200)
    url: str | None = Field(default=None, max_length=500)
    dateStarted: datetime | None = None
    dateFinished: datetime | None = None
    projects: list[str] | None = Field(default=None, max_length=50)


def check_org(request: Request, org: str) -> None:
    if org != request.app.state.settings.org_slug:
        raise NotFound(f"no organization {org!r}")


def _sentry_time(value: datetime | None) -> str | None:
    """Sentry's spelling of a UTC time (`…Z`), not the API's `+00:00`."""
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def _release_json(
    session: Session, actor: Actor, version: str, found: list[tuple[Project, Release]]
) -> Any:
    first = min((r for _, r in found), key=lambda r: r.created_at)
    released = [r.finalized_at for _, r in found if r.finalized_at is not None]
    ids = [r.id for _, r in found]
    deploy_count = len(ledger.deployed_environments(session, actor, ids))
    return {
        "version": version,
        "shortVersion": version.split("@", 1)[-1],
        "ref": first.ref,
        "url": first.url,
        "dateCreated": _sentry_time(first.created_at),
        "dateReleased": _sentry_time(max(released)) if released else None,
        "dateStarted": None,
        "lastEvent": None,
        "firstEvent": None,
        "newGroups": 0,
        "commitCount": max(len(r.commits or []) for _, r in found),
        "deployCount": deploy_count,
        "lastDeploy": None,
        "authors": [],
        "owner": None,
        "status": "open",
        "data": {},
        "projects": [{"id": p.id, "slug": p.slug, "name": p.name} for p, _ in found],
    }


def _named_projects(
    session: Session, actor: Actor, names: list[str] | None, scope: str
) -> list[Project]:
    if not names:
        return [p for p in projects.list_projects(session, actor) if actor.has_scope(scope)]
    return [projects.get_project(session, actor, n, scope=scope) for n in names]


def _releases_of(
    session: Session, actor: Actor, version: str, names: list[str] | None, scope: str = "read"
) -> list[tuple[Project, Release]]:
    found = []
    for project in _named_projects(session, actor, names, scope):
        release = releases.find_release(session, project, version)
        if release is not None:
            found.append((project, release))
    if not found:
        raise NotFound(f"release {version!r} not found")
    return found


@router.post("/organizations/{org}/releases/", status_code=201)
def new_release(
    org: str, body: ReleaseNew, request: Request, actor: Actor = Depends(current_actor)
) -> Any:
    check_org(request, org)
    if not body.projects:
        raise InvalidInput("name at least one project: sentry-cli releases new -p PROJECT")
    with store_of(request).write() as session:
        found = []
        for slug in body.projects:
            project = projects.get_project(session, actor, slug, scope="deploy")
            release = releases.find_release(session, project, body.version)
            if release is None:  # Sentry answers an existing version with that release
                release = releases.create_release(
                    session, actor, slug, body.version, {}, ref=body.ref, url=body.url
                )
            if body.dateReleased is not None:
                releases.finalize_release(session, actor, release)
            found.append((project, release))
        return _release_json(session, actor, body.version, found)


@router.get("/organizations/{org}/releases/")
def list_releases(
    org: str,
    request: Request,
    project: list[str] | None = Query(default=None, max_length=50),
    per_page: int = Query(default=100, ge=1, le=500),
    actor: Actor = Depends(current_actor),
) -> Any:
    check_org(request, org)
    with store_of(request).read() as session:
        by_version: dict[str, list[tuple[Project, Release]]] = {}
        for found in _named_projects(session, actor, project, "read"):
            for release in releases.list_releases(session, actor, found.slug, per_page):
                by_version.setdefault(release.version, []).append((found, release))
        out = [_release_json(session, actor, v, found) for v, found in by_version.items()]
        out.sort(key=lambda r: r["dateCreated"], reverse=True)
        return out[:per_page]


@router.get("/projects/{org}/{project}/releases/")
def list_project_releases(
    org: str,
    project: str,
    request: Request,
    per_page: int = Query(default=100, ge=1, le=500),
    actor: Actor = Depends(current_actor),
) -> Any:
    return list_releases(org, request, [project], per_page, actor)


@router.get("/projects/{org}/{project}/releases/{version}/")
def project_release_info(
    org: str, project: str, version: str, request: Request, actor: Actor = Depends(current_actor)
) -> Any:
    check_org(request, org)
    with store_of(request).read() as session:
        return _release_json(
            session, actor, version, _releases_of(session, actor, version, [project])
        )


@router.get("/organizations/{org}/releases/{version}/")
def release_info(
    org: str, version: str, request: Request, actor: Actor = Depends(current_actor)
) -> Any:
    check_org(request, org)
    with store_of(request).read() as session:
        return _release_json(session, actor, version, _releases_of(session, actor, version, None))


def _commits(body: ReleaseUpdate) -> list[dict[str, Any]] | None:
    if body.commits is not None:
        return [
            {
                "id": c.id,
                "repository": c.repository,
                "message": (c.message or "")[:2000],
                "author": c.author_name or c.author_email,
                "timestamp": _sentry_time(c.timestamp),
            }
            for c in body.commits
        ]
    if body.refs is not None:
        return [{"id": r.commit, "repository": r.repository, "timestamp": None} for r in body.refs]
    return None


@router.put("/organizations/{org}/releases/{version}/")
def update_release(
    org: str,
    version: str,
    body: ReleaseUpdate,
    request: Request,
    actor: Actor = Depends(current_actor),
) -> Any:
    """finalize (dateReleased) and set-commits (commits or refs)."""
    check_org(request, org)
    with store_of(request).write() as session:
        found = _releases_of(session, actor, version, body.projects, scope="deploy")
        commits = _commits(body)
        for _, release in found:
            if body.dateReleased is not None:
                releases.finalize_release(session, actor, release)
            if commits is not None:
                releases.set_commits(session, actor, release, commits)
            if body.ref is not None:
                release.ref = body.ref
            if body.url is not None:
                release.url = body.url
        return _release_json(session, actor, version, found)


@router.post("/organizations/{org}/releases/{version}/deploys/", status_code=201)
def new_deploy(
    org: str,
    version: str,
    body: DeployNew,
    request: Request,
    actor: Actor = Depends(current_actor),
) -> Any:
    check_org(request, org)
    with store_of(request).write() as session:
        found = _releases_of(session, actor, version, body.projects, scope="deploy")
        rows: list[Deploy] = []
        for project, release in found:
            rows += deploys.record_external(
                session,
                actor,
                project,
                release,
                body.environment,
                started_at=body.dateStarted,
                finished_at=body.dateFinished,
                name=body.name,
            )
        first = rows[0]
        return {
            "id": str(first.id),
            "environment": first.environment,
            "name": body.name,
            "url": body.url,
            "dateStarted": _sentry_time(first.started_at),
            "dateFinished": _sentry_time(first.finished_at),
        }


@router.get("/organizations/{org}/releases/{version}/deploys/")
def list_deploys(
    org: str, version: str, request: Request, actor: Actor = Depends(current_actor)
) -> Any:
    check_org(request, org)
    with store_of(request).read() as session:
        ids = [r.id for _, r in _releases_of(session, actor, version, None)]
        rows = ledger.successful_deploys(session, actor, ids)
        return [
            {
                "id": str(d.id),
                "environment": d.environment,
                "name": f"{d.service} {d.version}",
                "url": None,
                "dateStarted": _sentry_time(d.started_at),
                "dateFinished": _sentry_time(d.finished_at),
            }
            for d in rows
        ]


@router.get("/organizations/{org}/repos/")
def list_repos(org: str, request: Request, actor: Actor = Depends(current_actor)) -> Any:
    """No repository integrations: `set-commits --local` then sends the commits it reads."""
    check_org(request, org)
    return []
