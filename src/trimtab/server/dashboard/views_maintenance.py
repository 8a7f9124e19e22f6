"""The maintenance and freezes page: per environment the maintenance notice (on now, scheduled)
with the forms to turn it on and off, and the project's freezes with the forms to add and lift
one.

Each form calls the API route's domain function (`maintenance.turn_on` / `turn_off`,
`stabilization.add_freeze` / `remove_freeze`) through `pages.post`, so scopes (deploy for
maintenance, admin for freezes), CSRF and the audit entry are the API's. Times typed without
an offset are UTC, as in the API.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from trimtab.domain.errors import InvalidInput
from trimtab.domain.releases import maintenance, stabilization
from trimtab.domain.spine import projects
from trimtab.domain.spine.actors import Actor
from trimtab.server.dashboard import pages
from trimtab.store.models import MAX_ROW_ID, utcnow

router = APIRouter(include_in_schema=False)

TIME_FORMAT_HINT = "a date and time like 2026-12-24T18:00 (UTC unless it carries an offset)"


def _page_url(slug: str, anchor: str = "") -> str:
    return f"/projects/{slug}/maintenance" + (f"#{anchor}" if anchor else "")


def _moment(text: str, label: str) -> datetime | None:
    text = text.strip()
    if not text:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidInput(f"{label}: {text!r} is not {TIME_FORMAT_HINT}") from exc


def _notice_id(text: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_ROW_ID:
        raise InvalidInput(f"no maintenance notice {text!r}")
    return int(text)


@router.get("/projects/{slug}/maintenance", response_class=HTMLResponse)
def maintenance_page(request: Request, slug: str) -> Response:
    def read(session: Session, actor: Actor) -> dict[str, Any]:
        project = projects.get_project(session, actor, slug)
        bound = projects.bound_environment(session, actor)
        names = [e.name for e in project.environments if bound is None or e.name == bound]
        return {
            "project": project,
            "environments": [maintenance.status(session, actor, slug, n) for n in names],
            "freezes": stabilization.freeze_status(session, actor, slug).freezes,
            "can_deploy": actor.has_scope("deploy"),
            "can_admin": actor.has_scope("admin"),
            "now": utcnow(),
        }

    return pages.page(request, "maintenance.html", read)


@router.post("/projects/{slug}/maintenance/{environment}/on")
def maintenance_on(
    request: Request,
    slug: str,
    environment: str,
    csrf_token: str = Form(default="", max_length=100),
    message: str = Form(default="", max_length=500),
    starts_at: str = Form(default="", max_length=40),
    expected_end: str = Form(default="", max_length=40),
) -> Response:
    """`trimtab maintenance on`: now, or scheduled from `starts_at`; the ETA is optional."""

    def write(session: Session, actor: Actor) -> str:
        maintenance.turn_on(
            session,
            actor,
            slug,
            environment[:64],
            message=message.strip() or None,
            starts_at=_moment(starts_at, "start"),
            expected_end=_moment(expected_end, "expected end"),
        )
        return _page_url(slug, f"env-{environment[:64]}")

    return pages.post(request, csrf_token, write)


@router.post("/projects/{slug}/maintenance/{environment}/off")
def maintenance_off(
    request: Request,
    slug: str,
    environment: str,
    csrf_token: str = Form(default="", max_length=100),
    notice: str = Form(default="", max_length=20),
) -> Response:
    """End the notices on now, or one notice (a scheduled one) by its id."""

    def write(session: Session, actor: Actor) -> str:
        notice_id = _notice_id(notice)
        maintenance.turn_off(session, actor, slug, environment[:64], notice_id=notice_id)
        return _page_url(slug, f"env-{environment[:64]}")

    return pages.post(request, csrf_token, write)


@router.post("/projects/{slug}/freezes")
def add_freeze(
    request: Request,
    slug: str,
    csrf_token: str = Form(default="", max_length=100),
    name: str = Form(default="", max_length=100),
    reason: str = Form(default="", max_length=500),
    environment: str = Form(default="", max_length=64),
    start: str = Form(default="", max_length=40),
    end: str = Form(default="", max_length=40),
    cron: str = Form(default="", max_length=100),
    duration: str = Form(default="", max_length=20),
    timezone: str = Form(default="UTC", max_length=64),
) -> Response:
    """`trimtab freeze add`: one period (from now when no start is given) or recurring."""

    def write(session: Session, actor: Actor) -> str:
        recurring = bool(cron.strip())
        begins = _moment(start, "from")
        ends = _moment(end, "until")
        if not recurring and begins is None and ends is not None:
            begins = utcnow()
        freeze = stabilization.freeze_of(
            name.strip(),
            reason.strip(),
            start=begins,
            end=ends,
            cron=cron.strip() or None,
            duration=duration.strip() or None,
            timezone=timezone.strip() or "UTC",
            environments=[environment] if environment else [],
        )
        stabilization.add_freeze(session, actor, slug, freeze)
        return _page_url(slug, "freezes")

    return pages.post(request, csrf_token, write)


@router.post("/projects/{slug}/freezes/{name}/lift")
def lift_freeze(
    request: Request,
    slug: str,
    name: str,
    csrf_token: str = Form(default="", max_length=100),
) -> Response:
    """`trimtab freeze remove`: the freeze is gone, the audit log keeps what it was."""

    def write(session: Session, actor: Actor) -> str:
        stabilization.remove_freeze(session, actor, slug, name[:100])
        return _page_url(slug, "freezes")

    return pages.post(request, csrf_token, write)
