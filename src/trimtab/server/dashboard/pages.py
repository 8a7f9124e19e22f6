"""The two shapes of a dashboard request, written once: a page (signed in, one read transaction,
render) and a form post (signed in, CSRF checked, one write transaction, redirect).

A visitor without a session is sent to /login; a refusal from the domain (403, 404, 409, 422)
is the problem page with the domain's words and status.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from trimtab.domain.errors import DomainError
from trimtab.domain.spine import users
from trimtab.domain.spine.actors import Actor
from trimtab.server.auth import session_actor, store_of
from trimtab.server.dashboard.views import templates

Reader = Callable[[Session, Actor], dict[str, Any]]
Writer = Callable[[Session, Actor], str]


def render(
    request: Request, name: str, actor: Actor, csrf: str, context: dict[str, Any], status: int = 200
) -> Response:
    return templates.TemplateResponse(
        request, name, {"actor": actor, "csrf_token": csrf, **context}, status_code=status
    )


def problem(request: Request, actor: Actor, csrf: str, exc: DomainError) -> Response:
    return render(request, "problem.html", actor, csrf, {"problem": exc.detail}, exc.status)


def page(request: Request, name: str, read: Reader) -> Response:
    """Render template `name` with what `read` returns from one read transaction."""
    resolved = session_actor(request)
    if resolved is None:
        return RedirectResponse("/login", status_code=303)
    actor, csrf = resolved
    try:
        with store_of(request).read() as session:
            context = read(session, actor)
    except DomainError as exc:
        return problem(request, actor, csrf, exc)
    return render(request, name, actor, csrf, context)


def wake_runner(request: Request) -> None:
    """Let the local runner claim new work now instead of at its next poll."""
    runner = getattr(request.app.state, "runner", None)
    if runner is not None:
        runner.wake()


def post(request: Request, csrf_token: str, write: Writer) -> Response:
    """Check the form's CSRF token, run `write` in one write transaction, wake the runner (the
    change may have given it work) and redirect (303) to the page `write` names."""
    resolved = session_actor(request)
    if resolved is None:
        return RedirectResponse("/login", status_code=303)
    actor, csrf = resolved
    try:
        users.check_csrf(csrf, csrf_token)
        with store_of(request).write() as session:
            target = write(session, actor)
    except DomainError as exc:
        return problem(request, actor, csrf, exc)
    wake_runner(request)
    return RedirectResponse(target, status_code=303)
