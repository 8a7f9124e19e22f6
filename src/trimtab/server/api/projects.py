"""/api/v1/projects: projects, environments and DSN keys."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from trimtab.domain.spine import keys, projects
from trimtab.domain.spine.actors import Actor
from trimtab.server.api.schemas import EnvironmentCreate, KeyCreate, ProjectCreate
from trimtab.server.auth import current_actor, store_of

router = APIRouter(tags=["projects"])


def _with_dsn(project_dict: dict[str, Any], key_dicts: list[Any]) -> dict[str, Any]:
    active = [k for k in key_dicts if k["revoked_at"] is None]
    project_dict["dsn"] = active[0]["dsn"] if active else None
    return project_dict


@router.get("/projects")
def list_projects(request: Request, actor: Actor = Depends(current_actor)) -> list[dict[str, Any]]:
    with store_of(request).read() as session:
        return [projects.project_to_dict(p) for p in projects.list_projects(session, actor)]


@router.post("/projects", status_code=201)
def create_project(
    body: ProjectCreate, request: Request, actor: Actor = Depends(current_actor)
) -> dict[str, Any]:
    settings = request.app.state.settings
    envs = tuple(body.environments) if body.environments is not None else None
    with store_of(request).write() as session:
        if envs is None:
            project = projects.create_project(session, actor, body.slug, name=body.name)
        else:
            project = projects.create_project(
                session, actor, body.slug, name=body.name, environments=envs
            )
        _, project_keys = keys.list_keys(session, actor, project.slug)
        key_dicts = [keys.key_to_dict(k, settings.public_url) for k in project_keys]
        return _with_dsn(projects.project_to_dict(project), key_dicts)


@router.get("/projects/{slug}")
def get_project(slug: str, request: Request, actor: Actor = Depends(current_actor)) -> Any:
    settings = request.app.state.settings
    with store_of(request).read() as session:
        project, project_keys = keys.list_keys(session, actor, slug)
        key_dicts = [keys.key_to_dict(k, settings.public_url) for k in project_keys]
        return _with_dsn(projects.project_to_dict(project), key_dicts)


@router.get("/projects/{slug}/environments")
def list_environments(slug: str, request: Request, actor: Actor = Depends(current_actor)) -> Any:
    with store_of(request).read() as session:
        project = projects.get_project(session, actor, slug)
        return [
            {"name": e.name, "created_at": e.created_at.isoformat()} for e in project.environments
        ]


@router.post("/projects/{slug}/environments", status_code=201)
def create_environment(
    slug: str, body: EnvironmentCreate, request: Request, actor: Actor = Depends(current_actor)
) -> dict[str, Any]:
    with store_of(request).write() as session:
        env = projects.create_environment(session, actor, slug, body.name)
        return {"project": slug, "name": env.name, "created_at": env.created_at.isoformat()}


@router.get("/projects/{slug}/keys")
def list_keys(slug: str, request: Request, actor: Actor = Depends(current_actor)) -> Any:
    settings = request.app.state.settings
    with store_of(request).read() as session:
        _, project_keys = keys.list_keys(session, actor, slug)
        return [keys.key_to_dict(k, settings.public_url) for k in project_keys]


@router.post("/projects/{slug}/keys", status_code=201)
def create_key(
    slug: str, body: KeyCreate, request: Request, actor: Actor = Depends(current_actor)
) -> dict[str, Any]:
    settings = request.app.state.settings
    with store_of(request).write() as session:
        key = keys.create_key(
            session, actor, slug, body.name, rate_limit_per_minute=body.rate_limit_per_minute
        )
        return keys.key_to_dict(key, settings.public_url)


@router.delete("/projects/{slug}/keys/{public_key}")
def revoke_key(
    slug: str, public_key: str, request: Request, actor: Actor = Depends(current_actor)
) -> dict[str, Any]:
    settings = request.app.state.settings
    with store_of(request).write() as session:
        key = keys.revoke_key(session, actor, slug, public_key[:64])
        return keys.key_to_dict(key, settings.public_url)
