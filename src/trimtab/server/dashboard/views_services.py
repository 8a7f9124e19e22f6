"""Dashboard pages for services and dependencies: the requirement graph with the versions running
(inline SVG laid out by `service_graph`, and the same facts as a table), the external
dependencies with their health and bound flags, one dependency's page with its history, and
the admin's actions on a dependency (`trimtab dependency create`, `set`, `delete`).

Reads go through `domain.releases` (services, ledger) and `domain.flags.dependencies`; each form
calls the domain function the API route calls, so the scope check and the audit entry are the
API's.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from trimtab.domain.errors import InvalidInput
from trimtab.domain.flags import dependencies
from trimtab.domain.releases import ledger, services
from trimtab.domain.spine import projects
from trimtab.domain.spine.actors import Actor
from trimtab.server.dashboard import pages, service_graph

router = APIRouter(include_in_schema=False)

# The settings form, in the order `trimtab dependency set` lists them, with their labels.
SETTING_LABELS = {
    "probe_expected_status": "Expected probe status",
    "probe_timeout_s": "Probe timeout (s)",
    "interval_s": "Check every (s)",
    "window_s": "SDK report window (s)",
    "failure_rate": "Failure rate that is bad (0 to 1)",
    "min_calls": "Calls before the rate counts",
    "open_reports": "Open breakers that are bad",
    "max_errors": "Error reports that are bad",
    "error_window_s": "Error report window (s)",
    "down_after": "Bad checks to go unhealthy",
    "up_after": "Good checks to come back",
}
SETTING_CHARS = 20


def _dependency_url(slug: str, name: str) -> str:
    return f"/projects/{slug}/dependencies/{name}"


@router.get("/projects/{slug}/services", response_class=HTMLResponse)
def services_page(request: Request, slug: str) -> Response:
    """The requirement graph with what runs where, then the external dependencies."""

    def read(session: Session, actor: Actor) -> dict[str, Any]:
        project, known = services.list_services(session, actor, slug)
        requirements = services.graph_of(session, project)
        environments = [e.name for e in project.environments]
        found = {(s.service, s.environment): s for s in ledger.status(session, actor, slug)}
        running = {
            name: [_running(found.get((name, env)), env) for env in environments]
            for name in requirements
        }
        graph = service_graph.layout(requirements, running)
        return {
            "project": project,
            "graph": graph,
            "environments": environments,
            "requirements": {name: sorted(needs) for name, needs in requirements.items()},
            "status": found,
            "manual": {s.name for s in known if s.command is None},
            "dependencies": dependencies.list_dependency_health(session, actor, slug),
            "can_admin": actor.has_scope("admin"),
            "now": datetime.now(UTC),
        }

    return pages.page(request, "services.html", read)


def _running(status: ledger.ServiceStatus | None, environment: str) -> service_graph.Running:
    if status is None:
        return service_graph.Running(environment, None)
    return service_graph.Running(environment, status.version, status.release)


@router.get("/projects/{slug}/dependencies/{name}", response_class=HTMLResponse)
def dependency_page(request: Request, slug: str, name: str) -> Response:
    """`trimtab dependency show`: health, last check, SDK reports and reporters, the bound
    flags with what they serve, the transitions; the settings form for admins."""

    def read(session: Session, actor: Actor) -> dict[str, Any]:
        detail = dependencies.dependency_detail(session, actor, slug, name[:64])
        return {
            "project": projects.get_project(session, actor, slug),
            "dependency": detail,
            "reporters": dependencies.reporter_states(session, actor, slug, detail.name),
            "settings": SETTING_LABELS,
            "can_admin": actor.has_scope("admin"),
            "now": datetime.now(UTC),
        }

    return pages.page(request, "dependency.html", read)


def _settings(values: dict[str, str]) -> dict[str, Any]:
    """The form's settings as numbers for the domain (which checks their ranges); an empty
    field is left as it is (a browser sends it, FastAPI reads it as absent)."""
    settings: dict[str, Any] = {}
    for field, text in values.items():
        text = text.strip()
        if not text:
            continue
        try:
            number = float(text)
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            raise InvalidInput(f"{SETTING_LABELS[field].lower()}: {text!r} is not a number")
        bounds = dependencies.SETTINGS[field]
        settings[field] = int(number) if bounds.integer and number == int(number) else number
    return settings


@router.post("/projects/{slug}/dependencies")
def create_dependency(
    request: Request,
    slug: str,
    name: str = Form(max_length=64),
    description: str = Form(default="", max_length=1000),
    probe_url: str = Form(default="", max_length=2000),
    csrf_token: str = Form(default="", max_length=100),
) -> Response:
    """`trimtab dependency create` (admin): the other settings keep their defaults."""

    def write(session: Session, actor: Actor) -> str:
        created = dependencies.create_dependency(
            session,
            actor,
            slug,
            name.strip(),
            description=description.strip(),
            probe_url=probe_url.strip() or None,
        )
        return _dependency_url(slug, created.name)

    return pages.post(request, csrf_token, write)


@router.post("/projects/{slug}/dependencies/{name}")
def update_dependency(
    request: Request,
    slug: str,
    name: str,
    description: str | None = Form(default=None, max_length=1000),
    probe_url: str | None = Form(default=None, max_length=2000),
    no_probe: bool = Form(default=False),
    no_max_errors: bool = Form(default=False),
    probe_expected_status: str = Form(default="", max_length=SETTING_CHARS),
    probe_timeout_s: str = Form(default="", max_length=SETTING_CHARS),
    interval_s: str = Form(default="", max_length=SETTING_CHARS),
    window_s: str = Form(default="", max_length=SETTING_CHARS),
    failure_rate: str = Form(default="", max_length=SETTING_CHARS),
    min_calls: str = Form(default="", max_length=SETTING_CHARS),
    open_reports: str = Form(default="", max_length=SETTING_CHARS),
    max_errors: str = Form(default="", max_length=SETTING_CHARS),
    error_window_s: str = Form(default="", max_length=SETTING_CHARS),
    down_after: str = Form(default="", max_length=SETTING_CHARS),
    up_after: str = Form(default="", max_length=SETTING_CHARS),
    csrf_token: str = Form(default="", max_length=100),
) -> Response:
    """`trimtab dependency set` (admin): what the form fills in changes, an empty field keeps
    its value; the probe and the error-report threshold are removed by their own boxes, as
    `--no-probe` and the API's `clear_max_errors` do."""
    given = {
        "probe_expected_status": probe_expected_status,
        "probe_timeout_s": probe_timeout_s,
        "interval_s": interval_s,
        "window_s": window_s,
        "failure_rate": failure_rate,
        "min_calls": min_calls,
        "open_reports": open_reports,
        "max_errors": max_errors,
        "error_window_s": error_window_s,
        "down_after": down_after,
        "up_after": up_after,
    }

    def write(session: Session, actor: Actor) -> str:
        settings = _settings(given)
        if no_max_errors:
            settings["max_errors"] = None
        updated = dependencies.update_dependency(
            session,
            actor,
            slug,
            name[:64],
            description=description.strip() if description is not None else None,
            probe_url=probe_url.strip() if probe_url is not None else None,
            clear_probe=no_probe,
            settings=settings,
        )
        return _dependency_url(slug, updated.name)

    return pages.post(request, csrf_token, write)


@router.post("/projects/{slug}/dependencies/{name}/delete")
def delete_dependency(
    request: Request,
    slug: str,
    name: str,
    csrf_token: str = Form(default="", max_length=100),
    confirm: str = Form(default="", max_length=16),
) -> Response:
    """`trimtab dependency delete` (admin): the flags bound to it stop falling back on it."""

    def write(session: Session, actor: Actor) -> str:
        if confirm != "yes":
            raise InvalidInput("tick the box to confirm deleting the dependency")
        dependencies.delete_dependency(session, actor, slug, name[:64])
        return f"/projects/{slug}/services#dependencies"

    return pages.post(request, csrf_token, write)
