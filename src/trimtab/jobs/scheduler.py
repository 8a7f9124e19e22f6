"""Background jobs: periodic work that runs inside the server process, once across nodes.

A job is a plain function `run(store, settings) -> None`, run in a worker thread every
`interval_s` seconds. A failing run is logged and retried at the next tick; it never stops the
server or the other jobs. On PostgreSQL each run holds a transaction-level advisory lock named
after the job, so with many servers on one database a job runs on one node at a time; SQLite
means one node, so no lock is needed.
"""

from __future__ import annotations

import asyncio
import logging
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import text

from trimtab.settings import Settings
from trimtab.store.db import Store

log = logging.getLogger("trimtab.jobs")

JobFunction = Callable[[Store, Settings], None]


@dataclass
class Job:
    name: str
    interval_s: float
    run: JobFunction
    # Stats for /readyz-style introspection and tests.
    runs: int = field(default=0, compare=False)
    failures: int = field(default=0, compare=False)
    last_error: str | None = field(default=None, compare=False)


def _lock_key(name: str) -> int:
    return zlib.crc32(f"trimtab.job:{name}".encode())


def run_once(job: Job, store: Store, settings: Settings) -> bool:
    """Run `job` now unless another node holds it. Returns whether it ran."""
    if store.dialect == "postgresql":
        with store.engine.connect() as connection, connection.begin():
            got = connection.execute(
                text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": _lock_key(job.name)}
            ).scalar()
            if not got:
                return False
            _run_guarded(job, store, settings)
            return True
    _run_guarded(job, store, settings)
    return True


def _run_guarded(job: Job, store: Store, settings: Settings) -> None:
    started = time.monotonic()
    try:
        job.run(store, settings)
    except Exception as exc:  # one job's failure must not take down the others
        job.failures += 1
        job.last_error = f"{type(exc).__name__}: {exc}"
        log.exception("job %s failed", job.name)
    else:
        job.last_error = None
    finally:
        job.runs += 1
        elapsed = time.monotonic() - started
        if elapsed > job.interval_s:
            log.warning(
                "job %s took %.1fs, longer than its %.1fs interval",
                job.name,
                elapsed,
                job.interval_s,
            )


class Scheduler:
    def __init__(self, store: Store, settings: Settings, jobs: list[Job]) -> None:
        self.store = store
        self.settings = settings
        self.jobs = jobs
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        for job in self.jobs:
            self._tasks.append(asyncio.create_task(self._loop(job), name=f"job:{job.name}"))

    async def _loop(self, job: Job) -> None:
        while True:
            await asyncio.to_thread(run_once, job, self.store, self.settings)
            await asyncio.sleep(job.interval_s)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
