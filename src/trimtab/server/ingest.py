"""Sentry ingest: `POST /api/<project_id>/envelope/` and `/api/<project_id>/store/`.

Not FastAPI routes: this is the hot path, and it needs none of the dependency injection,
validation or middleware machinery, so `answer_ingest` hands these requests to plain Starlette
endpoints before any of it runs (trailing slash optional). A request:

1. finds its DSN key (`X-Sentry-Auth`, else the `sentry_key` query parameter) in a small
   cache, refusing unknown keys (401), revoked ones (403) and keys of another project (403),
   and keys over their rate limit (429 with Retry-After and X-Sentry-Rate-Limits). A request
   with neither is refused before its body is read when its project id is unknown (404);
2. reads the body as it streams in, through `core.decompress` with Relay's limits, so an
   oversize body or a zip bomb is cut off at the limit (413) without being held in memory.
   An envelope that names its key only in its header's `dsn` is decoded up to the end of
   that first line (at most 64 KB), and the key is checked there, as in step 1: a refused
   body is never inflated further. Once a body has decoded past 1 MB, the rest of it is read
   as it comes and, once all of it is here, inflated and parsed in a small thread pool
   (`DECODE_THREADS`), so big bodies neither hold up the event loop nor, however many arrive,
   crowd it out, and a slow sender holds no thread. The whole body must arrive within
   `TRIMTAB_INGEST_BODY_TIMEOUT` seconds (408 past it);
3. hands the decoded body to the domain (`domain.reports.envelopes`), which parses it and
   decides what each item becomes: the prepared event (grouping and indexed fields), session
   updates, log lines, counts of what is not stored, and what is skipped or dropped and why;
   an envelope with a category trimtab never stores (transactions, spans, replays…) is
   answered with X-Sentry-Rate-Limits naming those categories, so the SDK stops sending them;
4. queues the job for the ingest writer (`store.ingest_writer`) and answers 200 `{"id": …}`
   only once the writer has committed it; with the queue full, 503 with Retry-After.

Every refusal is JSON `{"error": code, "detail": text}` with the detail also in
`X-Sentry-Error`, which is where Sentry SDKs look. CORS is open (`*`): browser SDKs post from
any origin, and the DSN key, not a cookie, is the credential.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from trimtab.core.dsn import DsnError, SentryAuthError, parse_dsn, parse_sentry_auth
from trimtab.core.envelope import (
    DEFAULT_LIMITS,
    BodyTooLarge,
    Decompressor,
    EnvelopeError,
    Limits,
    envelope_header,
)
from trimtab.domain.reports.attachments import AttachmentLimits
from trimtab.domain.reports.envelopes import envelope_job, store_job
from trimtab.domain.reports.ingest import IngestJob, StoredEvent, compress_payloads, store_batch
from trimtab.domain.spine.keys import KEYS_CHANGED, IngestKey, find_ingest_key, project_exists
from trimtab.server.auth import client_of
from trimtab.server.ingest_quota import IngestQuota
from trimtab.settings import Settings
from trimtab.store.db import Store
from trimtab.store.ingest_writer import IngestWriter, QueueFull
from trimtab.store.notify import Subscription
from trimtab.threads import name_os_thread

__all__ = ["IngestService", "answer_ingest"]

log = logging.getLogger("trimtab.ingest")
_P = ParamSpec("_P")
_R = TypeVar("_R")

KEY_CACHE_SECONDS = 60.0  # a safety net only: creating or revoking a key drops its entry
OFF_LOOP_BYTES = 1024 * 1024  # past this many decoded bytes, a body is worked on in a thread
# Big bodies worked on at once, each by its own thread. Few on purpose: a thread holds the
# GIL for much of its work (orjson, grouping), taking time from the event loop, and a big
# body can hold a few hundred MB while it is worked on; the others wait their turn, read
# (at most the body limit each, still compressed) but not inflated.
DECODE_THREADS = 2
RETRY_AFTER_BUSY = 2

_CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "X-Sentry-Error, X-Sentry-Rate-Limits, Retry-After",
}
_PREFLIGHT = {
    **_CORS,
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    "Access-Control-Allow-Headers": (
        "X-Sentry-Auth, X-Requested-With, Content-Type, Content-Encoding, Authorization, "
        "sentry-trace, baggage"
    ),
    "Access-Control-Max-Age": "3600",
}


class IngestRefused(Exception):
    def __init__(
        self, status: int, code: str, detail: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = headers or {}


@dataclass(frozen=True, slots=True)
class _Cached:
    key: IngestKey
    fetched: float


class _KeyCache:
    """DSN keys by public key, so a request costs no query for its key."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._keys: dict[str, _Cached] = {}

    def get(self, public_key: str) -> IngestKey | None:
        entry = self._keys.get(public_key)
        if entry is None or time.monotonic() - entry.fetched > KEY_CACHE_SECONDS:
            return self._load(public_key)
        return entry.key

    def _load(self, public_key: str) -> IngestKey | None:
        with self.store.read() as session:
            key = find_ingest_key(session, public_key)
        if key is None:
            self._keys.pop(public_key, None)  # unknown keys are not cached: no memory for junk
            return None
        if len(self._keys) > 10_000:
            self._keys.clear()
        self._keys[public_key] = _Cached(key, time.monotonic())
        return key

    def forget(self, public_key: str | None) -> None:
        if public_key is None:
            self._keys.clear()
        else:
            self._keys.pop(public_key, None)


