"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse

from trimtab.server.auth import store_of
from trimtab.store import migrate

router = APIRouter(include_in_schema=False)


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request) -> JSONResponse:
    store = store_of(request)
    try:
        store.ping()
        current = migrate.is_current(store)
    except Exception as exc:  # any store failure means "not ready", with the reason
        return JSONResponse(
            {"error": "unavailable", "detail": f"store unreachable: {type(exc).__name__}"},
            status_code=503,
        )
    if not current:
        return JSONResponse(
            {"error": "unavailable", "detail": "migrations pending: run `trimtab db upgrade`"},
            status_code=503,
        )
    return JSONResponse({"status": "ready", "database": store.dialect})
