"""/api/v1/sdk/…: what trimtab's server-side SDKs call, with an sdk-server token.

- `GET /sdk/flags`: the environment's rule set (flag configs in core.evaluation's shape, the
  segments, the unhealthy dependencies) with an ETag; `If-None-Match` answers 304. The same
  JSON is an SDK's bootstrap file. Served from the flag-delivery runtime (server.flag_delivery)
  like OFREP and Unleash: a fetch of an unchanged rule set reads no table.
- `POST /sdk/metrics`: evaluation counts `{start, end, counts: {flag: {variant: n}}}` (last
  evaluated, stale report, guarded-flag exposure).
- `POST /sdk/dependencies/{name}/report`: what a dependency guard saw since its last report.

Tokens are resolved by the flag-delivery runtime's one resolver. An `sdk-client` token
(browser) never gets rules: it may only evaluate through OFREP or the Unleash frontend API.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import Field

from trimtab.domain.errors import Forbidden, InvalidInput
from trimtab.domain.flags import auto_off, dependencies
from trimtab.domain.flags.flags import record_evaluations
from trimtab.domain.results import Result
from trimtab.server.api.schemas import Body
from trimtab.server.auth import bearer_token, store_of
from trimtab.server.flag_delivery import CompiledSet, SdkCaller, runtime_of
from trimtab.store.models import utcnow

router = APIRouter(prefix="/sdk", tags=["sdk"])
STREAM_PATH = "/api/v1/stream"
MAX_FLAGS_PER_REPORT = 2000
MAX_COUNT = 10**12


class SdkRuleSet(Result):
    """An environment's rule set as trimtab's SDKs load it (and as a bootstrap file holds it)."""

    project: str
    environment: str
    etag: str = Field(description="The rule set's ETag, also sent as the `ETag` header")
    flags: list[dict[str, Any]] = Field(description="Flag configs in core.evaluation's shape")
    segments: dict[str, list[Any]] = Field(description="Segment name -> its constraints")
    unhealthy: list[str] = Field(
        description="Dependencies failing now (flags bound to them serve their fallback)"
    )
    stream: str = Field(description="Path of the change stream to listen on")


class MetricsAccepted(Result):
    accepted: int = Field(description="How many evaluations the report counted")


class DependencyState(Result):
    dependency: str
    state: str = Field(description="The dependency's health after the report")


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
    instance: str | None = Field(
        default=None, min_length=1, max_length=64, description="The reporting SDK client's id"
    )
    interval_s: float | None = Field(
        default=None, gt=0, le=86400, description="How often it re-reports an open breaker"
    )


async def sdk_server_caller(request: Request) -> SdkCaller:
    """FastAPI dependency: the sdk-server token's caller (flag_delivery's cached resolver)."""
    caller = await runtime_of(request.app.state).caller(bearer_token(request))
    if not caller.server_side:
        raise Forbidden("rules are served to sdk-server tokens only")
    return caller


def _etag_matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    candidates = {part.strip().removeprefix("W/") for part in header.split(",")}
    return "*" in candidates or etag in candidates


def _document(compiled: CompiledSet) -> bytes:
    rule_set = compiled.rule_set
    document = SdkRuleSet(
        project=compiled.project,
        environment=rule_set.environment,
        etag=rule_set.etag,
        flags=rule_set.configs,
        segments=rule_set.segments,
        unhealthy=sorted(rule_set.unhealthy),
        stream=STREAM_PATH,
    )
    return orjson.dumps(document.model_dump())


@router.get(
    "/flags",
    response_model=SdkRuleSet,
    responses={304: {"description": "Not modified: `If-None-Match` holds the current ETag"}},
)
async def sdk_flags(request: Request, caller: SdkCaller = Depends(sdk_server_caller)) -> Response:
    compiled = await runtime_of(request.app.state).rule_set(caller)
    headers = {"ETag": compiled.etag, "Cache-Control": "no-cache"}
    if _etag_matches(request.headers.get("if-none-match"), compiled.etag):
        return Response(status_code=304, headers=headers)
    body = compiled.rendered("sdk", _document)
    return Response(body, media_type="application/json", headers=headers)


@router.post("/metrics", status_code=202)
async def sdk_metrics(
    body: MetricsReport, request: Request, caller: SdkCaller = Depends(sdk_server_caller)
) -> MetricsAccepted:
    end = _aware(body.end)
    if _aware(body.start) > end:
        raise InvalidInput("start must not be after end")
    # A clock far ahead must not make a flag look evaluated in the future.
    at = min(end, utcnow())
    for key, variants in body.counts.items():
        for variant, n in variants.items():
            if not 0 <= n <= MAX_COUNT:
                raise InvalidInput(f"{key}.{variant}: a count is from 0 to {MAX_COUNT}")

    def record() -> None:
        with store_of(request).write() as session:
            record_evaluations(session, caller.project_id, caller.environment, body.counts, at)
            auto_off.record_exposure(
                session, caller.project_id, caller.environment_id, body.counts, at
            )

    await asyncio.to_thread(record)
    return MetricsAccepted(accepted=sum(sum(v.values()) for v in body.counts.values()))


@router.post("/dependencies/{name}/report", status_code=202)
async def sdk_dependency_report(
    body: DependencyReport,
    request: Request,
    name: str = Path(min_length=1, max_length=64),
    caller: SdkCaller = Depends(sdk_server_caller),
) -> DependencyState:
    def record() -> DependencyState:
        with store_of(request).write() as session:
            dependency = dependencies.record_report(
                session,
                caller.actor,
                name,
                successes=body.successes,
                failures=body.failures,
                timeouts=body.timeouts,
                state=body.state,
                instance=body.instance,
                interval_s=body.interval_s,
            )
            return DependencyState(dependency=dependency.name, state=dependency.state)

    return await asyncio.to_thread(record)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
