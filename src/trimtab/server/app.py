"""The ASGI application: one process serving the API, the dashboard and (later) ingest and SDKs.

`create_app()` only wires surfaces together; what they do lives in `trimtab.domain`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from starlette.routing import BaseRoute
from starlette.types import Receive, Scope, Send

import trimtab
from trimtab.domain.spine.bootstrap import Credentials, bootstrap
from trimtab.jobs import Scheduler, all_jobs
from trimtab.runner.local import LocalRunner
from trimtab.server import (
    health,
    ingest,
    ofrep,
    sdk_assets,
    sentry_api,
    sentry_uploads,
    unleash_api,
)
from trimtab.server.api import api_router
from trimtab.server.auth import TokenUses
from trimtab.server.dashboard import views as dashboard
from trimtab.server.dashboard import views_admin as dashboard_admin
from trimtab.server.dashboard import views_attachments as dashboard_attachments
from trimtab.server.dashboard import views_deploys as dashboard_deploys
from trimtab.server.dashboard import views_flags as dashboard_flags
from trimtab.server.dashboard import views_issues as dashboard_issues
from trimtab.server.dashboard import views_logs as dashboard_logs
from trimtab.server.dashboard import views_maintenance as dashboard_maintenance
from trimtab.server.dashboard import views_project as dashboard_project
from trimtab.server.dashboard import views_releases as dashboard_releases
from trimtab.server.dashboard import views_segments as dashboard_segments
from trimtab.server.dashboard import views_services as dashboard_services
from trimtab.server.errors import install_error_handlers
from trimtab.server.flag_delivery import FlagRuntime
from trimtab.server.headers import PageSecurityHeaders, PublicOrigin
from trimtab.server.limits import BodySizeLimit
from trimtab.server.sse import StreamSlots
from trimtab.settings import Settings
from trimtab.store import migrate
from trimtab.store.db import Store
from trimtab.store.models import utcnow

log = logging.getLogger("trimtab.server")

# Surfaces that bound their own (larger) bodies. (Sentry ingest never reaches the limit
# middleware: `ingest.answer_ingest` answers it first.)
SELF_LIMITED_PREFIXES: tuple[str, ...] = ()


def prepare_store(settings: Settings) -> tuple[Store, Credentials]:
    """Open the store, apply migrations and make sure the admin can get in."""
    store = Store(settings.database_url)
    migrate.upgrade(store)
    return store, bootstrap(store, settings)


class _App(FastAPI):
    """FastAPI that hands Sentry ingest to `ingest.answer_ingest` before anything else runs:
    FastAPI's own per-request work, the error and body-limit middlewares and the routing
    (several coroutine layers and their `send` wrappers per event). Ingest bounds its own
    bodies and answers its own errors (server/ingest.py)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope["app"] = self  # as Starlette sets it: the endpoint reads app.state
            if await ingest.answer_ingest(scope, receive, send):
                return
        await super().__call__(scope, receive, send)


def create_app(
    settings: Settings | None = None, store: Store | None = None, *, run_jobs: bool = True
) -> FastAPI:
    """The app. `run_jobs=False` leaves background jobs off (tests that drive jobs by hand)."""
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if store is None:
            app.state.store, app.state.credentials = prepare_store(settings)
        else:
            app.state.store, app.state.credentials = store, bootstrap(store, settings)
        app.state.store.start_listening()
        app.state.ingest = ingest.IngestService(app.state.store, settings)
        await app.state.ingest.start()
        scheduler = Scheduler(app.state.store, settings, all_jobs() if run_jobs else [])
        app.state.scheduler = scheduler
        scheduler.start()
        credentials = app.state.credentials
        runner = LocalRunner(
            app.state.store,
            settings,
            extra_secrets=(credentials.admin_token, credentials.admin_password),
        )
        app.state.runner = runner
        if settings.runner_enabled:
            runner.start()
        app.state.flag_runtime = FlagRuntime(
            app.state.store, settings.sdk_rate_limit, app.state.token_uses
        )
        await app.state.flag_runtime.start()
        try:
            yield
        finally:
            await app.state.flag_runtime.stop()
            await asyncio.to_thread(runner.stop)
            await scheduler.stop()
            await app.state.ingest.stop()
            if store is None:
                app.state.store.dispose()

    app = _App(
        title="trimtab",
        version=trimtab.__version__,
        lifespan=lifespan,
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/v1/docs",
        redoc_url=None,
    )
    app.state.settings = settings
    # What time it is for time-based limits (the login backoff); tests may set their own clock.
    app.state.clock = utcnow
    app.state.stream_slots = StreamSlots(settings.max_streams_per_token)
    app.state.token_uses = TokenUses()
    install_error_handlers(app)
    # sentry-cli's chunk uploads are larger than an API body; their route bounds them itself.
    chunk_upload = f"/api/0/organizations/{settings.org_slug}/chunk-upload/"
    app.add_middleware(BodySizeLimit, exempt_prefixes=(*SELF_LIMITED_PREFIXES, chunk_upload))
    app.add_middleware(PageSecurityHeaders)
    app.add_middleware(PublicOrigin, public_url=settings.public_url)
    # Evaluation surfaces: plain Starlette routes, no dependency injection on the hot path, and
    # first in the routing table: matching the API's routes first costs more than evaluating.
    app.router.routes.extend([*ofrep.routes, *unleash_api.routes, *_API_ROUTES])
    dashboard.mount_static(app)
    app.router.routes.extend(_DASHBOARD_ROUTES)
    # Last: it answers every /api/0 route that none of the routers above serves.
    app.router.routes.extend(_FALLBACK_ROUTES)
    return app


def _included(*routers: APIRouter) -> list[BaseRoute]:
    """The routers' inclusions, made once per process and shared by every app made in it.
    FastAPI builds an inclusion's models (a pydantic adapter per parameter and response of each
    route) the first time a request is matched against it, and keeps them on the inclusion;
    `app.include_router` makes new inclusions for each app, built again on its first requests.
    One process serves one app, but the test suite makes one per test, and that building was a
    fifth of its in-process tests' CPU. None of these routers has its own lifespan or startup
    handlers (which `include_router` would merge into the app's), and nothing here uses
    FastAPI's dependency overrides (which a shared inclusion would not see)."""
    holder = APIRouter()
    for router in routers:
        if router.on_startup or router.on_shutdown:
            raise RuntimeError(f"{router!r} has its own startup work: include it per app")
        holder.include_router(router)
    return list(holder.routes)


_API_ROUTES = _included(
    health.router, api_router, sdk_assets.router, sentry_api.router, sentry_uploads.router
)
_DASHBOARD_ROUTES = _included(
    dashboard.router,
    dashboard_flags.router,
    dashboard_issues.router,
    dashboard_logs.router,
    dashboard_attachments.router,
    dashboard_releases.router,
    dashboard_deploys.router,
    dashboard_project.router,
    dashboard_maintenance.router,
    dashboard_services.router,
    dashboard_admin.router,
    dashboard_segments.router,
)
_FALLBACK_ROUTES = _included(sentry_uploads.unsupported_router)
