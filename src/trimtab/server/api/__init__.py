"""The JSON API under /api/v1. Each concept has its own router module; this file joins them."""

from fastapi import APIRouter

from trimtab.server import stream
from trimtab.server.api import (
    alerts,
    audit,
    config,
    deploys,
    freezes,
    issues,
    maintenance,
    projects,
    release_health,
    releases,
    sdk,
    services,
    tokens,
)
from trimtab.server.api import dependencies as dependency_api
from trimtab.server.api import flags as flag_api
from trimtab.server.errors import ERROR_RESPONSES

api_router = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES)
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
    alerts,
):
    api_router.include_router(module.router)

__all__ = ["api_router"]
