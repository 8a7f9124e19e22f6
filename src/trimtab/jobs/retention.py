"""The retention job: prune in small batches, one short transaction each, so that ingest (which
needs the same write lock on SQLite) waits at most one batch. A run stops after a time budget;
what is left is picked up by the next run."""

from __future__ import annotations

import ctypes
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy.orm import Session

from trimtab.domain.reports import artifacts, logs, retention
from trimtab.jobs.scheduler import Job
from trimtab.settings import Settings
from trimtab.store.db import Store
from trimtab.store.models import utcnow

INTERVAL_S = 300.0
RUN_BUDGET_S = 30.0
PAUSE_S = 0.005  # between batches: let a waiting writer take the lock
# sentry-cli assembles right after uploading; a chunk older than this belongs to an upload
# that was abandoned.
CHUNK_TTL = timedelta(hours=1)


@dataclass
class RetentionReport:
    old_events: int = 0
    excess_events: int = 0
    series_rows: int = 0
    upload_chunks: int = 0  # sentry-cli uploads never assembled
    bundles: int = 0  # source map bundles gone with their release
    log_lines: int = 0  # Sentry log lines past TRIMTAB_LOG_RETENTION_DAYS
    finished: bool = True  # False when the budget ran out with work left
    issues_checked: list[int] = field(default_factory=list)


def prune(
    store: Store,
    settings: Settings,
    *,
    now: datetime | None = None,
    budget_s: float = RUN_BUDGET_S,
    batch: int = retention.BATCH,
) -> RetentionReport:
    now = now or utcnow()
    deadline = time.monotonic() + budget_s
    report = RetentionReport()

    def drain(step: Callable[[Session], int]) -> int:
        total = 0
        while True:
            if time.monotonic() > deadline:
                report.finished = False
                return total
            with store.write() as session:
                removed = step(session)
            total += removed
            if removed < batch:
                return total
            time.sleep(PAUSE_S)

    chunk_cutoff = now - CHUNK_TTL
    report.upload_chunks = drain(lambda s: artifacts.prune_chunks(s, chunk_cutoff, batch))
    if settings.retention_days > 0:
        cutoff = now - timedelta(days=settings.retention_days)
        report.old_events = drain(lambda s: retention.prune_old_events(s, cutoff, batch))
        report.series_rows = drain(lambda s: retention.prune_old_series(s, cutoff, batch))
        report.bundles = drain(lambda s: artifacts.prune_bundles(s, cutoff, batch))
    log_days = settings.log_retention_days or settings.retention_days
    if log_days > 0:
        log_cutoff = now - timedelta(days=log_days)
        report.log_lines = drain(lambda s: logs.prune_old_logs(s, log_cutoff, batch))
    cap = settings.max_events_per_issue
    if cap > 0:
        with store.read() as session:
            candidates = retention.issues_over_cap(session, cap)
        for issue_id in candidates:
            report.issues_checked.append(issue_id)
            step = partial(
                retention.prune_issue_excess, issue_id=issue_id, max_events=cap, limit=batch
            )
            report.excess_events += drain(step)
            if not report.finished:
                break
    return report


def run_retention(store: Store, settings: Settings) -> None:
    report = prune(store, settings)
    if (
        report.old_events
        or report.excess_events
        or report.series_rows
        or report.bundles
        or report.log_lines
    ):
        release_freed_memory()


def release_freed_memory() -> None:
    """Hand memory that was freed back to the OS (glibc's malloc_trim; a no-op elsewhere).

    A pruning run's delete transactions use a few MB at their peak (SQLite's page cache and
    statement memory, here 3.2 -> 7.1 MB in `make soak`), freed when they commit. glibc keeps
    freed memory in the malloc arena of the worker thread that ran the job, and jobs run on any
    of the default executor's threads, so without this RSS steps up by that peak each time a
    run lands on a thread that has not run one before (+6, +3, +4 MB at the 15, 20 and 25
    minute runs of a 30-minute soak), until every thread has held one.
    """
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # not glibc
        return
    trim(0)


def retention_jobs() -> list[Job]:
    return [Job("retention", INTERVAL_S, run_retention)]
