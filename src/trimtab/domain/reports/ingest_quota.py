"""The ingest quota: events per minute per DSN key (`rate_limit_per_minute`, else
`TRIMTAB_INGEST_RATE_LIMIT`), counted across every server process on one database: the nodes on
one PostgreSQL, the workers of `serve --workers N` on one SQLite file.

A database round trip per event would cost ingest its speed, so each process counts in its own
`QuotaCounter` and decides at once, on the cluster's total as it last read it plus what it
counted since. A small thread of the server (server/ingest_quota.py) `collect`s the counts,
adds them to the key's row for the minute (`add_counts`: one atomic upsert, which also answers
the cluster's new total) and hands the totals back (`settle`). A key is flushed at most about
once a second (`FLUSH_S`), sooner when its unflushed count reaches a tenth of the limit, and at
once on its first event of a minute, when the process knows nothing yet of the others' counts.

What that costs, and what bounds it: a process learns of the others' events up to about a
second late, so the cluster may accept more than the limit by at most about one second of each
process's traffic for the key (nodes x 1 s), never by more than each process's own limit. A
refusal is never wrong: totals only grow within a minute, so a stale total is too low, not too
high. Windows are whole minutes of each node's clock (UTC), so nodes need synchronised clocks
(NTP); a node whose clock is off counts its events near a minute's edge into the other minute.

If the database cannot be written, counts stay local (the process limits on its own knowledge)
and are added at the next flush that succeeds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import delete
from sqlalchemy.orm import Session

from trimtab.store.db import upsert
from trimtab.store.models import IngestQuotaWindow

__all__ = ["FLUSH_S", "Flush", "QuotaCounter", "add_counts", "prune_windows", "window_start"]

FLUSH_S = 1.0
SHARE = 10  # a key is flushed early once its unflushed count reaches 1/SHARE of its limit
MAX_KEYS = 10_000  # keys counted at once per process; only keys with a limit are counted
ROWS_PER_STATEMENT = 1000  # well under SQLite's 32,766 bound parameters (3 a row)


def window_start(window: int) -> datetime:
    """The start of minute `window` (minutes since the epoch)."""
    return datetime.fromtimestamp(window * 60, UTC)


@dataclass(slots=True)
class _Tally:
    """One key's minute, as this process knows it."""

    window: int
    limit: int
    cluster: int = 0  # the cluster's total at the last flush (this process's flushed counts too)
    in_flight: int = 0  # being added by the flush under way
    pending: int = 0  # counted since, not flushed yet
    read: bool = False  # whether `cluster` was read in this window
    flushed_at: float = float("-inf")

    @property
    def used(self) -> int:
        return self.cluster + self.in_flight + self.pending

    def due(self, now: float) -> bool:
        return self.pending > 0 and (
            not self.read
            or self.pending >= max(1, self.limit // SHARE)
            or now - self.flushed_at >= FLUSH_S
        )


@dataclass(frozen=True)
class Flush:
    """Counts to add to one minute's rows: public key -> events."""

    window: int
    counts: dict[str, int] = field(default_factory=dict)


class QuotaCounter:
    """One process's counts and decisions. No I/O: the caller adds `collect`ed counts to the
    store and hands back the totals (`settle`), or the counts (`restore`) if that failed.
    Thread-safe: requests count on the event loop, the flush runs in a thread."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.due = False  # some key wants a flush now (read without the lock: a hint)
        self._tallies: dict[str, _Tally] = {}
        self._lock = threading.Lock()

    def retry_after(self, public_key: str, limit: int) -> int | None:
        """Seconds to wait when the key's minute is used up, else None. Counts nothing."""
        now = self.clock()
        with self._lock:
            tally = self._tallies.get(public_key)
            if tally is None or tally.window != _window(now) or tally.used < limit:
                return None
        return _rest_of_minute(now)

    def take(self, public_key: str, limit: int) -> int | None:
        """Count one event; seconds to wait instead when the key's minute is used up."""
        now = self.clock()
        window = _window(now)
        with self._lock:
            tally = self._tallies.get(public_key)
            if tally is None or tally.window != window:
                if len(self._tallies) >= MAX_KEYS:
                    self._forget_old(window)
                    if len(self._tallies) >= MAX_KEYS:  # a bound on memory before all else
                        self._tallies.clear()
                tally = self._tallies[public_key] = _Tally(window, limit)
            tally.limit = limit
            if tally.used >= limit:
                return _rest_of_minute(now)
            tally.pending += 1
            if not self.due and tally.due(now):
                self.due = True
        return None

    def collect(self, everything: bool = False) -> Flush | None:
        """The counts due for a flush (all unflushed ones with `everything`), now in flight."""
        now = self.clock()
        window = _window(now)
        flush = Flush(window)
        with self._lock:
            self.due = False
            self._forget_old(window)
            for public_key, tally in self._tallies.items():
                if tally.window == window and ((everything and tally.pending) or tally.due(now)):
                    flush.counts[public_key] = tally.pending
                    tally.in_flight += tally.pending
                    tally.pending = 0
                    tally.flushed_at = now
        return flush if flush.counts else None

    def settle(self, flush: Flush, totals: Mapping[str, int]) -> None:
        """The flush is stored; `totals` are the cluster's totals it read back."""
        with self._lock:
            for public_key, count in flush.counts.items():
                tally = self._tallies.get(public_key)
                if tally is None or tally.window != flush.window:
                    continue  # its minute is over
                tally.in_flight -= count
                tally.cluster = max(tally.cluster, totals.get(public_key, 0))
                tally.read = True

    def restore(self, flush: Flush) -> None:
        """The flush failed: its counts are local again, to be added at the next one."""
        with self._lock:
            for public_key, count in flush.counts.items():
                tally = self._tallies.get(public_key)
                if tally is not None and tally.window == flush.window:
                    tally.in_flight -= count
                    tally.pending += count

    def _forget_old(self, window: int) -> None:
        # Past minutes no longer decide anything; their unflushed counts are dropped with them.
        old = [k for k, t in self._tallies.items() if t.window != window and not t.in_flight]
        for public_key in old:
            del self._tallies[public_key]


def _window(now: float) -> int:
    return int(now // 60)


def _rest_of_minute(now: float) -> int:
    return max(1, 60 - int(now % 60))


def add_counts(session: Session, flush: Flush) -> dict[str, int]:
    """Add the flush's counts to the shared rows of its minute; the cluster's new totals."""
    start = window_start(flush.window)
    # Sorted, so that two nodes upserting the same keys lock their rows in the same order.
    rows = [
        {"public_key": public_key, "window_start": start, "count": count}
        for public_key, count in sorted(flush.counts.items())
    ]
    totals: dict[str, int] = {}
    for at in range(0, len(rows), ROWS_PER_STATEMENT):
        statement = upsert(session, IngestQuotaWindow).values(rows[at : at + ROWS_PER_STATEMENT])
        statement = statement.on_conflict_do_update(
            index_elements=["public_key", "window_start"],
            set_={"count": IngestQuotaWindow.count + statement.excluded.count},
        ).returning(IngestQuotaWindow.public_key, IngestQuotaWindow.count)
        totals.update((public_key, count) for public_key, count in session.execute(statement))
    return totals


def prune_windows(session: Session, window: int) -> int:
    """Delete the rows of minutes before the one preceding `window`; how many."""
    result = session.execute(
        delete(IngestQuotaWindow).where(IngestQuotaWindow.window_start < window_start(window - 1))
    )
    return int(getattr(result, "rowcount", 0) or 0)
