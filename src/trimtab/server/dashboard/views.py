"""The dashboard: server-rendered pages. Each view reads through the domain layer and renders.

Login uses a double-submit CSRF cookie (there is no session yet to hold a token); after login,
every form carries the session's CSRF token.

Every page and form goes through `pages.page` / `pages.post`: without a valid session the
browser is sent to /login, and a domain refusal is an HTML page with the domain's status, never
the API's JSON error.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.orm import Session

from trimtab.core.client_address import limit_key
from trimtab.domain.errors import RateLimited, Unauthorized
from trimtab.domain.spine import audit, keys, projects, users
from trimtab.domain.spine.actors import Actor
from trimtab.domain.spine.audit import AuditEntrySummary
from trimtab.server.auth import SESSION_COOKIE, client_of, session_actor, store_of
from trimtab.server.dashboard import pages
from trimtab.server.dashboard.pages import templates

HERE = Path(__file__).parent
LOGIN_CSRF_COOKIE = "trimtab_login_csrf"

router = APIRouter(include_in_schema=False)


def mount_static(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")


def _secure(request: Request) -> bool:
    return bool(request.app.state.settings.secure_cookies)


def _login_page(request: Request, error: str | None = None, status: int = 200) -> Response:
    token = secrets.token_urlsafe(24)
    response = templates.TemplateResponse(
        request, "login.html", {"csrf_token": token, "error": error}, status_code=status
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", secure=_secure(request)
    )
    return response


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> Response:
    return _login_page(request)


@router.post("/login")
def login(
    request: Request,
    username: str = Form(max_length=150),
    password: str = Form(max_length=users.MAX_PASSWORD_LENGTH),
    csrf_token: str = Form(default="", max_length=100),
) -> Response:
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not secrets.compare_digest(expected, csrf_token):
        return _login_page(request, "Your form expired; please try again.", 400)
    client = limit_key(client_of(request))
    now = request.app.state.clock()
    try:
        # The failure row must be committed even though log_in raises, so the counting
        # transaction is separate from the refusal.
        with store_of(request).write() as session:
            try:
                new = users.log_in(session, username, password, client, now)
            except Unauthorized as exc:
                failure: Unauthorized | None = exc
            else:
                failure = None
        if failure is not None:
            return _login_page(request, "Wrong username or password.", 401)
    except RateLimited as exc:
        response = _login_page(request, f"{exc.detail[0].upper()}{exc.detail[1:]}.", 429)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        new.cookie_value,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
        max_age=int(users.SESSION_LIFETIME.total_seconds()),
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE)
    return response


@router.post("/logout")
def logout(request: Request, csrf_token: str = Form(default="", max_length=100)) -> Response:
    resolved = session_actor(request)
    if resolved is not None:
        users.check_csrf(resolved[1], csrf_token)
        with store_of(request).write() as session:
            users.log_out(session, request.cookies.get(SESSION_COOKIE, ""))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/", response_class=HTMLResponse)
def overview(request: Request) -> Response:
    public_url = request.app.state.settings.public_url

    def read(session: Session, actor: Actor) -> dict[str, Any]:
        return {
            "projects": [
                keys.project_detail(session, actor, p.slug, public_url).model_dump(mode="json")
                for p in projects.list_projects(session, actor)
            ],
            "audit": [
                AuditEntrySummary.of(e).model_dump(mode="json")
                for e in audit.list_entries(session, limit=15)
            ],
        }

    return pages.page(request, "overview.html", read)
