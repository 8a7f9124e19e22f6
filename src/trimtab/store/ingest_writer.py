"""One writer thread that commits ingested events in groups.

Requests do the parsing and grouping, then `submit()` their job and await its future. The writer
takes everything queued at that moment (up to `max_batch`), writes it in ONE transaction through
the `write` function it was given, commits, and only then resolves the futures: a client hears
200 only for a stored event, and a hundred concurrent requests cost one commit (one fsync)
instead of a hundred. When the writer is idle a lone event is written at once, so the group
only grows with the load and latency stays low.

The queue is bounded: when it is full, `submit()` raises `QueueFull` and the HTTP layer answers
503 with Retry-After, instead of growing memory until the process dies.

With several server processes on one SQLite file (`serve --workers`), the writers take turns on
the database lock. SQLite's own busy handler waits by sleeping (up to 100 ms a nap), so a writer
waiting on another would often sleep past the moment the lock is free; the writers therefore
queue on an advisory file lock beside the database (`fcntl.flock`, which wakes the next one at
once) before BEGIN IMMEDIATE. BEGIN IMMEDIATE still waits up to the busy timeout for other
writers (API requests, jobs), and should a transaction still
find the database locked (a long checkpoint, a slow disk), the batch is tried again for up to
`LOCK_RETRY_S` before anyone hears an error: "database is locked" never reaches a client.

If a batch fails for another reason (a constraint race with another node on PostgreSQL, a row
the database refuses), each job is retried alone, so one bad event cannot fail the ninety-nine
others.
This module knows nothing about events: the caller passes the `write` function (layering:
store must not import domain).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import fcntl
import logging
import os
import queue
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from trimtab.store.db import Store

__all__ = ["IngestWriter", "QueueFull", "WriterStats", "writers_turn"]

log = logging.getLogger("trimtab.ingest")

# How long a batch keeps trying while SQLite says the database is locked (on top of each
# attempt's own busy timeout).
LOCK_RETRY_S = 60.0

J = TypeVar("J")
R = TypeVar("R")

WriteBatch = Callable[[Session, Sequence[J]], Sequence[R]]


class QueueFull(Exception):
    """The writer is behind; the caller should ask the client to retry later."""


@dataclass
class WriterStats:
    batches: int = 0
    jobs: int = 0
    failed_jobs: int = 0
    largest_batch: int = 0
    busy_seconds: float = 0.0
    lock_retries: int = 0


@dataclass(slots=True)
class _Pending(Generic[J]):
    job: J
    loop: asyncio.AbstractEventLoop | None
    future: Any  # asyncio.Future when loop is set, else concurrent.futures.Future
    enqueued: float = field(default_factory=time.monotonic)


_STOP: Any = object()


class IngestWriter(Generic[J, R]):
    def __init__(
        self,
        store: Store,
        write: Callable[[Session, Sequence[J]], Sequence[R]],
        *,
        max_queue: int = 2000,
        max_batch: int = 500,
        name: str = "trimtab-ingest-writer",
        checkpoint_every: int = 200,
    ) -> None:
        self.store = store
        self.write = write
        self.max_batch = max_batch
        # SQLite: fold the write-ahead log back into the database while the writer is idle,
        # instead of letting a commit do it (SQLite's auto-checkpoint runs inside the commit
        # that crosses its threshold, and every request of that batch would wait for it).
        self.checkpoint_every = checkpoint_every if store.dialect == "sqlite" else 0
        self._since_checkpoint = 0
        self._turn_path = _turn_file(store)
        self._turn_fd: int | None = None
        self.stats = WriterStats()
        self._queue: queue.Queue[_Pending[J]] = queue.Queue(max_queue)
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._stopping = False

    @property
    def depth(self) -> int:
        """Jobs waiting for the writer."""
        return self._queue.qsize()

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Write what is queued, then end the thread."""
        if not self._thread.is_alive():
            return
        self._stopping = True
        self._queue.put(_STOP)  # blocks only while the queue is full, i.e. the writer works
        self._thread.join(timeout)

    def submit(self, job: J) -> asyncio.Future[R]:
        """Queue `job` from the event loop; the future resolves after its commit."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._put(_Pending(job, loop, future))
        return future

    def submit_sync(self, job: J) -> concurrent.futures.Future[R]:
        """Queue `job` from any thread (background jobs, the demo seed)."""
        future: concurrent.futures.Future[R] = concurrent.futures.Future()
        self._put(_Pending(job, None, future))
        return future

    def _put(self, pending: _Pending[J]) -> None:
        if self._stopping:
            raise QueueFull("the server is shutting down")
        try:
            self._queue.put_nowait(pending)
        except queue.Full:
            raise QueueFull(f"{self._queue.maxsize} events are waiting to be stored") from None

    def _run(self) -> None:
        stop = False
        while not stop:
            first = self._queue.get()
            if first is _STOP:
                break
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stop = True
                    break
                batch.append(item)
            self._write(batch)
            self._since_checkpoint += len(batch)
            if (
                self.checkpoint_every
                and self._since_checkpoint >= self.checkpoint_every
                and self._queue.empty()
            ):
                self._checkpoint()
        if self._turn_fd is not None:
            os.close(self._turn_fd)
            self._turn_fd = None

    def _checkpoint(self) -> None:
        self._since_checkpoint = 0
        try:
            with self.store.engine.connect() as connection:
                connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
        except Exception:  # a checkpoint is an optimisation; SQLite will do it itself later
            log.warning("ingest: WAL checkpoint failed", exc_info=True)

    def _write(self, batch: list[_Pending[J]]) -> None:
        started = time.monotonic()
        outcomes: list[tuple[_Pending[J], Any, BaseException | None]]
        try:
            results = self._write_jobs([p.job for p in batch])
            outcomes = [(p, r, None) for p, r in zip(batch, results, strict=True)]
        except Exception:
            if len(batch) == 1:
                log.exception("ingest: storing an event failed")
                outcomes = [(batch[0], None, _failure())]
            else:
                log.warning("ingest: a batch of %d failed; storing one by one", len(batch))
                outcomes = [self._write_one(p) for p in batch]
        self.stats.batches += 1
        self.stats.jobs += len(batch)
        self.stats.failed_jobs += sum(1 for _, _, exc in outcomes if exc is not None)
        self.stats.largest_batch = max(self.stats.largest_batch, len(batch))
        self.stats.busy_seconds += time.monotonic() - started
        _settle(outcomes)

    def _write_jobs(self, jobs: list[J]) -> Sequence[R]:
        """One transaction for `jobs`, tried again while another process holds the lock."""
        deadline = time.monotonic() + LOCK_RETRY_S
        pause = 0.01
        while True:
            try:
                with self._turn(), self.store.write() as session:
                    return self.write(session, jobs)
            except OperationalError as exc:
                if not _locked(exc) or time.monotonic() + pause > deadline:
                    raise
                self.stats.lock_retries += 1
                time.sleep(pause)
                pause = min(pause * 2, 0.5)

    @contextlib.contextmanager
    def _turn(self) -> Iterator[None]:
        """This process's turn among the ingest writers on one SQLite file (see the module)."""
        if self._turn_path is None:
            yield
            return
        if self._turn_fd is None:
            self._turn_fd = os.open(self._turn_path, os.O_CREAT | os.O_RDWR, 0o600)
        fcntl.flock(self._turn_fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._turn_fd, fcntl.LOCK_UN)

    def _write_one(self, pending: _Pending[J]) -> tuple[_Pending[J], Any, BaseException | None]:
        try:
            (result,) = self._write_jobs([pending.job])
            return pending, result, None
        except Exception:
            log.exception("ingest: storing an event failed")
            return pending, None, _failure()


