"""The Unleash client and frontend APIs, so unmodified Unleash SDKs read trimtab flags.

- `GET /api/client/features`: the environment's flags in Unleash's v2 shape, translated by
  `core.unleash.translate_flags` once per flag-set revision, with the current unhealthy
  dependencies so fallbacks work for Unleash SDKs too (health changes bump the revision).
  ETag / If-None-Match -> 304. Server-side SDK tokens only: the answer contains the rules.
- `POST /api/client/register`: an SDK instance says hello (kept for the flag pages).
- `POST /api/client/metrics`: its evaluation counts (yes / no / variants), which feed "last
  evaluated" and the stale report.
- `GET|POST /api/frontend`: evaluated toggles for one context, for browser SDKs
  (`unleash-proxy-client`); sdk-client or sdk-server tokens. Like Unleash, only enabled
  toggles are listed. Evaluated by trimtab's own core, not through the translation.

Auth: the raw token in `Authorization` (Unleash's convention; `Bearer` is accepted too).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from trimtab.core.evaluation import Reason, evaluate_key
from trimtab.core.flags import unleash_values
from trimtab.core.flags.values import parse_datetime
from trimtab.core.unleash import context_from_unleash, translate_flags
from trimtab.core.unleash_answers import FeatureFilter, FilterError, delta_answer, filter_features
from trimtab.domain.errors import DomainError, Forbidden, InvalidInput
from trimtab.domain.flags import flags, unleash_clients
from trimtab.server.flag_delivery import CompiledSet, SdkCaller, runtime_of
from trimtab.server.ofrep import CORS_HEADERS, authenticate, with_cors
from trimtab.store.models import utcnow

MAX_BODY = 256 * 1024
MAX_NAME = 200
_OFF = (Reason.DISABLED, Reason.PREREQUISITE_FAILED)


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), status, media_type="application/json", headers=headers)


def _error(exc: DomainError) -> Response:
    response = _json({"error": exc.code, "detail": exc.detail}, exc.status)
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


def _token(request: Request) -> str | None:
    header = request.headers.get("authorization", "").strip()
    if header.lower().startswith("bearer "):
        header = header[7:].strip()
    return header or None


async def _caller(request: Request, *, server_side: bool) -> SdkCaller:
    caller = await authenticate(runtime_of(request.app.state), _token(request))
    if server_side and not caller.server_side:
        raise Forbidden("the client API serves rules: it needs an sdk-server token")
    return caller


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise InvalidInput(f"request over {MAX_BODY} bytes")
    try:
        payload = orjson.loads(raw or b"{}")
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"the body is not JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise InvalidInput("the body must be a JSON object")
    return payload


def _text(data: Mapping[str, Any], name: str, default: str = "") -> str:
    value = data.get(name, default)
    if value is None:
        return default
    if not isinstance(value, str) or len(value) > MAX_NAME:
        raise InvalidInput(f"{name}: a string of at most {MAX_NAME} characters")
    return value


def _translation(compiled: CompiledSet) -> dict[str, Any]:
    """The Unleash client features of a rule set (translated once per revision)."""

    def translate(compiled: CompiledSet) -> dict[str, Any]:
        return translate_flags(
            compiled.rule_set.configs,
            segments=compiled.rule_set.segments,
            unhealthy=compiled.unhealthy,
            project=compiled.project,
        ).features

    return compiled.rendered("unleash-translation", translate)


def _features(compiled: CompiledSet) -> bytes:
    return orjson.dumps(_translation(compiled))


def _filtered(compiled: CompiledSet, wanted: FeatureFilter) -> dict[str, Any]:
    return filter_features(_translation(compiled), wanted, compiled.rule_set.tags)


def _delta(compiled: CompiledSet) -> bytes:
    return orjson.dumps(delta_answer(_translation(compiled), compiled.revision))


def _feature_filter(request: Request) -> FeatureFilter:
    try:
        return FeatureFilter.from_query(request.query_params.multi_items())
    except FilterError as exc:
        raise InvalidInput(str(exc)) from exc


async def _client_answer(request: Request, *, delta: bool) -> Response:
    """`/api/client/features` (`delta` False) or `/api/client/delta`, filtered by the query."""
    try:
        caller = await _caller(request, server_side=True)
        wanted = _feature_filter(request)
    except DomainError as exc:
        return _error(exc)
    compiled = await runtime_of(request.app.state).rule_set(caller)
    etag = compiled.etag
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers={"ETag": etag})
    if wanted.empty:  # what almost every SDK asks: made once per revision
        name, render = ("unleash-delta", _delta) if delta else ("unleash", _features)
        body = await asyncio.to_thread(compiled.rendered, name, render)
    else:
        answer = await asyncio.to_thread(_filtered, compiled, wanted)
        if delta:
            answer = delta_answer(answer, compiled.revision)
        body = orjson.dumps(answer)
    return Response(body, media_type="application/json", headers={"ETag": etag})


async def client_features(request: Request) -> Response:
    return await _client_answer(request, delta=False)


async def client_delta(request: Request) -> Response:
    return await _client_answer(request, delta=True)


async def client_streaming(request: Request) -> Response:
    """Unleash's streaming mode is not served: an immediate, explained refusal. A 501 makes
    unleash-client switch to polling at once (a hard failover), where it reads the features."""
    try:
        await _caller(request, server_side=True)
    except DomainError as exc:
        return _error(exc)
    detail = "trimtab does not stream Unleash features: poll /api/client/features or /delta"
    return _json({"error": "not_implemented", "detail": detail}, 501)


async def client_register(request: Request) -> Response:
    try:
        caller = await _caller(request, server_side=True)
        data = await _body(request)
        app_name = _text(data, "appName") or "unknown"
        instance = _text(data, "instanceId") or "unknown"
        sdk_version = _text(data, "sdkVersion")
        strategies = data.get("strategies") or []
        if not isinstance(strategies, list) or len(strategies) > 50:
            raise InvalidInput("strategies: a list of at most 50 names")
        strategies = [s for s in strategies if isinstance(s, str) and len(s) <= MAX_NAME]
        interval = data.get("interval")
        interval_ms = interval if isinstance(interval, int) and 0 <= interval < 2**31 else None
        started = parse_datetime(data.get("started"))
        hello = unleash_clients.ClientHello(
            app_name=app_name,
            instance_id=instance,
            sdk_version=sdk_version,
            strategies=strategies,
            interval_ms=interval_ms,
            started_at=started,
        )
    except DomainError as exc:
        return _error(exc)
    store = runtime_of(request.app.state).store

    def register() -> None:
        with store.write() as session:
            unleash_clients.register_client(
                session, caller.project_id, caller.environment_id, hello
            )

    await asyncio.to_thread(register)
    return Response(status_code=202)


def _metric_counts(compiled: CompiledSet, toggles: Mapping[str, Any]) -> dict[str, dict[str, int]]:
    """Unleash's {name: {yes, no, variants}} as trimtab's {flag: {variant: n}}."""
    counts: dict[str, dict[str, int]] = {}
    for name, toggle in list(toggles.items())[: flags.MAX_METRIC_KEYS]:
        if not isinstance(toggle, Mapping) or not isinstance(name, str) or len(name) > 128:
            continue
        yes, no = toggle.get("yes", 0), toggle.get("no", 0)
        if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in (yes, no)):
            raise InvalidInput(f"{name}: yes and no are counts")
        variants = toggle.get("variants") or {}
        per_variant: dict[str, int] = {}
        if isinstance(variants, Mapping) and variants:
            for variant, n in list(variants.items())[: flags.MAX_VARIANTS]:
                if isinstance(variant, str) and isinstance(n, int) and n >= 0:
                    per_variant[variant[:128]] = n
        else:
            flag = compiled.flags.get(name)
            names = flag.config["variants"] if flag is not None else {}
            true_name = next((k for k, v in names.items() if v is True), "true")
            false_name = next((k for k, v in names.items() if v is False), "false")
            per_variant = {true_name: yes, false_name: no}
        counts[name] = {k: min(v, 10**12) for k, v in per_variant.items()}
    return counts


async def _metrics(request: Request, *, server_side: bool) -> Response:
    runtime = runtime_of(request.app.state)
    try:
        caller = await _caller(request, server_side=server_side)
        data = await _body(request)
        bucket = data.get("bucket") or {}
        toggles = bucket.get("toggles") if isinstance(bucket, Mapping) else None
        if not isinstance(toggles, Mapping):
            raise InvalidInput("bucket.toggles: an object of toggle counts")
        compiled = await runtime.rule_set(caller)
        counts = _metric_counts(compiled, toggles)
        stop = parse_datetime(bucket.get("stop")) or utcnow()
        at: datetime = min(stop, utcnow())  # a client clock ahead must not make flags "fresh"
    except DomainError as exc:
        return _error(exc)

    def record() -> None:
        with runtime.store.write() as session:
            flags.record_evaluations(session, caller.project_id, caller.environment, counts, at)

    try:
        await asyncio.to_thread(record)
    except DomainError as exc:
        return _error(exc)
    return Response(status_code=202)


async def client_metrics(request: Request) -> Response:
    return await _metrics(request, server_side=True)


async def frontend_metrics(request: Request) -> Response:
    """The counts of a browser SDK (`unleash-proxy-client`), stored like a server SDK's."""
    return await _metrics(request, server_side=False)


