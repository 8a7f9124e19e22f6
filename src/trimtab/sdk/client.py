"""FlagClient: evaluate flags in-process from a rule set kept fresh in the background."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar
from urllib.parse import quote, urlsplit

import httpx
import orjson

from trimtab.core.evaluation import CompiledFlag, Reason, evaluate
from trimtab.sdk.breaker import BreakerPolicy
from trimtab.sdk.errors import ConfigurationError
from trimtab.sdk.guard import DependencyTracker, Guard, guarded
from trimtab.sdk.metrics import COUNT, EvaluationCounter
from trimtab.sdk.ruleset import (
    EMPTY,
    MAX_DOCUMENT_BYTES,
    RuleSet,
    RuleSetError,
    load_bootstrap,
    parse_rule_set,
    write_bootstrap,
)
from trimtab.sdk.sse import EventParser

log = logging.getLogger("trimtab.sdk")

P = ParamSpec("P")
R = TypeVar("R")

USER_AGENT = "trimtab-python-sdk/0.1"
FLAGS_PATH = "/api/v1/sdk/flags"
STREAM_PATH = "/api/v1/stream"
METRICS_PATH = "/api/v1/sdk/metrics"
# The server sends a heartbeat every 15 s: a stream silent for longer is dead.
STREAM_READ_TIMEOUT_S = 40.0
BACKOFF_FIRST_S = 0.5
# Reconnect attempts never wait longer than this (x1.2 jitter): after an outage of any length,
# the app hears the server again within 5 s of its return. A refused connection every 4 s per
# process costs the server nothing; a longer cap made recovery take up to 30 s.
BACKOFF_MAX_S = 4.0
# A stream that stayed up this long was healthy: the next reconnect starts from the first step.
STREAM_HEALTHY_AFTER_S = 30.0
JITTER = (0.8, 1.2)


def reconnect_delay(backoff: float, jitter: float) -> tuple[float, float]:
    """(how long to wait now, the backoff for the next attempt): doubling, capped, jittered."""
    return backoff * jitter, min(backoff * 2, BACKOFF_MAX_S)


_ERROR = Reason.ERROR


@dataclass(frozen=True, slots=True)
class FlagDetails:
    """The full answer for one flag: the value served and why (OpenFeature's vocabulary).

    When `reason` is ERROR, `value` is the default the caller passed.
    """

    key: str
    value: Any
    variant: str | None
    reason: str
    error_code: str | None = None
    error_message: str | None = None


class _Snapshot:
    """What evaluation reads: swapped whole, so a reader never sees half an update."""

    __slots__ = ("flags", "rules", "unhealthy")

    def __init__(self, rules: RuleSet, local_open: frozenset[str]) -> None:
        self.rules = rules
        self.flags: dict[str, CompiledFlag] = rules.flags
        self.unhealthy: frozenset[str] = rules.unhealthy | local_open


class FlagClient:
    """Evaluates trimtab flags locally; never raises from an evaluation.

    Args:
        url: the trimtab server, e.g. ``https://trimtab.example.com``.
        sdk_key: an ``sdk-server`` token, bound to one project and environment.
        bootstrap_path: a rule-set file to start from before (or without) the server.
        persist_bootstrap: rewrite `bootstrap_path` whenever new rules arrive, so the next
            start works offline with the latest rules.
        poll_interval: seconds between ETag polls (the safety net under the push stream).
        stream: keep an SSE connection open for pushed changes (on by default).
        metrics_interval: seconds between evaluation-count reports (0 turns them off).
        report_interval: seconds between dependency-guard reports.
        timeout: seconds for each HTTP request.
        breaker: when guarded dependencies' circuits open (see `BreakerPolicy`).
        start: start the background threads now (else call `start()`).

    One client per process, shared by every thread and task. Threads do not survive `fork()`:
    in a pre-forking server (gunicorn with preload), create the client in each worker.
    """

    def __init__(
        self,
        url: str,
        sdk_key: str,
        *,
        bootstrap_path: str | os.PathLike[str] | None = None,
        persist_bootstrap: bool = False,
        poll_interval: float = 30.0,
        stream: bool = True,
        metrics_interval: float = 60.0,
        report_interval: float = 10.0,
        timeout: float = 5.0,
        breaker: BreakerPolicy | None = None,
        start: bool = True,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigurationError(f"url must be http(s)://host[:port], not {url!r}")
        if not isinstance(sdk_key, str) or not sdk_key.strip():
            raise ConfigurationError("sdk_key is empty")
        for name, value in (
            ("poll_interval", poll_interval),
            ("report_interval", report_interval),
            ("timeout", timeout),
        ):
            if not (math.isfinite(value) and value > 0):
                raise ConfigurationError(f"{name} must be a positive number of seconds")
        if not (math.isfinite(metrics_interval) and metrics_interval >= 0):
            raise ConfigurationError("metrics_interval must be 0 (off) or positive")
        if persist_bootstrap and bootstrap_path is None:
            raise ConfigurationError("persist_bootstrap needs a bootstrap_path")
        self.url = url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {sdk_key.strip()}", "User-Agent": USER_AGENT}
        self._bootstrap_path = bootstrap_path
        self._persist = persist_bootstrap
        self.poll_interval = poll_interval
        self.metrics_interval = metrics_interval
        self.report_interval = report_interval
        self.instance_id = uuid.uuid4().hex  # names this client in dependency reports
        self._use_stream = stream
        self._timeout = timeout
        self._tracker = DependencyTracker(breaker, on_state_change=self._breaker_changed)
        self._local_open: frozenset[str] = frozenset()
        self._snapshot = _Snapshot(EMPTY, frozenset())
        self._counter = EvaluationCounter()
        self._local = self._counter.local
        self._counts_since = datetime.now(UTC)
        self._fetch_lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._ready = threading.Event()
        self._threads: list[threading.Thread] = []
        self._listeners: list[Callable[[], None]] = []
        self._http = httpx.Client(headers=self._headers, timeout=timeout)
        # Until its headers arrive a stream request waits `timeout` like any other (a hung
        # server must not hold a reconnect for 40 s); then reads may wait for the heartbeat.
        self._stream_http = httpx.Client(headers=self._headers, timeout=timeout)
        self._stream_socket: socket.socket | None = None
        self._stream_connected = False
        self._last_failure: str | None = None
        self.last_fetch_at: float | None = None  # monotonic time of the last answer
        if bootstrap_path is not None:
            self._load_bootstrap(bootstrap_path)
        if start:
            self.start()

    # -- evaluation (hot path: no I/O, no locks except the count) --

    def evaluate(
        self,
        key: str,
        default: Any = None,
        context: Mapping[str, Any] | None = None,
        *,
        expected_type: str | None = None,
    ) -> FlagDetails:
        """Evaluate `key` for `context`; on any problem the details carry `default`."""
        try:
            snapshot = self._snapshot
            flag = snapshot.flags.get(key)
            if flag is None:
                message = f"flag {key!r} not found"
                return FlagDetails(key, default, None, Reason.ERROR, "FLAG_NOT_FOUND", message)
            result = evaluate(flag, context, snapshot.unhealthy, snapshot.flags, expected_type)
            if result.reason is _ERROR:
                return FlagDetails(
                    key, default, None, result.reason, result.error_code, result.error_message
                )
            if self.metrics_interval:
                self._count(key, result)
            return FlagDetails(key, result.value, result.variant, result.reason)
        except Exception as exc:  # the promise: evaluation never raises into the application
            return FlagDetails(key, default, None, Reason.ERROR, "GENERAL", str(exc))

    def bool_value(self, key: str, default: bool, context: Mapping[str, Any] | None = None) -> bool:
        """The flag's boolean value, or `default` when it cannot be evaluated."""
        try:
            snapshot = self._snapshot
            flag = snapshot.flags.get(key)
            if flag is None or flag.type != "boolean":
                return default
            result = evaluate(flag, context, snapshot.unhealthy, snapshot.flags)
            if result.reason is _ERROR:
                return default
            if self.metrics_interval:
                # The counting of _count, inlined: this is the hottest path of the SDK.
                try:
                    counts = self._local.counts
                except AttributeError:
                    counts = self._counter.register()
                entry = counts.get(id(result))
                if entry is None:
                    entry = self._counter.add(counts, key, result)
                entry[COUNT] += 1
            return result.value is True
        except Exception:
            return default

    def string_value(self, key: str, default: str, context: Mapping[str, Any] | None = None) -> str:
        """The flag's string value, or `default` when it cannot be evaluated."""
        value = self.evaluate(key, default, context, expected_type="string").value
        return value if isinstance(value, str) else default

    def number_value(
        self, key: str, default: float, context: Mapping[str, Any] | None = None
    ) -> float:
        """The flag's number value, or `default` when it cannot be evaluated."""
        value = self.evaluate(key, default, context, expected_type="number").value
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return value if ok else default  # type: ignore[no-any-return]

    def json_value(self, key: str, default: Any, context: Mapping[str, Any] | None = None) -> Any:
        """The flag's JSON value (shared: copy before changing it), or `default`."""
        return self.evaluate(key, default, context, expected_type="json").value

    def _count(self, key: str, result: Any) -> None:
        # Lock-free: each thread counts into its own dict (see sdk/metrics.py).
        try:
            counts = self._local.counts
        except AttributeError:
            counts = self._counter.register()
        entry = counts.get(id(result))
        if entry is None:
            entry = self._counter.add(counts, key, result)
        entry[COUNT] += 1

    def evaluation_counts(self) -> dict[str, dict[str, int]]:
        """Evaluations not reported yet, `{flag: {variant: n}}`."""
        return self._counter.collect()[0]

    # -- dependency guards --

    def guard(
        self,
        dependency: str,
        *,
        timeout: float | None = None,
        ignore: tuple[type[BaseException], ...] = (),
    ) -> Guard:
        """A context manager (sync or async) guarding one call of `dependency`.

        Raises DependencyUnavailable on entry while its circuit is open (the block does not
        run), and ConfigurationError for an invalid name or timeout. See `trimtab.sdk.guard`.
        """
        return Guard(self._tracker, dependency, timeout=timeout, ignore=ignore)

    def guarded(
        self,
        dependency: str,
        *,
        timeout: float | None = None,
        ignore: tuple[type[BaseException], ...] = (),
    ) -> Callable[[Callable[P, R]], Callable[P, R]]:
        """A decorator guarding every call of a sync or async function (see `guard`)."""
        return guarded(self._tracker, dependency, timeout=timeout, ignore=ignore)

    def dependency_states(self) -> dict[str, str]:
        """Each guarded dependency's breaker state: closed, open or half_open."""
        return self._tracker.states()

    def _breaker_changed(self, name: str, before: str, after: str) -> None:
        log.warning("trimtab: dependency %r circuit %s -> %s", name, before, after)
        self._refresh_local_open()
        self._wake.set()  # report the change now, not at the next interval

    def _refresh_local_open(self) -> None:
        local_open = self._tracker.open_dependencies()
        if local_open != self._local_open:
            self._local_open = local_open
            self._snapshot = _Snapshot(self._snapshot.rules, local_open)

    # -- state --

    @property
    def ready(self) -> bool:
        """Whether rules are loaded (from the server or a bootstrap file)."""
        return self._ready.is_set()

    @property
    def etag(self) -> str | None:
        return self._snapshot.rules.etag

    @property
    def stream_connected(self) -> bool:
        return self._stream_connected

    @property
    def unhealthy_dependencies(self) -> frozenset[str]:
        """Dependencies flags treat as failing: the server's list plus locally open breakers."""
        return self._snapshot.unhealthy

    def flag_keys(self) -> list[str]:
        return sorted(self._snapshot.flags)

    def wait_until_ready(self, timeout: float = 5.0) -> bool:
        """Block until rules are loaded, at most `timeout` s (not in an event loop: see
        `wait_until_ready_async`)."""
        return self._ready.wait(timeout)

    async def wait_until_ready_async(self, timeout: float = 5.0) -> bool:
        return await asyncio.to_thread(self._ready.wait, timeout)

    def save_bootstrap(self, path: str | os.PathLike[str] | None = None) -> bool:
        """Write the current rules as a bootstrap file; False (and a log line) on failure."""
        target = path if path is not None else self._bootstrap_path
        rules = self._snapshot.rules
        if target is None or rules is EMPTY:
            return False
        try:
            write_bootstrap(target, rules)
            return True
        except OSError as exc:
            log.warning("trimtab: cannot write bootstrap file %s: %s", target, exc)
            return False

    def _load_bootstrap(self, path: str | os.PathLike[str]) -> None:
        try:
            rules = load_bootstrap(path)
        except FileNotFoundError:
            log.info("trimtab: no bootstrap file at %s yet", path)
            return
        except (OSError, RuleSetError) as exc:
            log.warning("trimtab: ignoring bootstrap file %s: %s", path, exc)
            return
        self._install(rules, persist=False)

    def on_change(self, callback: Callable[[], None]) -> None:
        """Call `callback()` (from the background thread) whenever new rules are installed."""
        self._listeners.append(callback)

    def _install(self, rules: RuleSet, *, persist: bool) -> None:
        self._snapshot = _Snapshot(rules, self._local_open)
        self._ready.set()
        if persist and self._persist and self._bootstrap_path is not None:
            self.save_bootstrap()
        for callback in list(self._listeners):
            try:
                callback()
            except Exception:
                log.exception("trimtab: on_change callback failed")

    # -- lifecycle --

    def start(self) -> None:
        """Start the background thread(s); idempotent."""
        if self._threads or self._stop.is_set():
            return
        targets = [("trimtab-sdk-sync", self._sync_loop), ("trimtab-sdk-report", self._report_loop)]
        for name, target in targets:
            thread = threading.Thread(target=target, name=name, daemon=True)
            self._threads.append(thread)
            thread.start()

    def close(self, timeout: float = 2.0) -> None:
        """Stop the background work, sending the last counts and reports (best effort)."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._wake.set()
        self._interrupt_stream()
        for thread in self._threads:
            thread.join(timeout)
        self._flush()
        self._http.close()
        self._stream_http.close()

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)

    def __enter__(self) -> FlagClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> FlagClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- background: rules --

    def refresh(self) -> bool:
        """Fetch the rules now (ETag-conditional). True when the server answered."""
        with self._fetch_lock:
            if self._stop.is_set():
                return False
            headers = {}
            etag = self._snapshot.rules.etag
            if etag:
                headers["If-None-Match"] = etag
            try:
                response = self._http.get(self.url + FLAGS_PATH, headers=headers)
                if response.status_code == 304:
                    self._succeeded()
                    self._ready.set()
                    return True
                if response.status_code != 200:
                    self._failed(f"GET {FLAGS_PATH} answered {response.status_code}")
                    return False
                if len(response.content) > MAX_DOCUMENT_BYTES:
                    self._failed("rule set too large")
                    return False
                rules = parse_rule_set(orjson.loads(response.content), response.headers.get("ETag"))
            except (httpx.HTTPError, orjson.JSONDecodeError, RuleSetError, OSError) as exc:
                self._failed(f"GET {FLAGS_PATH}: {type(exc).__name__}: {exc}")
                return False
            self._succeeded()
            self._install(rules, persist=True)
            return True

    def _succeeded(self) -> None:
        self.last_fetch_at = time.monotonic()
        if self._last_failure is not None:
            log.warning("trimtab: server reachable again")
            self._last_failure = None

    def _failed(self, why: str) -> None:
        # Log the first failure loudly and the repeats quietly: a down server must not flood logs.
        level = logging.WARNING if self._last_failure is None else logging.DEBUG
        log.log(level, "trimtab: %s; serving the last known rules", why)
        self._last_failure = why

    def _sync_loop(self) -> None:
        self.refresh()
        if not self._use_stream:
            return
        backoff = BACKOFF_FIRST_S
        while not self._stop.is_set():
            connected_at = time.monotonic()
            try:
                self._run_stream()
            except Exception as exc:
                if not self._stop.is_set():
                    self._failed(f"stream: {type(exc).__name__}: {exc}")
            finally:
                self._stream_connected = False
                self._stream_socket = None
            if time.monotonic() - connected_at > STREAM_HEALTHY_AFTER_S:
                backoff = BACKOFF_FIRST_S  # it ran a good while: reconnect quickly
            # Jitter spreads reconnects when a server restart drops every SDK at once.
            wait, backoff = reconnect_delay(backoff, random.uniform(*JITTER))
            self._stop.wait(wait)

    def _run_stream(self) -> None:
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
        with self._stream_http.stream("GET", self.url + STREAM_PATH, headers=headers) as response:
            if response.status_code != 200:
                raise ConnectionError(f"stream answered {response.status_code}")
            # httpcore reads the body with the request's timeouts, looked up when the body's
            # first read starts: from here on, a read may wait for the next heartbeat.
            timeouts = dict(response.request.extensions.get("timeout") or {})
            response.request.extensions["timeout"] = {**timeouts, "read": STREAM_READ_TIMEOUT_S}
            stream = response.extensions.get("network_stream")
            if stream is not None:
                self._stream_socket = stream.get_extra_info("socket")
            if self._stop.is_set():
                return
            self._stream_connected = True
            # Connect first, then fetch: a change made in between arrives as an event.
            self.refresh()
            parser = EventParser()
            for line in response.iter_lines():
                event = parser.feed(line)
                if event is None:
                    continue
                if event.event == "flags.changed":
                    self._on_flags_changed(event.data)
                if self._stop.is_set():
                    return

    def _on_flags_changed(self, data: str) -> None:
        try:
            etag = orjson.loads(data).get("etag")
        except (orjson.JSONDecodeError, AttributeError):
            etag = None
        if etag is None or etag != self._snapshot.rules.etag:
            self.refresh()

    def _interrupt_stream(self) -> None:
        sock = self._stream_socket
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked reading the stream

    # -- background: polling and reports --

    def _report_loop(self) -> None:
        now = time.monotonic()
        next_poll = now + self.poll_interval
        next_metrics = now + (self.metrics_interval or math.inf)
        next_report = now + self.report_interval
        while not self._stop.is_set():
            trial = self._tracker.next_trial_in()
            wait = min(next_poll, next_metrics, next_report) - time.monotonic()
            if trial is not None:
                wait = min(wait, trial + 0.01)
            self._wake.wait(max(0.0, wait))
            woken = self._wake.is_set()
            self._wake.clear()
            if self._stop.is_set():
                return
            self._refresh_local_open()  # an open breaker may have turned half-open
            now = time.monotonic()
            if now >= next_poll:
                # The fallback while the stream is down, a cheap 304 safety net while it is up.
                self.refresh()
                next_poll = now + self.poll_interval
            if now >= next_report or woken:
                self._send_dependency_reports()
                next_report = now + self.report_interval
            if now >= next_metrics:
                self._send_metrics()
                next_metrics = now + self.metrics_interval

    def _flush(self) -> None:
        try:
            self._send_dependency_reports(timeout=1.0)
            self._send_metrics(timeout=1.0)
        except Exception as exc:  # close() must not raise either
            log.debug("trimtab: final flush failed: %s", exc)

    def _send_metrics(self, timeout: float | None = None) -> None:
        by_flag, marks = self._counter.collect()
        if not by_flag:
            return
        start, end = self._counts_since, datetime.now(UTC)
        body = {"start": start.isoformat(), "end": end.isoformat(), "counts": by_flag}
        # Unsent counts stay unreported and go with the next report.
        if self._post(METRICS_PATH, body, timeout):
            self._counter.commit(marks)
            self._counts_since = end

    def _send_dependency_reports(self, timeout: float | None = None) -> None:
        # The instance id lets the server keep this client's breaker state apart from other
        # processes': an open breaker counts until this same client reports it closed.
        extra = {"instance": self.instance_id, "interval_s": self.report_interval}
        for report in self._tracker.drain():
            path = f"/api/v1/sdk/dependencies/{quote(report.name, safe='')}/report"
            self._post(path, {**report.body(), **extra}, timeout)

    def _post(self, path: str, body: dict[str, Any], timeout: float | None = None) -> bool:
        try:
            response = self._http.post(
                self.url + path,
                content=orjson.dumps(body),
                headers={"Content-Type": "application/json"},
                timeout=timeout if timeout is not None else self._timeout,
            )
        except (httpx.HTTPError, OSError) as exc:
            self._failed(f"POST {path}: {type(exc).__name__}: {exc}")
            return False
        if response.status_code >= 300:
            self._failed(f"POST {path} answered {response.status_code}")
            return response.status_code < 500  # a 4xx will not get better by retrying
        return True
