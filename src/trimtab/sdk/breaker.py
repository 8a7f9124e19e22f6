"""A circuit breaker: stop calling a dependency that keeps failing, try again later.

States, as in every breaker people know (Hystrix, resilience4j, Polly):

- ``closed``: calls go through; outcomes are recorded in a sliding time window.
- ``open``: entered after `consecutive_failures` failures in a row, or when at least
  `minimum_calls` calls in the last `window_s` seconds failed at `failure_rate` or more.
  Calls are refused at once for `open_s` seconds.
- ``half_open``: after `open_s`, exactly one trial call goes through (others are refused).
  Success closes the breaker and clears the window; failure opens it again for `open_s`.

Thread-safe. Time comes from `clock` (monotonic seconds) so tests can drive it.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from trimtab.sdk.errors import ConfigurationError

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


@dataclass(frozen=True)
class BreakerPolicy:
    """When a breaker opens and how long it stays open."""

    consecutive_failures: int = 5
    failure_rate: float = 0.5
    minimum_calls: int = 20
    window_s: float = 30.0
    open_s: float = 10.0

    def __post_init__(self) -> None:
        if self.consecutive_failures < 1:
            raise ConfigurationError("consecutive_failures must be at least 1")
        if not 0.0 < self.failure_rate <= 1.0:
            raise ConfigurationError("failure_rate must be in (0, 1]")
        if self.minimum_calls < 1:
            raise ConfigurationError("minimum_calls must be at least 1")
        if not (math.isfinite(self.window_s) and self.window_s >= 1.0):
            raise ConfigurationError("window_s must be at least 1 second")
        if not (math.isfinite(self.open_s) and self.open_s > 0.0):
            raise ConfigurationError("open_s must be positive")


StateListener = Callable[["CircuitBreaker", str, str], None]


class CircuitBreaker:
    """One dependency's breaker. Ask `acquire()` before a call, then report `record(ok)`."""

    def __init__(
        self,
        name: str,
        policy: BreakerPolicy | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_state_change: StateListener | None = None,
    ) -> None:
        self.name = name
        self.policy = policy or BreakerPolicy()
        self._clock = clock
        self._listener = on_state_change
        self._lock = threading.Lock()
        self._state = CLOSED
        self._opened_at = 0.0
        self._trial_in_flight = False
        self._consecutive = 0
        # One bucket per whole second: [second, calls, failures]. Bounded by window_s entries.
        self._buckets: deque[list[int]] = deque()

    @property
    def state(self) -> str:
        """`closed`, `open` or `half_open` (an open breaker past `open_s` reads half_open)."""
        with self._lock:
            return self._current_state(self._clock())

    def retry_in(self) -> float | None:
        """Seconds until an open breaker lets a trial through; None unless open."""
        with self._lock:
            now = self._clock()
            if self._current_state(now) != OPEN:
                return None
            return max(0.0, self._opened_at + self.policy.open_s - now)

    def acquire(self) -> bool:
        """May a call go through now? In half_open, True for exactly one trial at a time."""
        changed: tuple[str, str] | None = None
        with self._lock:
            now = self._clock()
            state = self._current_state(now)
            if state == CLOSED:
                return True
            if state == OPEN or self._trial_in_flight:
                return False
            if self._state == OPEN:  # first call after open_s: it becomes the trial
                self._state = HALF_OPEN
                changed = (OPEN, HALF_OPEN)
            self._trial_in_flight = True
        if changed:
            self._notify(*changed)
        return True

    def release(self) -> None:
        """Give back a trial slot taken by `acquire` without an outcome (the call never ran)."""
        with self._lock:
            self._trial_in_flight = False

    def record(self, ok: bool) -> None:
        """Record the outcome of a call that `acquire` let through."""
        changed: tuple[str, str] | None = None
        with self._lock:
            now = self._clock()
            previous = self._state
            if previous == HALF_OPEN:
                self._trial_in_flight = False
                if ok:
                    self._close()
                else:
                    self._open(now)
            else:
                self._add(now, ok)
                if previous == CLOSED and self._should_open(now):
                    self._open(now)
            if self._state != previous:
                changed = (previous, self._state)
        if changed:
            self._notify(*changed)

    def window_counts(self) -> tuple[int, int]:
        """(calls, failures) in the sliding window."""
        with self._lock:
            self._expire(self._clock())
            return sum(b[1] for b in self._buckets), sum(b[2] for b in self._buckets)

    # -- internals (lock held) --

    def _current_state(self, now: float) -> str:
        if self._state == OPEN and now >= self._opened_at + self.policy.open_s:
            return HALF_OPEN
        return self._state

    def _add(self, now: float, ok: bool) -> None:
        self._consecutive = 0 if ok else self._consecutive + 1
        second = int(now)
        if self._buckets and self._buckets[-1][0] == second:
            bucket = self._buckets[-1]
        else:
            bucket = [second, 0, 0]
            self._buckets.append(bucket)
        bucket[1] += 1
        if not ok:
            bucket[2] += 1
        self._expire(now)

    def _expire(self, now: float) -> None:
        oldest = int(now - self.policy.window_s)
        while self._buckets and self._buckets[0][0] <= oldest:
            self._buckets.popleft()

    def _should_open(self, now: float) -> bool:
        if self._consecutive >= self.policy.consecutive_failures:
            return True
        calls = sum(b[1] for b in self._buckets)
        if calls < self.policy.minimum_calls:
            return False
        failures = sum(b[2] for b in self._buckets)
        return failures / calls >= self.policy.failure_rate

    def _open(self, now: float) -> None:
        self._state = OPEN
        self._opened_at = now

    def _close(self) -> None:
        self._state = CLOSED
        self._consecutive = 0
        self._buckets.clear()

    def _notify(self, before: str, after: str) -> None:
        if self._listener is not None:
            # A listener bug must not break the guarded call.
            with contextlib.suppress(Exception):
                self._listener(self, before, after)