def _frontend_context(request: Request, body: Mapping[str, Any] | None) -> dict[str, Any]:
    if body is not None:
        raw = body.get("context", body)
        if not isinstance(raw, Mapping):
            raise InvalidInput("context must be an object")
        return context_from_unleash(raw)
    params = request.query_params
    if len(params) > 100:
        raise InvalidInput("at most 100 context fields")
    unleash: dict[str, Any] = {}
    properties: dict[str, str] = {}
    for name, value in params.multi_items():
        if name.startswith("properties[") and name.endswith("]"):
            properties[name[11:-1]] = value
        elif name in ("userId", "sessionId", "remoteAddress", "environment", "appName"):
            unleash[name] = value
        else:
            properties[name] = value
    unleash["properties"] = properties
    return context_from_unleash(unleash)


def _toggle(compiled: CompiledSet, key: str, context: Mapping[str, Any]) -> dict[str, Any] | None:
    flag = compiled.flags[key]
    result = evaluate_key(compiled.flags, key, context, compiled.unhealthy)
    if result.reason in _OFF or result.error_code not in (None, "TARGETING_KEY_MISSING"):
        return None
    if flag.type == "boolean":
        if result.value is not True:
            return None
        variant: dict[str, Any] = {"name": "disabled", "enabled": False}
    else:
        variant = {
            "name": result.variant,
            "enabled": True,
            "payload": unleash_values.payload(flag.type, result.value),
        }
    return {"name": key, "enabled": True, "variant": variant, "impressionData": False}


