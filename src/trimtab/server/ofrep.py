"""OFREP v1, the OpenFeature Remote Evaluation Protocol (open-feature/protocol, openapi.yaml).

- `POST /ofrep/v1/evaluate/flags/{key}`: one flag for the request's context.
- `POST /ofrep/v1/evaluate/flags`: every flag (static-context / browser providers), with an
  ETag; `If-None-Match` with the same ETag answers 304. The ETag covers the flag-set revision
  *and* the context, so a provider that changes its context never gets a stale 304.
  The answer advertises the change stream in `eventStreams` (`type: sse`).
- `GET /ofrep/v1/events/{channel}`: that stream. Each flag change is an SSE `message` whose
  data is `{"type": "refetchEvaluation", "etag": ...}` (the spec's sseEventData). Browsers'
  EventSource cannot send headers, so the URL carries the environment's unguessable channel
  name instead of a token; the events carry nothing but the ETag.

Auth: `Authorization: Bearer <token>` or `X-API-Key: <token>`, an sdk-server or sdk-client
token, bound to one project and environment. Errors follow the spec: 401 / 403 with
`errorDetails`; 400 with `errorCode` PARSE_ERROR / INVALID_CONTEXT / TARGETING_KEY_MISSING;
404 FLAG_NOT_FOUND; 429 with `Retry-After` (seconds) past the per-token rate limit.

Reasons: STATIC, TARGETING_MATCH, SPLIT, DISABLED, DEFAULT as the core gives them. The core's
FALLBACK (a bound dependency is unhealthy) is sent as DEFAULT and PREREQUISITE_FAILED as
DISABLED, because OpenFeature SDKs parse `reason` into their fixed enum (the Python provider
fails the whole evaluation on an unknown one); trimtab's own reason is kept in
`metadata.trimtabReason`. The server adds `currentTime` (ISO 8601, UTC) to a context that has
none, so date constraints work for every client.

Speed: the routes are plain Starlette endpoints (no dependency injection) and a cached request
touches no database (see server.flag_delivery).
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from trimtab.core.client_address import limit_key
from trimtab.core.evaluation import ErrorCode, EvaluationResult, Reason, evaluate_key
from trimtab.domain.errors import DomainError, RateLimited
from trimtab.server.auth import client_of
from trimtab.server.flag_delivery import CompiledSet, FlagRuntime, SdkCaller, runtime_of
from trimtab.server.sse import event_stream, slots_of, sse_event
from trimtab.store.notify import Change

Endpoint = Callable[[Request], Awaitable[Response]]
MAX_BODY = 64 * 1024
INACTIVITY_DELAY_S = 120
_JSON = "application/json"
_REASONS = {
    Reason.FALLBACK: "DEFAULT",
    Reason.PREREQUISITE_FAILED: "DISABLED",
}
_STATUS_FOR_ERROR = {ErrorCode.FLAG_NOT_FOUND: 404}


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type=_JSON, headers=headers)


def _failure(status: int, code: str | None, detail: str, **extra: Any) -> Response:
    body: dict[str, Any] = dict(extra)
    if code is not None:
        body["errorCode"] = code
    body["errorDetails"] = detail
    return _json(body, status)


def _domain_failure(exc: DomainError) -> Response:
    response = _failure(exc.status, None, exc.detail)
    if isinstance(exc, RateLimited):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


def presented_token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    return request.headers.get("x-api-key") or None


async def authenticate(runtime: FlagRuntime, secret: str | None) -> SdkCaller:
    """The SDK caller for an evaluation request, within its token's rate limit."""
    caller = await runtime.caller(secret)
    runtime.check_rate(caller)
    return caller


async def _context(request: Request, key: str | None) -> dict[str, Any] | Response:
    body = await request.body()
    extra = {"key": key} if key is not None else {}
    if len(body) > MAX_BODY:
        return _failure(413, "INVALID_CONTEXT", f"request over {MAX_BODY} bytes", **extra)
    if not body.strip():
        return {"currentTime": _now()}
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return _failure(400, ErrorCode.PARSE_ERROR, f"the body is not JSON: {exc}", **extra)
    if not isinstance(payload, dict):
        return _failure(400, ErrorCode.PARSE_ERROR, "the body must be a JSON object", **extra)
    context = payload.get("context", {})
    if context is None:
        context = {}
    if not isinstance(context, dict):
        return _failure(400, ErrorCode.INVALID_CONTEXT, "context must be an object", **extra)
    key_value = context.get("targetingKey")
    if key_value is not None and not isinstance(key_value, str):
        return _failure(400, ErrorCode.INVALID_CONTEXT, "targetingKey must be a string", **extra)
    if "currentTime" not in context:
        context["currentTime"] = _now()
    return context


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _success(key: str, result: EvaluationResult, flag_type: str) -> dict[str, Any]:
    metadata: dict[str, Any] = {"type": flag_type}
    reason = _REASONS.get(result.reason, result.reason)  # type: ignore[call-overload]
    if reason != result.reason:
        metadata["trimtabReason"] = str(result.reason)
    if result.rule_id is not None:
        metadata["ruleId"] = result.rule_id
    return {
        "key": key,
        "value": result.value,
        "reason": str(reason),
        "variant": result.variant,
        "metadata": metadata,
    }