class _KnownProjects:
    """Project ids known to exist. Projects are never deleted, so an id once seen stays;
    unknown ids are asked again each time (not cached: no memory for junk)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._ids: set[int] = set()

    def __contains__(self, project_id: int) -> bool:
        if project_id in self._ids:
            return True
        with self.store.read() as session:
            found = project_exists(session, project_id)
        if found:
            if len(self._ids) > 100_000:
                self._ids.clear()
            self._ids.add(project_id)
        return found


class IngestService:
    """Owns the writer thread, the key cache and the ingest quota of one server process."""

    def __init__(self, store: Store, settings: Settings, limits: Limits = DEFAULT_LIMITS) -> None:
        self.store = store
        self.limits = limits
        self.default_rate_limit = settings.ingest_rate_limit or None
        self.body_timeout = settings.ingest_body_timeout_s
        attachment_limits = AttachmentLimits(
            settings.attachments_per_event_bytes, settings.attachments_per_project_bytes
        )
        write = functools.partial(
            store_batch,
            max_logs_per_day=settings.max_logs_per_day,
            attachment_limits=attachment_limits,
        )
        self.writer: IngestWriter[IngestJob, StoredEvent | None] = IngestWriter(
            store,
            write,
            max_queue=max(1, settings.ingest_queue),
            durable=settings.ingest_sync == "full",
            before_transaction=compress_payloads,
        )
        self.keys = _KeyCache(store)
        self.projects = _KnownProjects(store)
        self.limiter = IngestQuota(store)  # per key per minute, shared by every process
        self._pool = ThreadPoolExecutor(
            DECODE_THREADS, thread_name_prefix="trimtab-ingest-decode", initializer=name_os_thread
        )
        self.big_bodies = asyncio.Semaphore(DECODE_THREADS)
        self._subscription: Subscription | None = None
        self._watcher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.writer.start()
        self.limiter.start()
        self._subscription = self.store.notifier.subscribe()
        self._watcher = asyncio.create_task(self._watch_keys(self._subscription))

    async def stop(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
        if self._subscription is not None:
            self._subscription.close()
        self._pool.shutdown(wait=False, cancel_futures=True)
        await asyncio.to_thread(self.writer.stop)
        await asyncio.to_thread(self.limiter.stop)

    async def off_loop(self, fn: Callable[_P, _R], *args: _P.args, **kwargs: _P.kwargs) -> _R:
        """Run `fn` in the decode pool; the request waits without holding up the loop."""
        call = functools.partial(fn, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._pool, call)

    async def _watch_keys(self, subscription: Subscription) -> None:
        async for change in subscription:
            if change.kind == KEYS_CHANGED:
                public_key = change.data.get("public_key")
                self.keys.forget(public_key if isinstance(public_key, str) else None)
            elif subscription.overflowed:
                subscription.overflowed = False
                self.keys.forget(None)

    # -- one request -------------------------------------------------------------------

    def check_project(self, project_id: int) -> None:
        if project_id not in self.projects:
            raise IngestRefused(
                404, "unknown_project", f"no project has id {project_id}: check the DSN"
            )

    def admit(self, public_key: str, project_id: int) -> IngestKey:
        """The key, if it may send to this project now; else the refusal (401/403/429)."""
        key = self.authorize(public_key, project_id)
        limit = self.limit_of(key)
        if limit is not None and (wait := self.limiter.retry_after(public_key, limit)):
            raise _rate_limited(wait)
        return key

    def authorize(self, public_key: str, project_id: int) -> IngestKey:
        key = self.keys.get(public_key)
        if key is None:
            raise IngestRefused(
                401, "unknown_key", f"unknown DSN key {public_key[:64]!r}: check the SDK's DSN"
            )
        if key.revoked:
            raise IngestRefused(403, "revoked_key", "this DSN key was revoked: use a new DSN")
        if key.project_id != project_id:
            raise IngestRefused(
                403,
                "wrong_project",
                f"this DSN key belongs to another project than {project_id}: check the DSN",
            )
        return key

    def limit_of(self, key: IngestKey) -> int | None:
        return key.rate_limit_per_minute or self.default_rate_limit


class _BigBody:
    """The work on one request's body once it decodes past OFF_LOOP_BYTES: run in the decode
    pool, after taking one of the `DECODE_THREADS` places for big bodies, which it keeps
    until `release` (once its ingest job is made). A place is taken once the whole body has
    arrived (`_read_body`): a body waiting for one holds OFF_LOOP_BYTES decoded and the rest
    as it came."""

    def __init__(self, service: IngestService) -> None:
        self.service = service
        self._held = False

    async def run(self, fn: Callable[_P, _R], *args: _P.args, **kwargs: _P.kwargs) -> _R:
        if not self._held:
            await self.service.big_bodies.acquire()
            self._held = True
        return await self.service.off_loop(fn, *args, **kwargs)

    def release(self) -> None:
        if self._held:
            self._held = False
            self.service.big_bodies.release()


def _public_key_from_request(request: Request) -> str | None:
    header = request.headers.get("x-sentry-auth")
    if header is None and request.headers.get("authorization", "")[:7].lower() == "sentry ":
        header = request.headers["authorization"]
    if header is not None:
        try:
            return parse_sentry_auth(header).sentry_key[:64]
        except SentryAuthError as exc:
            raise IngestRefused(401, "invalid_auth", str(exc)) from None
    key = request.query_params.get("sentry_key")
    return key[:64] if key else None


def _rate_limited(retry_after: int) -> IngestRefused:
    return IngestRefused(
        429,
        "rate_limited",
        "this DSN key sent more events this minute than its rate limit allows",
        {
            "Retry-After": str(retry_after),
            "X-Sentry-Rate-Limits": f"{retry_after}:error;default;security:key",
        },
    )


async def _read_body(
    request: Request,
    service: IngestService,
    big: _BigBody,
    max_output: int,
    on_header: Callable[[dict[str, Any]], None] | None = None,
) -> bytes:
    """The decoded body. With `on_header`, the envelope header is handed to it as soon as its
    line is decoded, before anything more is inflated: it may refuse the request there. The
    whole body must arrive within `service.body_timeout` seconds (408 past it)."""
    limits = service.limits
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limits.max_body_bytes:
        raise IngestRefused(
            413, "body_too_large", f"request body is over the {limits.max_body_bytes} byte limit"
        )
    decoder = Decompressor(
        request.headers.get("content-encoding"),
        max_output=max_output,
        max_input=limits.max_body_bytes,
    )
    inflates = decoder.encoding != "identity"
    # Past OFF_LOOP_BYTES decoded, the rest (the current chunk's steps, then the chunks as they
    # came) waits here and is inflated in the pool once the whole body has arrived, in time: a
    # client trickling a big body must not hold a decode thread while it trickles.
    later: list[Iterator[int] | bytes] = []
    received = 0
    try:
        async with asyncio.timeout(service.body_timeout):
            async for chunk in request.stream():
                received += len(chunk)
                if later:
                    if received > limits.max_body_bytes:  # what the decoder would refuse
                        raise BodyTooLarge(
                            f"request body is over the {limits.max_body_bytes} byte limit"
                        )
                    later.append(chunk)
                    continue
                steps = decoder.feed_steps(chunk)
                if on_header is not None and _header_found(decoder, steps, on_header, limits):
                    on_header = None
                if inflates and decoder.bytes_out > OFF_LOOP_BYTES:
                    later.append(steps)
                else:
                    for size in steps:
                        if inflates and size > OFF_LOOP_BYTES:
                            later.append(steps)
                            break
    except TimeoutError:
        raise IngestRefused(
            408,
            "body_timeout",
            f"the request body did not arrive within {service.body_timeout:g} s",
            {"Connection": "close"},
        ) from None
    if later or decoder.bytes_out > OFF_LOOP_BYTES:
        data = await big.run(_finish, decoder, later)
    else:
        data = decoder.finish()
    if on_header is not None:
        header = envelope_header(data, limits, complete=True)
        assert header is not None
        on_header(header)
    return data


def _header_found(
    decoder: Decompressor,
    steps: Iterator[int],
    on_header: Callable[[dict[str, Any]], None],
    limits: Limits,
) -> bool:
    """Decode step by step until the envelope header line is whole (or over its limit); then
    hand it over."""
    for size in steps:
        if decoder.first_newline() < 0 and size <= limits.max_header_bytes:
            continue
        header = envelope_header(decoder.head(limits.max_header_bytes + 1), limits, complete=False)
        assert header is not None  # a newline is decoded, or more than a header line may hold
        on_header(header)
        return True
    return False


def _finish(decoder: Decompressor, later: list[Iterator[int] | bytes]) -> bytes:
    """Decode what waited for the pool (steps begun, then whole chunks), in order."""
    for part in later:
        for _ in decoder.feed_steps(part) if isinstance(part, bytes) else part:
            pass
    return decoder.finish()


def _client_ip(request: Request) -> str | None:
    # Behind a proxy in TRIMTAB_TRUSTED_PROXIES, the address it names (server.auth.client_of).
    return client_of(request) if request.client is not None else None


def _dsn_key(dsn: Any) -> str | None:
    """The public key of an envelope header's `dsn`, the last place a request can name one."""
    if not dsn or not isinstance(dsn, str):
        return None
    try:
        return parse_dsn(dsn).public_key[:64]
    except DsnError as exc:
        raise IngestRefused(401, "invalid_dsn", f"envelope header dsn: {exc}") from None


