"""The ingest quota of a server process (server/ingest_quota.py) on the real store: two
processes' quotas on one database share the key's minute, and a database that fails the flush
leaves ingest limiting on the process's own counts. Flushes are called by hand (the thread
would call them), so nothing here waits on time."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from trimtab.server.ingest_quota import IngestQuota
from trimtab.store.db import Store

KEY = "k" * 32


def accepted(quota: IngestQuota, n: int, limit: int) -> int:
    return sum(1 for _ in range(n) if quota.take(KEY, limit) is None)


def test_two_processes_on_one_database__share_the_key_s_minute(store: Store) -> None:
    a, b = IngestQuota(store), IngestQuota(store)
    assert accepted(a, 8, limit=10) == 8
    assert a.flush()
    # b knows nothing yet of a's eight: its first event is accepted and flushed at once…
    assert accepted(b, 1, limit=10) == 1
    assert b.counter.due and b.flush()
    # …which brings back the cluster's nine.
    assert accepted(b, 5, limit=10) == 1
    assert b.retry_after(KEY, 10) is not None
    assert a.flush() and a.retry_after(KEY, 10) is None  # a has flushed nothing new: stale
    assert accepted(a, 2, limit=10) == 2  # …by at most what it takes before its next flush
    assert a.flush()
    assert a.retry_after(KEY, 10) is not None


def test_database_failing__limits_on_local_counts__logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broken = Store(f"sqlite:///{tmp_path / 'never-migrated.db'}")  # no quota table
    try:
        quota = IngestQuota(broken)
        with caplog.at_level(logging.WARNING, logger="trimtab.ingest"):
            assert accepted(quota, 2, limit=3) == 2
            assert not quota.flush()
            assert accepted(quota, 3, limit=3) == 1
            assert not quota.flush()
        assert len([r for r in caplog.records if "ingest quota" in r.getMessage()]) == 1
        assert quota.take(KEY, 3) is not None
    finally:
        broken.dispose()


def test_stop__flushes_what_is_counted(store: Store) -> None:
    a, b = IngestQuota(store), IngestQuota(store)
    a.start()
    try:
        assert accepted(a, 3, limit=4) == 3
    finally:
        a.stop()
    assert accepted(b, 1, limit=4) == 1
    assert b.flush()
    assert b.take(KEY, 4) is not None
