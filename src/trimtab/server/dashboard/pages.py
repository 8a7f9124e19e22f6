"""The shapes of a dashboard request, written once: a page (signed in, one read transaction,
render), a form post (signed in, CSRF checked, one write transaction, redirect) and a post
answered with a page (`post_and_show`: a secret shown once). Every dashboard view goes through
them; the templates live here too.

A visitor without a session is sent to /login; a refusal from the domain (403, 404, 409, 422)
is the problem page with the domain's words and status, or, when the post names a `refused`
page, that page again with the reason next to the form the user filled in.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from trimtab.domain.errors import DomainError
from trimtab.domain.spine import users
from trimtab.domain.spine.actors import Actor
from trimtab.server.auth import session_actor, store_of

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))

Reader = Callable[[Session, Actor], dict[str, Any]]
Writer = Callable[[Session, Actor], str]
# Renders the form's page again after a refusal: (actor, csrf token, the refusal) -> response.
Refused = Callable[[Actor, str, DomainError], Response]
# What a post answered with a page adds to it (a secret shown this once).
Shown = Callable[[Session, Actor], dict[str, Any]]


def render(
    request: Request, name: str, actor: Actor, csrf: str, context: dict[str, Any], status: int = 200
) -> Response:
    return templates.TemplateResponse(
        request, name, {"actor": actor, "csrf_token": csrf, **context}, status_code=status
    )


def problem(request: Request, actor: Actor, csrf: str, exc: DomainError) -> Response:
    context = {"problem": exc.detail, "back": back_link(request)}
    return render(request, "problem.html", actor, csrf, context, exc.status)


def refusal_page(
    request: Request, status: int, detail: str, headers: dict[str, str] | None = None
) -> Response:
    """A refusal met before any view ran (a form field over its bound, a guessed URL), as the
    problem page for a browser; without the session's user, as no view has looked it up."""
    return templates.TemplateResponse(
        request,
        "problem.html",
        {"actor": None, "csrf_token": "", "problem": detail, "back": back_link(request)},
        status_code=status,
        headers=headers,
    )


def back_link(request: Request) -> str | None:
    """The page the visitor came from, when it is one of ours (a "Go back" link that works
    without JavaScript: the CSP refuses `javascript:` URLs); its path and query only."""
    referer = urlsplit(request.headers.get("referer", "")[:2048])
    if referer.scheme not in ("http", "https") or referer.netloc != request.url.netloc:
        return None
    if not referer.path.startswith("/") or referer.path == request.url.path:
        return None
    return referer.path + (f"?{referer.query}" if referer.query else "")


def page(request: Request, name: str, read: Reader) -> Response:
    """Render template `name` with what `read` returns from one read transaction."""
    resolved = session_actor(request)
    if resolved is None:
        return RedirectResponse("/login", status_code=303)
    actor, csrf = resolved
    return page_as(request, name, read, actor, csrf)


def page_as(
    request: Request, name: str, read: Reader, actor: Actor, csrf: str, status: int = 200
) -> Response:
    """`page` for a visitor already known to be signed in (a refused post's page again)."""
    try:
        with store_of(request).read() as session:
            context = read(session, actor)
    except DomainError as exc:
        return problem(request, actor, csrf, exc)
    return render(request, name, actor, csrf, context, status)


def respond(request: Request, read: Callable[[Session, Actor], Response]) -> Response:
    """`page` for a view that answers with its own response (a file): signed in, one read
    transaction; a refusal is the problem page."""
    resolved = session_actor(request)
    if resolved is None:
        return RedirectResponse("/login", status_code=303)
    actor, csrf = resolved
    try:
        with store_of(request).read() as session:
            return read(session, actor)
    except DomainError as exc:
        return problem(request, actor, csrf, exc)


def wake_runner(request: Request) -> None:
    """Let the local runner claim new work now instead of at its next poll."""
    runner = getattr(request.app.state, "runner", None)
    if runner is not None:
        runner.wake()


def post(
    request: Request, csrf_token: str, write: Writer, refused: Refused | None = None
) -> Response:
    """Check the form's CSRF token, run `write` in one write transaction, wake the runner (the
    change may have given it work) and redirect (303) to the page `write` names. A refusal is
    `refused`'s page when given (the form's page with the reason), else the problem page."""
    resolved = session_actor(request)
    if resolved is None:
        return RedirectResponse("/login", status_code=303)
    actor, csrf = resolved
    try:
        users.check_csrf(csrf, csrf_token)
        with store_of(request).write() as session:
            target = write(session, actor)
    except DomainError as exc:
        if refused is not None:
            return refused(actor, csrf, exc)
        return problem(request, actor, csrf, exc)
    wake_runner(request)
    return RedirectResponse(target, status_code=303)


def post_and_show(
    request: Request, csrf_token: str, name: str, write: Shown, read: Reader
) -> Response:
    """A form post answered with a page, not a redirect: CSRF checked, `write` in one write
    transaction, then `name` rendered with `read`'s context and what `write` returned (a
    secret to show this once). A refusal from `write` shows the page again with the domain's
    words and status, so the form is at hand to correct."""
    resolved = session_actor(request)
    if resolved is None:
        return RedirectResponse("/login", status_code=303)
    actor, csrf = resolved
    store = store_of(request)
    shown: dict[str, Any]
    status = 200
    try:
        users.check_csrf(csrf, csrf_token)
        try:
            with store.write() as session:
                shown = write(session, actor)
        except DomainError as exc:
            shown, status = {"error": exc.detail}, exc.status
        with store.read() as session:
            context = read(session, actor)
    except DomainError as exc:
        return problem(request, actor, csrf, exc)
    response = render(request, name, actor, csrf, {**context, **shown}, status)
    response.headers["Cache-Control"] = "no-store"  # the page may hold a secret
    return response
