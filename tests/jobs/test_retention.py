"""Retention: old events and events beyond the per-issue cap go in small batches; issues keep
their counts; ingest keeps committing while pruning runs."""

from __future__ import annotations

import dataclasses
import platform
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import func, select

from trimtab.core.sentry_logs import parse_log_item
from trimtab.core.sessions import parse_session
from trimtab.domain.reports import ingest, logs, release_health, usage
from trimtab.domain.spine import projects
from trimtab.domain.spine.actors import SYSTEM
from trimtab.jobs import retention
from trimtab.settings import Settings
from trimtab.store import rollups
from trimtab.store.db import Store
from trimtab.store.models import (
    ErrorRollup,
    Event,
    HealthSession,
    IngestUsageDay,
    Issue,
    LogLine,
)

NOW = datetime.now(UTC).replace(microsecond=0)


def _project(store: Store) -> int:
    with store.write() as session:
        projects.ensure_organization(session, "acme")
        return projects.create_project(session, SYSTEM, "shop").id


def _event(error: str = "TimeoutError") -> dict[str, Any]:
    return {
        "event_id": uuid.uuid4().hex,
        "platform": "python",
        "environment": "production",
        "release": "shop@2.3.0",
        "exception": {"values": [{"type": error, "value": "billing did not answer"}]},
        "user": {"id": "u1"},
    }


def _store(
    store: Store, pid: int, n: int, received_at: datetime, error: str = "TimeoutError"
) -> int:
    prepared = []
    for i in range(n):
        event = _event(error)
        event["timestamp"] = (received_at + timedelta(seconds=i)).timestamp()
        prepared.append(
            ingest.prepare_event(
                pid, event, orjson.dumps(event), received_at + timedelta(seconds=i)
            )
        )
    with store.write() as session:
        return ingest.store_events(session, prepared)[0].issue_id


def _stored(store: Store, issue_id: int | None = None) -> int:
    with store.read() as session:
        query = select(func.count()).select_from(Event)
        if issue_id is not None:
            query = query.where(Event.issue_id == issue_id)
        return int(session.scalar(query) or 0)


def test_prune__events_older_than_retention__removed_issue_counts_kept(
    store: Store, settings: Settings
) -> None:
    pid = _project(store)
    old_issue = _store(store, pid, 30, NOW - timedelta(days=100), "OldError")
    mixed = _store(store, pid, 7, NOW - timedelta(days=95))
    _store(store, pid, 5, NOW - timedelta(days=1))
    report = retention.prune(store, settings, now=NOW, batch=10)
    assert report.old_events == 37 and report.finished
    assert _stored(store, old_issue) == 0 and _stored(store, mixed) == 5
    with store.read() as session:
        kept = session.get(Issue, old_issue)
        assert kept is not None and kept.event_count == 30 and kept.user_count == 1
        assert session.get(Issue, mixed).event_count == 12  # type: ignore[union-attr]


def test_prune__issue_over_cap__oldest_beyond_cap_removed(store: Store, settings: Settings) -> None:
    pid = _project(store)
    capped = dataclasses.replace(settings, max_events_per_issue=25)
    issue_id = _store(store, pid, 40, NOW - timedelta(hours=2))
    small = _store(store, pid, 10, NOW - timedelta(hours=2), "KeyError")
    with store.read() as session:
        newest = set(
            session.scalars(
                select(Event.id)
                .where(Event.issue_id == issue_id)
                .order_by(Event.received_at.desc())
                .limit(25)
            )
        )
    report = retention.prune(store, capped, now=NOW, batch=4)
    assert report.excess_events == 15 and report.issues_checked == [issue_id]
    with store.read() as session:
        left = set(session.scalars(select(Event.id).where(Event.issue_id == issue_id)))
        assert left == newest
        assert session.get(Issue, issue_id).event_count == 40  # type: ignore[union-attr]
    assert _stored(store, small) == 10
    # A second run finds nothing more to do.
    assert retention.prune(store, capped, now=NOW).excess_events == 0


