"""The JSON API under /api/v1. Each concept has its own router module; this file joins them."""

from fastapi import APIRouter

from trimtab.server import stream
from trimtab.server.api import alerts, audit, issues, projects, release_health, tokens

api_router = APIRouter(prefix="/api/v1")
# release_health before any `/releases/{version}` route, which would otherwise match "health".
for module in (release_health, projects, tokens, audit, issues, stream, alerts):
    api_router.include_router(module.router)

__all__ = ["api_router"]
