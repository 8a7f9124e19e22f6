"""/api/v1/sdk/…: what trimtab's server-side SDKs call, with an sdk-server token.

- `GET /sdk/flags`: the environment's rule set (flag configs in core.evaluation's shape, the
  segments, the unhealthy dependencies) with an ETag; `If-None-Match` answers 304. The same
  JSON is an SDK's bootstrap file.
- `POST /sdk/metrics`: evaluation counts `{start, end, counts: {flag: {variant: n}}}` (last
  evaluated, stale report, guarded-flag exposure).
- `POST /sdk/dependencies/{name}/report`: what a dependency guard saw since its last report.

An `sdk-client` token (browser) never gets rules: it may only evaluate through OFREP.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import Field

from trimtab.domain.errors import Forbidden, InvalidInput
from trimtab.domain.flags import dependencies, guards
from trimtab.domain.flags.flags import record_evaluations
from trimtab.domain.flags.rule_sets import load_flag_set
from trimtab.domain.spine.actors import Actor
from trimtab.server.api.schemas import Body
from trimtab.server.auth import current_actor, store_of
from trimtab.store.models import Environment, utcnow

router = APIRouter(prefix="/sdk", tags=["sdk"])
STREAM_PATH = "/api/v1/stream"
MAX_FLAGS_PER_REPORT = 2000
MAX_COUNT = 10**12


class MetricsReport(Body):
    start: datetime
    end: datetime
    counts: dict[str, dict[str, int]] = Field(max_length=MAX_FLAGS_PER_REPORT)


class DependencyReport(Body):
    successes: int = Field(default=0, ge=0, le=10**9)
    failures: int = Field(default=0, ge=0, le=10**9)
    timeouts: int = Field(default=0, ge=0, le=10**9)
    state: str = Field(default="closed", max_length=16)
    window_s: float = Field(default=0, ge=0, le=86400)


def _sdk_scope(session: Any, actor: Actor) -> tuple[int, Environment]:
    if "sdk-server" not in actor.scopes:
        raise Forbidden("rules are served to sdk-server tokens only")
    if actor.project_id is None or actor.environment_id is None:
        raise Forbidden("SDK tokens must be bound to a project and an environment")
    env = session.get(Environment, actor.environment_id)
    assert env is not None  # the token's foreign key guarantees it
    return actor.project_id, env


def _etag_matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    candidates = {part.strip().removeprefix("W/") for part in header.split(",")}
    return "*" in candidates or etag in candidates


@router.get("/flags")
def sdk_flags(request: Request, actor: Actor = Depends(current_actor)) -> Response:
    with store_of(request).read() as session:
        project_id, env = _sdk_scope(session, actor)
        flag_set = load_flag_set(session, project_id, env.name)
        headers = {"ETag": flag_set.etag, "Cache-Control": "no-cache"}
        if _etag_matches(request.headers.get("if-none-match"), flag_set.etag):
            return Response(status_code=304, headers=headers)
        unhealthy = dependencies.unhealthy_dependencies(session, project_id)
        project_slug = env.project.slug
        document = {
            "project": project_slug,
            "environment": env.name,
            "etag": flag_set.etag,
            "flags": flag_set.configs,
            "segments": flag_set.segments,
            "unhealthy": sorted(unhealthy),
            "stream": STREAM_PATH,
        }
    return Response(orjson.dumps(document), media_type="application/json", headers=headers)


@router.post("/metrics", status_code=202)
def sdk_metrics(
    body: MetricsReport, request: Request, actor: Actor = Depends(current_actor)
) -> dict[str, Any]:
    end = _aware(body.end)
    if _aware(body.start) > end:
        raise InvalidInput("start must not be after end")
    # A clock far ahead must not make a flag look evaluated in the future.
    at = min(end, utcnow())
    for key, variants in body.counts.items():
        for variant, n in variants.items():
            if not 0 <= n <= MAX_COUNT:
                raise InvalidInput(f"{key}.{variant}: a count is from 0 to {MAX_COUNT}")
    with store_of(request).write() as session:
        project_id, env = _sdk_scope(session, actor)
        record_evaluations(session, project_id, env.name, body.counts, at)
        guards.record_exposure(session, project_id, env.id, body.counts, at)
    return {"accepted": sum(sum(v.values()) for v in body.counts.values())}


@router.post("/dependencies/{name}/report", status_code=202)
def sdk_dependency_report(
    body: DependencyReport,
    request: Request,
    name: str = Path(min_length=1, max_length=64),
    actor: Actor = Depends(current_actor),
) -> dict[str, Any]:
    with store_of(request).write() as session:
        _sdk_scope(session, actor)
        dependency = dependencies.record_report(
            session,
            actor,
            name,
            successes=body.successes,
            failures=body.failures,
            timeouts=body.timeouts,
            state=body.state,
        )
        return {"dependency": dependency.name, "state": dependency.state}


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
