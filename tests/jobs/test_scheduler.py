"""Jobs: a failure is contained; on PostgreSQL a job runs on one node at a time."""

from __future__ import annotations

import threading

from trimtab.jobs.scheduler import Job, run_once
from trimtab.settings import Settings
from trimtab.store.db import Store


def test_run_once__job_raises__counted_and_contained(store: Store, settings: Settings) -> None:
    def broken(store: Store, settings: Settings) -> None:
        raise ValueError("probe target unreachable")

    job = Job("broken", 1.0, broken)
    assert run_once(job, store, settings)
    assert job.failures == 1 and job.runs == 1
    assert job.last_error == "ValueError: probe target unreachable"


def test_run_once__held_elsewhere__skipped_on_postgres_only(
    store: Store, settings: Settings
) -> None:
    entered = threading.Event()
    release = threading.Event()
    calls: list[str] = []

    def slow(store: Store, settings: Settings) -> None:
        calls.append("slow")
        entered.set()
        release.wait(5)

    first = threading.Thread(target=run_once, args=(Job("shared", 1.0, slow), store, settings))
    first.start()
    assert entered.wait(5)
    second_ran = run_once(Job("shared", 1.0, lambda s, c: calls.append("second")), store, settings)
    release.set()
    first.join(5)
    if store.dialect == "postgresql":
        assert not second_ran and calls == ["slow"]
    else:
        assert second_ran and calls == ["slow", "second"]
