"""/api/v1/projects: projects, environments and DSN keys."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from trimtab.domain.spine import keys, projects
from trimtab.domain.spine.actors import Actor
from trimtab.domain.spine.keys import KeySummary, ProjectDetail
from trimtab.domain.spine.projects import EnvironmentCreated, EnvironmentSummary, ProjectSummary
from trimtab.server.api.schemas import EnvironmentCreate, KeyCreate, ProjectCreate, ProjectUpdate
from trimtab.server.auth import current_actor, store_of

router = APIRouter(tags=["projects"])


@router.get("/projects", status_code=200)
def list_projects(request: Request, actor: Actor = Depends(current_actor)) -> list[ProjectSummary]:
    with store_of(request).read() as session:
        return [ProjectSummary.of(p) for p in projects.list_projects(session, actor)]


@router.post("/projects", status_code=201)
def create_project(
    body: ProjectCreate, request: Request, actor: Actor = Depends(current_actor)
) -> ProjectDetail:
    settings = request.app.state.settings
    envs = tuple(body.environments) if body.environments is not None else None
    with store_of(request).write() as session:
        if envs is None:
            project = projects.create_project(session, actor, body.slug, name=body.name)
        else:
            project = projects.create_project(
                session, actor, body.slug, name=body.name, environments=envs
            )
        return keys.project_detail(session, actor, project.slug, settings.public_url)


@router.get("/projects/{slug}", status_code=200)
def get_project(
    slug: str, request: Request, actor: Actor = Depends(current_actor)
) -> ProjectDetail:
    settings = request.app.state.settings
    with store_of(request).read() as session:
        return keys.project_detail(session, actor, slug, settings.public_url)


@router.patch("/projects/{slug}", status_code=200)
def update_project(
    slug: str, body: ProjectUpdate, request: Request, actor: Actor = Depends(current_actor)
) -> ProjectDetail:
    """Project settings: `unleash_strict` refuses flags Unleash SDKs cannot serve identically."""
    settings = request.app.state.settings
    with store_of(request).write() as session:
        if body.unleash_strict is not None:
            projects.set_unleash_strict(session, actor, slug, body.unleash_strict)
        return keys.project_detail(session, actor, slug, settings.public_url)


@router.get("/projects/{slug}/environments", status_code=200)
def list_environments(
    slug: str, request: Request, actor: Actor = Depends(current_actor)
) -> list[EnvironmentSummary]:
    with store_of(request).read() as session:
        return projects.list_environments(session, actor, slug)


@router.post("/projects/{slug}/environments", status_code=201)
def create_environment(
    slug: str, body: EnvironmentCreate, request: Request, actor: Actor = Depends(current_actor)
) -> EnvironmentCreated:
    with store_of(request).write() as session:
        return projects.create_environment(session, actor, slug, body.name)


@router.get("/projects/{slug}/keys", status_code=200)
def list_keys(
    slug: str, request: Request, actor: Actor = Depends(current_actor)
) -> list[KeySummary]:
    settings = request.app.state.settings
    with store_of(request).read() as session:
        return keys.list_key_summaries(session, actor, slug, settings.public_url)


@router.post("/projects/{slug}/keys", status_code=201)
def create_key(
    slug: str, body: KeyCreate, request: Request, actor: Actor = Depends(current_actor)
) -> KeySummary:
    settings = request.app.state.settings
    with store_of(request).write() as session:
        key = keys.create_key(
            session, actor, slug, body.name, rate_limit_per_minute=body.rate_limit_per_minute
        )
        return KeySummary.of(key, settings.public_url)


@router.delete("/projects/{slug}/keys/{public_key}", status_code=200)
def revoke_key(
    slug: str, public_key: str, request: Request, actor: Actor = Depends(current_actor)
) -> KeySummary:
    settings = request.app.state.settings
    with store_of(request).write() as session:
        key = keys.revoke_key(session, actor, slug, public_key[:64])
        return KeySummary.of(key, settings.public_url)
