"""Every error leaves the server as JSON `{"error": code, "detail": text}` with its status."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Match, Mount
from starlette.types import Scope

from trimtab.domain.errors import DomainError, RateLimited

log = logging.getLogger("trimtab.server")

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "rate_limited",
    503: "unavailable",
}


class ErrorBody(BaseModel):
    """Every 4xx and 5xx answer of the JSON API, 422 included."""

    error: str
    detail: str


# Declared on the /api/v1 router: the statuses every route can answer (401 no or bad token,
# 403 scope, 404 not found or not reachable, 422 invalid input, 429 rate limit, 500), plus the
# 4XX/5XX ranges for the rest (409 conflicts, 413 too large, …), all with one body. Declaring 422
# also replaces FastAPI's own HTTPValidationError schema, which never matched what we send.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    **{
        status: {"model": ErrorBody, "description": description}
        for status, description in (
            (401, "No token, or an unknown, expired or revoked one"),
            (403, "The token lacks the scope, or is bound elsewhere"),
            (404, "Not found, or not reachable with this token"),
            (422, "Invalid input"),
            (429, "Rate limited; Retry-After says when to try again"),
            (500, "Internal error; the server log has the details"),
        )
    },
    "4XX": {"model": ErrorBody, "description": "Refused (conflict, too large, …)"},
    "5XX": {"model": ErrorBody, "description": "Server error"},
}


def error_response(
    status: int, code: str, detail: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"error": code, "detail": detail}, status_code=status, headers=headers)


def _validation_detail(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        location = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        parts.append(f"{location}: {err.get('msg', 'invalid')}" if location else err.get("msg", ""))
    return "; ".join(parts) or "invalid request"


# A path id that is not a number, or out of range (`RowId`), names nothing: 404, not 422.
_NO_ROW_ERRORS = frozenset(
    {"int_parsing", "int_from_float", "greater_than_equal", "less_than_equal"}
)


def _names_no_row(exc: RequestValidationError) -> bool:
    errors = exc.errors()
    return any(
        err.get("loc", ())[:1] == ("path",) and err.get("type") in _NO_ROW_ERRORS for err in errors
    )


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(routes: list[BaseRoute], scope: Scope) -> list[str]:
    """Every method some route takes at the request's path, asked of each route in turn.

    Starlette's 405 names only the methods of the first route matching the path, so
    `PUT /api/v1/projects` would answer `Allow: GET` though POST is taken there too. Each
    route is asked through `matches()` rather than read, as FastAPI nests included routers
    (no flat list of routes and methods). Mounts are left out: they match a path whatever
    the method (their app answers its own 405).
    """
    return [
        method
        for method in _METHODS
        if any(
            route.matches({**scope, "method": method})[0] is Match.FULL
            for route in routes
            if not isinstance(route, Mount)
        )
    ]


def _with_allow(request: Request, exc: StarletteHTTPException) -> dict[str, str] | None:
    headers = dict(exc.headers or {})
    methods = allowed_methods(request.app.router.routes, request.scope)
    if methods:
        headers["Allow"] = ", ".join(methods)
    return headers or None


# Paths whose callers are programs: their errors stay JSON whatever the Accept header says.
_MACHINE_PREFIXES = ("/api/", "/ofrep/", "/sdk/", "/static/", "/healthz", "/readyz")


def _for_a_browser(request: Request) -> bool:
    """A dashboard request from a browser (a form post, a guessed URL): it gets a page."""
    path = request.url.path
    if path.startswith(_MACHINE_PREFIXES):
        return False
    return "text/html" in request.headers.get("accept", "")


def _refusal(
    request: Request, status: int, code: str, detail: str, headers: dict[str, str] | None = None
) -> Response:
    if _for_a_browser(request):
        # Imported here: the dashboard's templates are not needed by the API's error path.
        from trimtab.server.dashboard.pages import refusal_page

        return refusal_page(request, status, detail, headers)
    return error_response(status, code, detail, headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> Response:
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else None
        return error_response(exc.status, exc.code, exc.detail, headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        if _names_no_row(exc):
            return _refusal(request, 404, "not_found", _validation_detail(exc))
        return _refusal(request, 422, "invalid", _validation_detail(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        code = _STATUS_CODES.get(exc.status_code, "error")
        detail = exc.detail if isinstance(exc.detail, str) else code
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:
            headers = _with_allow(request, exc)
        return _refusal(request, exc.status_code, code, detail, headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal", "internal error; the server log has the details")
