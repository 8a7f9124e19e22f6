"""The JSON API under /api/v1. Each concept has its own router module; this file joins them."""

from fastapi import APIRouter, Depends, Request

from trimtab.domain.errors import InvalidInput
from trimtab.server import stream
from trimtab.server.api import (
    agents,
    alerts,
    audit,
    config,
    deploys,
    freezes,
    issues,
    logs,
    maintenance,
    projects,
    release_health,
    releases,
    sdk,
    services,
    sourcemaps,
    tokens,
)
from trimtab.server.api import dependencies as dependency_api
from trimtab.server.api import flags as flag_api
from trimtab.server.errors import ERROR_RESPONSES


def refuse_nul_in_url(request: Request) -> None:
    """PostgreSQL text cannot hold NUL (U+0000): a path or query naming something with one
    names nothing, and is refused before it reaches a lookup (on SQLite too, for one answer)."""
    query = request.query_params.multi_items()
    if "\x00" in request.scope["path"] or any("\x00" in k + v for k, v in query):
        raise InvalidInput("the URL must not contain NUL (%00) characters")


api_router = APIRouter(
    prefix="/api/v1", responses=ERROR_RESPONSES, dependencies=[Depends(refuse_nul_in_url)]
)
# release_health before `releases`: its `/releases/{version}` would otherwise match "health".
for module in (
    release_health,
    projects,
    tokens,
    audit,
    stream,
    services,
    releases,
    deploys,
    freezes,
    maintenance,
    config,
    flag_api,
    sdk,
    dependency_api,
    issues,
    logs,
    sourcemaps,
    alerts,
    agents,
):
    api_router.include_router(module.router)

__all__ = ["api_router"]