def _error_item(key: str, result: EvaluationResult) -> dict[str, Any]:
    return {"key": key, "errorCode": str(result.error_code), "errorDetails": result.error_message}


async def evaluate_flag(request: Request) -> Response:
    runtime = runtime_of(request.app.state)
    key = request.path_params["key"]
    try:
        caller = await authenticate(runtime, presented_token(request))
    except DomainError as exc:
        return _domain_failure(exc)
    context = await _context(request, key)
    if isinstance(context, Response):
        return context
    compiled = await runtime.rule_set(caller)
    result = evaluate_key(compiled.flags, key, context, compiled.unhealthy)
    runtime.count(caller, key, result.variant if result.error_code is None else None)
    if result.error_code is not None:
        status = _STATUS_FOR_ERROR.get(result.error_code, 400)  # type: ignore[call-overload]
        return _json(_error_item(key, result), status)
    return _json(_success(key, result, compiled.flags[key].type))


def _bulk_etag(compiled: CompiledSet, context: dict[str, Any]) -> str:
    # currentTime changes every request; leaving it out keeps 304s possible for a context.
    stable = {k: v for k, v in context.items() if k != "currentTime"}
    digest = hashlib.blake2b(orjson.dumps(stable, option=orjson.OPT_SORT_KEYS), digest_size=8)
    return f'"{compiled.environment_id}-{compiled.revision}-{digest.hexdigest()}"'


def _event_streams(request: Request, compiled: CompiledSet) -> list[dict[str, Any]]:
    if not compiled.channel:  # an environment without its revision row has no stream yet
        return []
    # From TRIMTAB_PUBLIC_URL, never the request's Host header (which the client writes).
    base = request.app.state.settings.public_url.rstrip("/")
    url = f"{base}/ofrep/v1/events/{compiled.channel}"
    return [{"type": "sse", "url": url, "inactivityDelaySec": INACTIVITY_DELAY_S}]


async def evaluate_all(request: Request) -> Response:
    runtime = runtime_of(request.app.state)
    try:
        caller = await authenticate(runtime, presented_token(request))
    except DomainError as exc:
        return _domain_failure(exc)
    context = await _context(request, None)
    if isinstance(context, Response):
        return context
    compiled = await runtime.rule_set(caller)
    etag = _bulk_etag(compiled, context)
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers={"ETag": etag})
    items = []
    for key, flag in compiled.flags.items():
        result = evaluate_key(compiled.flags, key, context, compiled.unhealthy)
        runtime.count(caller, key, result.variant if result.error_code is None else None)
        if result.error_code is not None:
            items.append(_error_item(key, result))
        else:
            items.append(_success(key, result, flag.type))
    body = {
        "flags": items,
        "metadata": {"environment": compiled.environment, "revision": compiled.revision},
        "eventStreams": _event_streams(request, compiled),
    }
    return _json(body, headers={"ETag": etag, "Cache-Control": "no-cache"})


async def events(request: Request) -> Response:
    """The OFREP change stream of one environment, found by its channel name."""
    channel = request.path_params["channel"]
    if not 16 <= len(channel) <= 64:
        return _failure(404, None, "no such event stream")
    runtime = runtime_of(request.app.state)
    found = await runtime.environment_of_channel(channel)
    if found is None:
        return _failure(404, None, "no such event stream")
    project_id, environment = found
    # No token here (the channel names the stream), so the cap counts per client address.
    try:
        holder = f"address:{limit_key(client_of(request))}"
        give_back = slots_of(request).take(holder, "your address")
    except RateLimited as exc:
        return _domain_failure(exc)

    def render(change: Change) -> bytes | None:
        if change.kind != "flags.changed" or change.environment not in (None, environment):
            return None
        return sse_event(
            change, "message", {"type": "refetchEvaluation", "etag": change.data.get("etag")}
        )

    return event_stream(runtime.store.notifier.subscribe(project_id), render, give_back)


CORS_HEADERS = {
    # Browsers call OFREP from the application's own origin. Credentials are header tokens,
    # never cookies, so any origin may call.
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, X-API-Key, Content-Type, If-None-Match",
    "Access-Control-Expose-Headers": "ETag, Retry-After",
    "Access-Control-Max-Age": "600",
}


def with_cors(endpoint: Endpoint, headers: Mapping[str, str] = CORS_HEADERS) -> Endpoint:
    """Answer CORS preflights and add the CORS `headers` to every response of `endpoint`."""
    raw = [(name.lower().encode(), value.encode()) for name, value in headers.items()]

    async def wrapped(request: Request) -> Response:
        if request.method == "OPTIONS":
            return Response(status_code=204, headers=dict(headers))
        response = await endpoint(request)
        response.raw_headers.extend(raw)  # cheaper than MutableHeaders on the hot path
        return response

    wrapped.__name__ = endpoint.__name__
    return wrapped


routes = [
    Route("/ofrep/v1/evaluate/flags/{key}", with_cors(evaluate_flag), methods=["POST", "OPTIONS"]),
    Route("/ofrep/v1/evaluate/flags", with_cors(evaluate_all), methods=["POST", "OPTIONS"]),
    Route("/ofrep/v1/events/{channel}", with_cors(events), methods=["GET"], name="ofrep_events"),
]