async def frontend(request: Request) -> Response:
    runtime = runtime_of(request.app.state)
    try:
        caller = await _caller(request, server_side=False)
        body = await _body(request) if request.method == "POST" else None
        context = _frontend_context(request, body)
    except DomainError as exc:
        return _error(exc)
    compiled = await runtime.rule_set(caller)
    toggles = []
    for key in compiled.flags:
        toggle = _toggle(compiled, key, context)
        runtime.count(caller, key, toggle["variant"]["name"] if toggle else "off")
        if toggle is not None:
            toggles.append(toggle)
    return _json({"toggles": toggles}, headers={"Cache-Control": "no-cache"})


# Unleash SDKs name themselves in headers; a browser may send them cross-origin only if the
# preflight allows them. Origins: any, like OFREP (header tokens, never cookies).
FRONTEND_CORS = {
    **CORS_HEADERS,
    "Access-Control-Allow-Headers": (
        f"{CORS_HEADERS['Access-Control-Allow-Headers']}, unleash-sdk, unleash-appname, "
        "unleash-connection-id, unleash-interval, unleash-instanceid, "
        "x-unleash-sdk, x-unleash-appname, x-unleash-connection-id"
    ),
}

routes = [
    Route("/api/client/features", client_features, methods=["GET"]),
    Route("/api/client/delta", client_delta, methods=["GET"]),
    Route("/api/client/streaming", client_streaming, methods=["GET"]),
    Route("/api/client/register", client_register, methods=["POST"]),
    Route("/api/client/metrics", client_metrics, methods=["POST"]),
    Route("/api/frontend", with_cors(frontend, FRONTEND_CORS), methods=["GET", "POST", "OPTIONS"]),
    Route(
        "/api/frontend/client/metrics",
        with_cors(frontend_metrics, FRONTEND_CORS),
        methods=["POST", "OPTIONS"],
    ),
]