def test_prune__zero_settings__keep_everything(store: Store, settings: Settings) -> None:
    pid = _project(store)
    _store(store, pid, 5, NOW - timedelta(days=1000))
    keep = dataclasses.replace(settings, retention_days=0, max_events_per_issue=0)
    report = retention.prune(store, keep, now=NOW)
    assert (report.old_events, report.excess_events, _stored(store)) == (0, 0, 5)


def test_prune__old_rollups_and_sessions__removed_recent_kept(
    store: Store, settings: Settings
) -> None:
    pid = _project(store)
    with store.write() as session:
        for age in (timedelta(days=120), timedelta(days=2)):
            rollups.add_counts(session, pid, "production", NOW - age, {rollups.TOTAL: 3})
            payload = {
                "sid": f"s-{age.days}",
                "status": "exited",
                "init": True,
                "started": (NOW - age).isoformat(),
                "timestamp": (NOW - age).isoformat(),
                "attrs": {"release": "shop@2.3.0"},
            }
            release_health.record_sessions(session, pid, [parse_session(payload, NOW)], [])
    retention.prune(store, settings, now=NOW)
    with store.read() as session:
        assert session.scalar(select(func.count()).select_from(ErrorRollup)) == 1
        assert session.scalars(select(HealthSession.session_id)).all() == ["s-2"]


def test_prune__ingest_commits_between_batches(store: Store, settings: Settings) -> None:
    pid = _project(store)
    for _ in range(4):
        _store(store, pid, 500, NOW - timedelta(days=200))
    done = threading.Event()
    commits_during_prune: list[int] = []

    def ingest_loop() -> None:
        while not done.is_set():
            _store(store, pid, 1, NOW, "LiveError")
            commits_during_prune.append(1)
            time.sleep(0.01)  # traffic, not a tight loop that would starve the pruner

    writer = threading.Thread(target=ingest_loop)
    writer.start()
    try:
        report = retention.prune(store, settings, now=NOW, batch=50)
    finally:
        done.set()
        writer.join()
    assert report.old_events == 2000
    # 40 short transactions: the concurrent writer got the lock between them, repeatedly.
    assert len(commits_during_prune) >= 3


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(
    not Path("/proc/self/status").exists() or platform.libc_ver()[0] != "glibc",
    reason="RSS from /proc and malloc_trim are glibc on Linux",
)
def test_release_freed_memory__freed_in_a_worker_thread__goes_back_to_the_os() -> None:
    # What a pruning run leaves behind: memory freed in a worker thread's malloc arena, kept
    # there by glibc (the last block stays alive, so free() cannot shrink the arena's top).
    kept: list[bytearray] = []

    def work() -> None:
        blocks = [bytearray(4096) for _ in range(8192)]  # 32 MiB in 4 KiB blocks
        kept.append(blocks[-1])
        del blocks

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    before = _rss_kib()
    retention.release_freed_memory()
    after = _rss_kib()
    assert before - after > 16 * 1024, (before, after)


def test_prune__log_lines_and_usage_days__removed_after_their_horizons(
    store: Store, settings: Settings
) -> None:
    pid = _project(store)
    record = parse_log_item({"items": [{"body": "charging card"}]}, NOW).records[0]
    with store.write() as session:
        logs.store_logs(session, [(pid, [record])], now=NOW - timedelta(days=31))
        logs.store_logs(session, [(pid, [record, record])], now=NOW - timedelta(days=29))
        usage.record_usage(session, {(pid, "span", "not_supported"): 5}, NOW - timedelta(days=91))
    report = retention.prune(store, settings, now=NOW, batch=10)
    assert report.log_lines == 1
    with store.read() as session:
        assert session.scalar(select(func.count()).select_from(LogLine)) == 2
        days = session.scalars(select(IngestUsageDay.category)).all()
        assert sorted(days) == ["log_item", "log_item"]  # the two days of stored lines
    longer = dataclasses.replace(settings, log_retention_days=0)  # as long as events: 90 days
    assert retention.prune(store, longer, now=NOW + timedelta(days=30)).log_lines == 0
