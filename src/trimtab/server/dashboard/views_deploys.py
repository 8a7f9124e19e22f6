"""Dashboard pages for deploys: the ledger (filtered by service and environment), the deploy
agents, and one deploy run: its waves and steps with state, output and the agent running each,
live while it runs, and the actions on it — confirm a manual step, cancel, roll back.

Each action is a POST form carrying the session's CSRF token and calls the same domain function
as the API (`runs.confirm_step`, `runs.cancel_run`, `rollbacks.rollback`), so scope checks,
environment rules and audit entries are the API's. Live progress: a page of an active run
reloads itself every few seconds without JavaScript (`<noscript>` meta refresh); with
JavaScript, static/live.js swaps in only the steps so a half-typed reason is not lost.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from trimtab.domain.errors import InvalidInput
from trimtab.domain.releases import agents, ledger, rollbacks, runs, services
from trimtab.domain.spine import projects
from trimtab.domain.spine.actors import Actor
from trimtab.server.api.schemas import RowId
from trimtab.server.auth import agent_lease_of
from trimtab.server.dashboard import pages, release_view

router = APIRouter(include_in_schema=False)

REFRESH_SECONDS = 3
LEDGER_ROWS = 200


def _run_url(slug: str, run_id: int) -> str:
    return f"/projects/{slug}/deploys/{run_id}"


@router.get("/projects/{slug}/deploys", response_class=HTMLResponse)
def ledger_page(
    request: Request,
    slug: str,
    service: str | None = Query(default=None, max_length=64),
    environment: str | None = Query(default=None, max_length=64),
) -> Response:
    """The version ledger, newest first: `trimtab history` with its filters."""

    def read(session: Session, actor: Actor) -> dict[str, Any]:
        project, known = services.list_services(session, actor, slug)
        rows = ledger.history(
            session,
            actor,
            slug,
            service=service or None,
            environment=environment or None,
            limit=LEDGER_ROWS,
        )
        return {
            "project": project,
            "rows": [ledger.ledger_entry(r) for r in rows],
            "services": [s.name for s in known],
            "environments": [e.name for e in project.environments],
            "filters": {"service": service or "", "environment": environment or ""},
            "limit": LEDGER_ROWS,
        }

    return pages.page(request, "deploys.html", read)


@router.get("/projects/{slug}/deploys/agents", response_class=HTMLResponse)
def agents_page(request: Request, slug: str) -> Response:
    """The project's deploy agents (`trimtab agent list`), with which environment runs on them.
    Declared before the run page, whose path would otherwise take "agents" for a run id."""
    lease_s = agent_lease_of(request)

    def read(session: Session, actor: Actor) -> dict[str, Any]:
        project = projects.get_project(session, actor, slug)
        listed = agents.list_agents(session, actor, slug, lease_s)
        bound = projects.bound_environment(session, actor)
        return {
            "project": project,
            "agents": listed,
            "lease_s": lease_s,
            "environments": [e for e in project.environments if bound is None or e.name == bound],
        }

    return pages.page(request, "agents.html", read)


@router.get("/projects/{slug}/deploys/{run_id}", response_class=HTMLResponse)
def run_page(request: Request, slug: str, run_id: RowId) -> Response:
    def read(session: Session, actor: Actor) -> dict[str, Any]:
        project, run = runs.get_run(session, actor, slug, run_id)
        detail = runs.run_detail(session, run, lease_s=agent_lease_of(request))
        active = detail.state in release_view.ACTIVE_RUN_STATES
        return {
            "project": project,
            "run": detail,
            "waves": release_view.waves(detail.steps),
            "active": active,
            "refresh": REFRESH_SECONDS if active else None,
            "can_deploy": actor.has_scope("deploy"),
            "can_roll_back": detail.kind == "release"
            and detail.release is not None
            and not active
            and any(s.result == "success" for s in detail.steps),
        }

    return pages.page(request, "deploy_run.html", read)


@router.post("/projects/{slug}/deploys/{run_id}/confirm")
def confirm(
    request: Request,
    slug: str,
    run_id: RowId,
    service: str = Form(max_length=64),
    csrf_token: str = Form(default="", max_length=100),
    ok: bool = Form(default=True),
    note: str = Form(default="", max_length=1000),
) -> Response:
    def write(session: Session, actor: Actor) -> str:
        runs.confirm_step(session, actor, slug, run_id, service, ok=ok, note=note.strip() or None)
        return _run_url(slug, run_id)

    return pages.post(request, csrf_token, write)


@router.post("/projects/{slug}/deploys/{run_id}/cancel")
def cancel(
    request: Request,
    slug: str,
    run_id: RowId,
    csrf_token: str = Form(default="", max_length=100),
    reason: str = Form(default="", max_length=1000),
) -> Response:
    def write(session: Session, actor: Actor) -> str:
        runs.cancel_run(session, actor, slug, run_id, reason)
        return _run_url(slug, run_id)

    return pages.post(request, csrf_token, write)


@router.post("/projects/{slug}/deploys/{run_id}/rollback")
def roll_back(
    request: Request,
    slug: str,
    run_id: RowId,
    csrf_token: str = Form(default="", max_length=100),
    reason: str = Form(default="", max_length=1000),
    confirm: str = Form(default="", max_length=16),
) -> Response:
    """Undo the run's release in its environment (what `trimtab rollback --release` does)."""

    def write(session: Session, actor: Actor) -> str:
        if confirm != "yes":
            raise InvalidInput("tick the box to confirm the rollback")
        if not reason.strip():
            raise InvalidInput("a rollback from the dashboard needs a reason")
        _, run = runs.get_run(session, actor, slug, run_id)
        release = runs.run_summary(session, run).release
        if release is None:
            raise InvalidInput(f"run #{run_id} deployed no release: nothing to undo")
        undo = rollbacks.rollback(
            session, actor, slug, run.environment, release=release, reason=reason
        )
        return _run_url(slug, undo.id)

    return pages.post(request, csrf_token, write)
