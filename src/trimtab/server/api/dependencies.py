"""/api/v1/projects/{slug}/dependencies…: define dependencies, read their health and history;
/api/v1/projects/{slug}/flags/{key}/guard…: guarded flags (auto-off rules)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import Field

from trimtab.domain.flags import auto_off, dependencies
from trimtab.domain.results import Deleted
from trimtab.domain.spine.actors import Actor
from trimtab.server.api.schemas import Body
from trimtab.server.auth import current_actor, store_of

router = APIRouter(tags=["dependencies"])


class DependencySettings(Body):
    probe_expected_status: int | None = Field(default=None, ge=100, le=599)
    probe_timeout_s: float | None = Field(default=None, ge=0.1, le=30)
    interval_s: int | None = Field(default=None, ge=1, le=3600)
    window_s: int | None = Field(default=None, ge=5, le=3600)
    failure_rate: float | None = Field(default=None, ge=0.01, le=1.0)
    min_calls: int | None = Field(default=None, ge=1, le=10**6)
    open_reports: int | None = Field(default=None, ge=1, le=10**6)
    max_errors: int | None = Field(default=None, ge=1, le=10**9)
    error_window_s: int | None = Field(default=None, ge=60, le=86400)
    down_after: int | None = Field(default=None, ge=1, le=100)
    up_after: int | None = Field(default=None, ge=1, le=100)

    def given(self) -> dict[str, Any]:
        return {k: v for k, v in self.model_dump().items() if v is not None and k in SETTINGS}


SETTINGS = frozenset(dependencies.SETTINGS)


class DependencyCreate(DependencySettings):
    name: str = Field(min_length=1, max_length=64)
    description: str = Field(default="", max_length=1000)
    probe_url: str | None = Field(default=None, max_length=2000)


class DependencyUpdate(DependencySettings):
    description: str | None = Field(default=None, max_length=1000)
    probe_url: str | None = Field(default=None, max_length=2000)
    clear_probe: bool = False
    clear_max_errors: bool = False


class GuardBody(Body):
    environment: str = Field(min_length=1, max_length=64)
    max_errors: int | None = Field(default=None, ge=1, le=10**9)
    window_s: int = Field(default=600, ge=60, le=7 * 86400)
    compare: bool = True
    min_errors: int = Field(default=10, ge=1, le=10**9)
    min_ratio: float = Field(default=2.0, ge=1.0, le=1000)
    alpha: float = Field(default=0.001, gt=0, le=0.1)
    active: bool = True


@router.get(
    "/projects/{slug}/dependencies",
    response_model=list[dependencies.DependencySummary],
    status_code=200,
)
def list_dependencies(
    slug: str, request: Request, actor: Actor = Depends(current_actor)
) -> list[dependencies.DependencySummary]:
    with store_of(request).read() as session:
        return dependencies.list_dependencies(session, actor, slug)


@router.post(
    "/projects/{slug}/dependencies", response_model=dependencies.DependencyView, status_code=201
)
def create_dependency(
    slug: str, body: DependencyCreate, request: Request, actor: Actor = Depends(current_actor)
) -> dependencies.DependencyView:
    with store_of(request).write() as session:
        dependency = dependencies.create_dependency(
            session,
            actor,
            slug,
            body.name,
            description=body.description,
            probe_url=body.probe_url,
            settings=body.given(),
        )
        return dependencies.dependency_view(dependency)


@router.get(
    "/projects/{slug}/dependencies/{name}",
    response_model=dependencies.DependencyDetail,
    status_code=200,
)
def show_dependency(
    slug: str, name: str, request: Request, actor: Actor = Depends(current_actor)
) -> dependencies.DependencyDetail:
    with store_of(request).read() as session:
        return dependencies.dependency_detail(session, actor, slug, name)


@router.patch(
    "/projects/{slug}/dependencies/{name}",
    response_model=dependencies.DependencyView,
    status_code=200,
)
def update_dependency(
    slug: str,
    name: str,
    body: DependencyUpdate,
    request: Request,
    actor: Actor = Depends(current_actor),
) -> dependencies.DependencyView:
    settings = body.given()
    if body.clear_max_errors:
        settings["max_errors"] = None
    with store_of(request).write() as session:
        dependency = dependencies.update_dependency(
            session,
            actor,
            slug,
            name,
            description=body.description,
            probe_url=body.probe_url,
            clear_probe=body.clear_probe,
            settings=settings,
        )
        return dependencies.dependency_view(dependency)


@router.delete("/projects/{slug}/dependencies/{name}", response_model=Deleted, status_code=200)
def delete_dependency(
    slug: str, name: str, request: Request, actor: Actor = Depends(current_actor)
) -> Deleted:
    with store_of(request).write() as session:
        return dependencies.delete_dependency(session, actor, slug, name)


@router.get("/projects/{slug}/guards", response_model=list[auto_off.AutoOffState], status_code=200)
def list_auto_off_rules(
    slug: str, request: Request, actor: Actor = Depends(current_actor)
) -> list[auto_off.AutoOffState]:
    with store_of(request).read() as session:
        return auto_off.list_auto_off_rules(session, actor, slug)


@router.put(
    "/projects/{slug}/flags/{key}/guard", response_model=auto_off.AutoOffState, status_code=200
)
def set_auto_off(
    slug: str, key: str, body: GuardBody, request: Request, actor: Actor = Depends(current_actor)
) -> auto_off.AutoOffState:
    with store_of(request).write() as session:
        guard = auto_off.set_auto_off(
            session,
            actor,
            slug,
            key,
            body.environment,
            max_errors=body.max_errors,
            window_s=body.window_s,
            compare_off=body.compare,
            min_errors=body.min_errors,
            min_ratio=body.min_ratio,
            alpha=body.alpha,
            active=body.active,
        )
        return auto_off.auto_off_state(guard, key, body.environment)


@router.delete(
    "/projects/{slug}/flags/{key}/guard", response_model=auto_off.AutoOffRemoved, status_code=200
)
def remove_auto_off(
    slug: str,
    key: str,
    request: Request,
    environment: str = Query(min_length=1, max_length=64),
    actor: Actor = Depends(current_actor),
) -> auto_off.AutoOffRemoved:
    with store_of(request).write() as session:
        return auto_off.remove_auto_off(session, actor, slug, key, environment)
