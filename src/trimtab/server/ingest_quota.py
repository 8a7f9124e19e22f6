"""The ingest quota of one server process: requests count and decide in memory
(`domain.reports.ingest_quota.QuotaCounter`, no I/O on the event loop); one small thread adds
the counts to the rows every process shares and brings back the cluster's totals. How the
quota is counted, and how far the cluster may overshoot it, is in the domain module.

On SQLite the flush takes its turn among the processes' ingest writers
(`store.ingest_writer.writers_turn`), as they do among themselves.

A failing flush never fails ingest: its counts go back to the counter, which keeps deciding on
what this process knows, and the next flush (after a pause) adds them. The first failure is
logged; the rest are not, until a flush succeeds again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from trimtab.domain.reports import ingest_quota
from trimtab.domain.reports.ingest_quota import Flush, QuotaCounter
from trimtab.store.db import Store
from trimtab.store.ingest_writer import writers_turn
from trimtab.threads import name_os_thread

__all__ = ["IngestQuota"]

log = logging.getLogger("trimtab.ingest")

TICK_S = 0.25  # how often the thread looks for keys whose second is up
STOP_WAIT_S = 10.0


class IngestQuota:
    """`retry_after` and `take` for the ingest endpoints; `start`/`stop` run the flush thread."""

    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.counter = QuotaCounter(clock)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False
        self._pruned_window: int | None = None

    def retry_after(self, public_key: str, limit: int) -> int | None:
        """Seconds to wait when the key's minute is used up, else None."""
        return self.counter.retry_after(public_key, limit)

    def take(self, public_key: str, limit: int) -> int | None:
        """Count one event; seconds to wait instead when the key's minute is used up."""
        wait = self.counter.take(public_key, limit)
        if self.counter.due and not self._wake.is_set():
            self._wake.set()
        return wait

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="trimtab-ingest-quota", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Flush what is counted (other processes go on using this minute), then end."""
        if self._thread is None:
            return
        self._stopping.set()
        self._wake.set()
        self._thread.join(STOP_WAIT_S)
        self._thread = None

    def _run(self) -> None:
        name_os_thread()
        while not self._stopping.is_set():
            self._wake.wait(TICK_S)
            self._wake.clear()
            if not self.flush() and not self._stopping.is_set():
                self._stopping.wait(ingest_quota.FLUSH_S)  # the database is failing: pause
        self.flush(everything=True)

    def flush(self, everything: bool = False) -> bool:
        """Add the counts that are due to the shared rows; False if the database failed."""
        flush = self.counter.collect(everything)
        if flush is None:
            return True
        try:
            totals = self._write(flush)
        except Exception:
            self.counter.restore(flush)
            if not self._failing:
                self._failing = True
                log.warning(
                    "ingest quota: could not add this process's counts to the shared ones; "
                    "limiting on its own counts until the database answers",
                    exc_info=True,
                )
            return False
        if self._failing:
            self._failing = False
            log.warning("ingest quota: shared counts written again")
        self.counter.settle(flush, totals)
        return True

    def _write(self, flush: Flush) -> dict[str, int]:
        with writers_turn(self.store), self.store.write() as session:
            totals = ingest_quota.add_counts(session, flush)
            if self._pruned_window != flush.window:
                ingest_quota.prune_windows(session, flush.window)
        self._pruned_window = flush.window
        return totals