async def _envelope_job(
    service: IngestService,
    big: _BigBody,
    data: bytes,
    project_id: int,
    received_at: datetime,
    client_ip: str | None,
) -> tuple[IngestJob, str | None, dict[str, str]]:
    """(job, envelope event id, answer headers): the domain reads the envelope, in the decode
    pool when it is large, so a big body does not hold up the event loop."""
    if len(data) > OFF_LOOP_BYTES:
        read = await big.run(
            envelope_job,
            data,
            project_id,
            received_at=received_at,
            client_ip=client_ip,
            limits=service.limits,
        )
    else:
        read = envelope_job(
            data, project_id, received_at=received_at, client_ip=client_ip, limits=service.limits
        )
    for item in read.dropped:
        log.debug("ingest: dropped an invalid %s item: %s", item.type, item.reason)
    headers = {"X-Sentry-Rate-Limits": read.rate_limits} if read.rate_limits else {}
    return read.job, read.event_id, headers


_NO_KEY = (
    "no DSN key: send X-Sentry-Auth: Sentry sentry_key=<public key>, the sentry_key query "
    "parameter, or a dsn in the envelope header"
)


def _admit_by_dsn(
    service: IngestService,
    project_id: int,
    admitted: list[tuple[str, IngestKey]],
    header: dict[str, Any],
) -> None:
    """Check the key of the envelope header's `dsn`, as `IngestService.admit` checks the key
    of X-Sentry-Auth; add it to `admitted`."""
    dsn_key = _dsn_key(header.get("dsn"))
    if dsn_key is None:
        raise IngestRefused(401, "missing_key", _NO_KEY)
    admitted.append((dsn_key, service.admit(dsn_key, project_id)))


