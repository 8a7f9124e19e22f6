"""Dependency guards: count a dependency's failures and time-outs, and trip its breaker.

    with client.guard("billing-api", timeout=2.0):
        charge(card)

    @client.guarded("pay-library")
    def tokenize(card): ...

A guard records each call's outcome for the named dependency: an exception escaping the block
is a failure (re-raised untouched: the guard never swallows), a call that ran longer than
`timeout` seconds is a time-out (a failure too), anything else a success. Sync code cannot be
interrupted, so a slow sync call finishes and is then counted as a time-out; an async guarded
function is cancelled at `timeout` and raises GuardTimeout.

When the dependency's circuit breaker is open, entering the guard raises DependencyUnavailable
at once and the block does not run: that is the caller's signal to serve its fallback. The
client reports the counts and every state change to the server in the background, and a flag
bound to a dependency whose breaker is open serves its fallback variant immediately.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, ParamSpec, TypeVar

import httpx

from trimtab.core.names import InvalidName, check_name
from trimtab.sdk.breaker import CLOSED, OPEN, BreakerPolicy, CircuitBreaker
from trimtab.sdk.errors import ConfigurationError, DependencyUnavailable, GuardTimeout

P = ParamSpec("P")
R = TypeVar("R")

MAX_DEPENDENCIES = 256
_TIMEOUT_TYPES: tuple[type[BaseException], ...] = (TimeoutError, httpx.TimeoutException)


@dataclass(frozen=True)
class DependencyReport:
    """What one dependency did since the previous report (the body the server receives)."""

    name: str
    successes: int
    failures: int
    timeouts: int
    state: str
    window_s: float

    def body(self) -> dict[str, Any]:
        return {
            "successes": self.successes,
            "failures": self.failures,
            "timeouts": self.timeouts,
            "state": self.state,
            "window_s": round(self.window_s, 3),
        }


class _Counts:
    __slots__ = ("failures", "since", "state_changed", "successes", "timeouts")

    def __init__(self, since: float) -> None:
        self.successes = 0
        self.failures = 0
        self.timeouts = 0
        self.since = since
        self.state_changed = False


StateChange = Callable[[str, str, str], None]


class DependencyTracker:
    """Breakers and outcome counts for every dependency an application guards."""

    def __init__(
        self,
        policy: BreakerPolicy | None = None,
        *,
        on_state_change: StateChange | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policy = policy or BreakerPolicy()
        self._on_state_change = on_state_change
        self._clock = clock
        self._lock = threading.Lock()
        self._breakers: dict[str, CircuitBreaker] = {}
        self._counts: dict[str, _Counts] = {}

    def breaker(self, name: str) -> CircuitBreaker:
        found = self._breakers.get(name)
        if found is not None:
            return found
        try:
            check_name(name, "dependency name")
        except InvalidName as exc:
            raise ConfigurationError(str(exc)) from None
        with self._lock:
            found = self._breakers.get(name)
            if found is None:
                if len(self._breakers) >= MAX_DEPENDENCIES:
                    raise ConfigurationError(f"more than {MAX_DEPENDENCIES} guarded dependencies")
                found = CircuitBreaker(
                    name, self.policy, clock=self._clock, on_state_change=self._breaker_changed
                )
                self._breakers[name] = found
                self._counts[name] = _Counts(self._clock())
        return found

    def record(self, name: str, ok: bool, timed_out: bool) -> None:
        self.breaker(name).record(ok)
        with self._lock:
            counts = self._counts[name]
            if ok:
                counts.successes += 1
            elif timed_out:
                counts.timeouts += 1
            else:
                counts.failures += 1

    def states(self) -> dict[str, str]:
        return {name: breaker.state for name, breaker in list(self._breakers.items())}

    def open_dependencies(self) -> frozenset[str]:
        """Dependencies whose breaker refuses calls right now (open, not yet half-open)."""
        return frozenset(n for n, b in list(self._breakers.items()) if b.state == OPEN)

    def next_trial_in(self) -> float | None:
        """Seconds until the first open breaker goes half-open, if any is open."""
        waits = [w for b in list(self._breakers.values()) if (w := b.retry_in()) is not None]
        return min(waits) if waits else None

    def drain(self) -> list[DependencyReport]:
        """Reports for dependencies with news since the last drain; counters restart at zero.

        A dependency that is not closed is reported even without calls, so the server keeps
        seeing its open breaker.
        """
        now = self._clock()
        reports = []
        with self._lock:
            items = list(self._counts.items())
        for name, counts in items:
            state = self._breakers[name].state
            with self._lock:
                busy = counts.successes or counts.failures or counts.timeouts
                if not (busy or counts.state_changed or state != CLOSED):
                    continue
                reports.append(
                    DependencyReport(
                        name,
                        counts.successes,
                        counts.failures,
                        counts.timeouts,
                        state,
                        max(0.001, now - counts.since),
                    )
                )
                self._counts[name] = _Counts(now)
        return reports

    def _breaker_changed(self, breaker: CircuitBreaker, before: str, after: str) -> None:
        with self._lock:
            counts = self._counts.get(breaker.name)
            if counts is not None:
                counts.state_changed = True
        if self._on_state_change is not None:
            self._on_state_change(breaker.name, before, after)


class Guard:
    """One guarded call (single use): a sync and async context manager.

    Made by `FlagClient.guard(name)`; `FlagClient.guarded(name)` makes one per call.
    """

    __slots__ = ("_acquired", "_breaker", "_ignore", "_started", "_tracker", "name", "timeout")

    def __init__(
        self,
        tracker: DependencyTracker,
        name: str,
        *,
        timeout: float | None = None,
        ignore: tuple[type[BaseException], ...] = (),
    ) -> None:
        if timeout is not None and not timeout > 0:
            raise ConfigurationError("timeout must be positive")
        self._tracker = tracker
        self._breaker = tracker.breaker(name)
        self.name = name
        self.timeout = timeout
        self._ignore = ignore
        self._started = 0.0
        self._acquired = False

    def __enter__(self) -> Guard:
        if not self._breaker.acquire():
            raise DependencyUnavailable(self.name, self._breaker.retry_in())
        self._acquired = True
        self._started = time.perf_counter()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._finish(exc)

    async def __aenter__(self) -> Guard:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._finish(exc)

    def _finish(self, exc: BaseException | None) -> None:
        if not self._acquired:
            return
        self._acquired = False
        elapsed = time.perf_counter() - self._started
        if isinstance(exc, DependencyUnavailable | asyncio.CancelledError | GeneratorExit):
            # Not this dependency's doing: a nested guard refused, or the caller cancelled.
            self._breaker.release()
            return
        if exc is not None and self._ignore and isinstance(exc, self._ignore):
            exc = None  # the application says this exception is an answer, not a failure
        timed_out = (self.timeout is not None and elapsed > self.timeout) or isinstance(
            exc, _TIMEOUT_TYPES
        )
        ok = exc is None and not timed_out
        self._tracker.record(self.name, ok, timed_out)


def guarded(
    tracker: DependencyTracker,
    name: str,
    *,
    timeout: float | None = None,
    ignore: tuple[type[BaseException], ...] = (),
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """A decorator guarding every call of a sync or async function (see the module doc)."""
    tracker.breaker(name)  # validate the name now, at decoration time
    if timeout is not None and not timeout > 0:
        raise ConfigurationError("timeout must be positive")

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def run_async(*args: P.args, **kwargs: P.kwargs) -> Any:
                async with Guard(tracker, name, timeout=timeout, ignore=ignore):
                    if timeout is None:
                        return await fn(*args, **kwargs)
                    try:
                        return await asyncio.wait_for(fn(*args, **kwargs), timeout)
                    except TimeoutError as exc:
                        raise GuardTimeout(name, timeout) from exc

            return run_async  # type: ignore[return-value]

        @functools.wraps(fn)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            with Guard(tracker, name, timeout=timeout, ignore=ignore):
                return fn(*args, **kwargs)

        return run

    return decorate


__all__ = ["DependencyReport", "DependencyTracker", "Guard", "guarded"]