@contextlib.contextmanager
def writers_turn(store: Store) -> Iterator[None]:
    """A turn among the ingest writers of every process on the store's SQLite file, for a
    small write of ingest's made beside them (the ingest quota's flush): waiting on SQLite's
    busy handler instead, it could lose the lock to the writers' quick hand-overs for as long
    as they are busy. Nothing to wait for on PostgreSQL."""
    path = _turn_file(store)
    if path is None:
        yield
        return
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # which releases the lock


def _turn_file(store: Store) -> str | None:
    """The file the ingest writers of all processes on this SQLite database take turns on."""
    if store.dialect != "sqlite":
        return None
    database = store.engine.url.database
    if not database or database == ":memory:":
        return None
    return f"{database}-ingest-turn"


def _locked(exc: OperationalError) -> bool:
    """SQLite's "database is locked" / "database table is locked" (SQLITE_BUSY, SQLITE_LOCKED)."""
    message = str(exc.orig).lower()
    return "database is locked" in message or "is locked" in message or "busy" in message


def _failure() -> BaseException:
    return RuntimeError("the event could not be stored; the server log has the details")


def _settle(outcomes: Sequence[tuple[_Pending[Any], Any, BaseException | None]]) -> None:
    # One wake-up per event loop for the whole batch, not one per request.
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[Any, Any, BaseException | None]]]
    by_loop = defaultdict(list)
    for pending, result, exc in outcomes:
        if pending.loop is None:
            if exc is None:
                pending.future.set_result(result)
            else:
                pending.future.set_exception(exc)
        else:
            by_loop[pending.loop].append((pending.future, result, exc))
    for loop, items in by_loop.items():
        # A loop closed while we wrote has nobody waiting on it.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(_resolve, items)


def _resolve(items: list[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
    for future, result, exc in items:
        if future.done():  # the client went away and the request was cancelled
            continue
        if exc is None:
            future.set_result(result)
        else:
            future.set_exception(exc)