async def _ingest(request: Request, kind: str) -> Response:
    service: IngestService = request.app.state.ingest
    limits = service.limits
    project_id = int(request.path_params["project_id"])
    public_key = _public_key_from_request(request)
    admitted: list[tuple[str, IngestKey]] = []
    on_header: Callable[[dict[str, Any]], None] | None = None
    if public_key is not None:
        admitted.append((public_key, service.admit(public_key, project_id)))
    else:
        service.check_project(project_id)
        if kind != "envelope":
            raise IngestRefused(
                401, "missing_key", "no DSN key: send X-Sentry-Auth or ?sentry_key=<public key>"
            )
        on_header = functools.partial(_admit_by_dsn, service, project_id, admitted)
    max_output = limits.max_envelope_bytes if kind == "envelope" else limits.max_event_bytes
    client_ip = _client_ip(request)
    envelope_id: str | None = None
    answer_headers: dict[str, str] = {}
    job: IngestJob
    big = _BigBody(service)
    try:
        data = await _read_body(request, service, big, max_output, on_header)
        received_at = datetime.now(UTC)
        if kind == "envelope":
            job, envelope_id, answer_headers = await _envelope_job(
                service, big, data, project_id, received_at, client_ip
            )
        else:
            job = store_job(
                data, project_id, received_at=received_at, client_ip=client_ip, limits=limits
            )
        del data
    finally:
        big.release()
    public_key, key = admitted[0]
    # Attachments and feedback count like an event: a public DSN key must not be a free
    # channel to fill a project's attachment quota or its issues' feedback.
    if job.event is not None or job.attachments or job.feedback:
        limit = service.limit_of(key)
        if limit is not None and (wait := service.limiter.take(public_key, limit)):
            raise _rate_limited(wait)
    if job.stores_nothing:
        return _json(200, {"id": envelope_id} if envelope_id else {}, answer_headers)
    try:
        future = service.writer.submit(job)
    except QueueFull as exc:
        raise IngestRefused(
            503,
            "busy",
            f"trimtab is storing events more slowly than they arrive ({exc}): retry shortly",
            {"Retry-After": str(RETRY_AFTER_BUSY)},
        ) from None
    del job
    stored = await future
    event_id = stored.event_id if stored is not None else envelope_id
    return _json(200, {"id": event_id} if event_id else {}, answer_headers)


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(body),
        status_code=status,
        media_type="application/json",
        headers={**_CORS, **(headers or {})},
    )


def _refusal(status: int, code: str, detail: str, headers: dict[str, str]) -> Response:
    # Header values must be latin-1; details are ours and ASCII but may quote client input.
    header_detail = detail.encode("ascii", "replace").decode("ascii")[:500]
    return _json(
        status,
        {"error": code, "detail": detail},
        {**headers, "X-Sentry-Error": header_detail},
    )


def _endpoint(kind: str) -> Any:
    async def endpoint(request: Request) -> Response:
        if request.method == "OPTIONS":
            return Response(status_code=200, headers=_PREFLIGHT)
        if request.method != "POST":
            return _refusal(
                405, "method_not_allowed", f"{kind} takes POST", {"Allow": "POST, OPTIONS"}
            )
        try:
            return await _ingest(request, kind)
        except IngestRefused as exc:
            return _refusal(exc.status, exc.code, exc.detail, exc.headers)
        except EnvelopeError as exc:
            return _refusal(exc.status, exc.code, exc.detail, {})
        except ClientDisconnect:
            # Nobody is left to answer; a phone losing its network is not a server error.
            log.info("ingest: client disconnected before its body ended on %s", request.url.path)
            return _refusal(400, "client_disconnected", "the request body ended early", {})
        except Exception:
            log.exception("ingest: unexpected error on %s", request.url.path)
            return _refusal(500, "internal", "internal error; the server log has the details", {})

    endpoint.__name__ = f"ingest_{kind}"
    return endpoint


_ENDPOINTS = {kind: _endpoint(kind) for kind in ("envelope", "store")}
_PATH_RE = re.compile(r"^/api/(\d{1,18})/(envelope|store)/?$")


async def answer_ingest(scope: Scope, receive: Receive, send: Send) -> bool:
    """Answer `scope` if it is a Sentry ingest request, and say so; False for anything else.

    The app (`server.app._App`) asks this first, before FastAPI's own `__call__` (its
    telemetry check), its middlewares (body limit, exception mapping, Starlette's error
    middleware) and routing, none of which ingest needs: it bounds its bodies and answers its
    errors itself. On the hottest path that saves a dozen coroutine layers per event.
    """
    if scope["type"] != "http":
        return False
    match = _PATH_RE.match(scope["path"])
    if match is None:
        return False
    scope["path_params"] = {"project_id": int(match.group(1))}
    response = await _ENDPOINTS[match.group(2)](Request(scope, receive))
    await response(scope, receive, send)
    return True
