"""One writer thread that commits ingested events in groups.

Requests do the parsing and grouping, then `submit()` their job and await its future. The writer
takes everything queued at that moment (up to `max_batch`), writes it in ONE transaction through
the `write` function it was given, commits, and only then resolves the futures: a client hears
200 only for a stored event, and a hundred concurrent requests cost one commit (one fsync)
instead of a hundred. When the writer is idle a lone event is written at once, so the group
only grows with the load and latency stays low. With `durable=False` (TRIMTAB_INGEST_SYNC=normal,
the default) a commit does not wait for the disk at all: the sync comes at most a second later
(a checkpoint on SQLite, PostgreSQL's WAL writer), which is what an OS crash can cost; a killed
trimtab costs nothing, the operating system has every committed transaction.

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

A batch that loses a race with another node's writer on PostgreSQL (both creating the same new
issue: a unique violation; a deadlock PostgreSQL broke by failing this side) is tried again a few
times: rolled back, it finds the other's rows committed. If a batch fails for another reason (a
row the database refuses), each job is retried alone, so one bad event cannot fail the
ninety-nine others.
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

from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from trimtab.store.db import Store
from trimtab.threads import name_os_thread

__all__ = ["IngestWriter", "QueueFull", "WriterStats", "writers_turn"]

log = logging.getLogger("trimtab.ingest")

# How long a batch keeps trying while SQLite says the database is locked (on top of each
# attempt's own busy timeout).
LOCK_RETRY_S = 60.0
# With durable=False on SQLite: the longest a commit waits for the checkpoint that syncs it.
SYNC_WITHIN_S = 1.0
# How often a batch that lost a race with another node's writer is tried again.
RACE_RETRIES = 5
TURN_SUFFIX = "-ingest-turn"

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
    race_retries: int = 0


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
        durable: bool = True,
        before_transaction: Callable[[Sequence[J]], None] | None = None,
    ) -> None:
        self.store = store
        self.write = write
        # Work on a batch that needs no database (compressing payloads), done in this thread
        # before the transaction, so it never holds the SQLite write lock other processes wait on.
        self.before_transaction = before_transaction
        self.max_batch = max_batch
        # durable=False (TRIMTAB_INGEST_SYNC=normal): commits wait for the OS, not the disk
        # (Store.write). On SQLite the WAL is then synced by checkpoints, so the writer
        # checkpoints at most SYNC_WITHIN_S after a commit: an OS crash or power loss can
        # cost about that much of acknowledged events, never more.
        self.durable = durable
        self._unsynced_since: float | None = None
        # SQLite: fold the write-ahead log back into the database while the writer is idle,
        # instead of letting a commit do it (SQLite's auto-checkpoint runs inside the commit
        # that crosses its threshold, and every request of that batch would wait for it).
        self.checkpoint_every = checkpoint_every if store.dialect == "sqlite" else 0
        self._since_checkpoint = 0
        self._database_file = _database_file(store)
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
        s = self.stats
        log.info(
            "ingest writer: %d jobs in %d batches (largest %d), %.1f s busy, %d lock retries, "
            "%d races retried",
            s.jobs,
            s.batches,
            s.largest_batch,
            s.busy_seconds,
            s.lock_retries,
            s.race_retries,
        )

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

    def _next(self) -> Any:
        """The next queued job (or _STOP); while commits wait for their sync, no longer
        than until it is due, then the checkpoint that syncs them runs first."""
        while self._unsynced_since is not None:
            due = self._unsynced_since + SYNC_WITHIN_S - time.monotonic()
            try:
                return self._queue.get(timeout=max(0.0, due))
            except queue.Empty:
                self._checkpoint()
        return self._queue.get()

    def _gather(self, batch: list[_Pending[J]], fresh_from: int) -> bool:
        """Add what is queued now to `batch` (up to max_batch) and run `before_transaction` on
        the batch's jobs from `fresh_from` on; True when _STOP came."""
        stop = False
        while len(batch) < self.max_batch:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                stop = True
                break
            batch.append(item)
        if self.before_transaction is not None and len(batch) > fresh_from:
            try:
                self.before_transaction([p.job for p in batch[fresh_from:]])
            except Exception:  # only a head start: the write function does what is left
                log.warning("ingest: preparing a batch failed", exc_info=True)
        return stop

    def _run(self) -> None:
        name_os_thread()
        stop = False
        while not stop:
            first = self._next()
            if first is _STOP:
                break
            batch = [first]
            stop = self._gather(batch, 0)  # compressed here, before waiting for the lock
            with writers_turn(self.store):
                # Whatever arrived while another process held the database joins this
                # batch: one commit for it all, instead of a small batch right after.
                if not stop:
                    stop = self._gather(batch, len(batch))
                self._write(batch)
            self._since_checkpoint += len(batch)
            if self.checkpoint_every and not self.durable and self._unsynced_since is None:
                self._unsynced_since = time.monotonic()
            if (
                self.checkpoint_every
                and self._since_checkpoint >= self.checkpoint_every
                and self._queue.empty()
            ) or (
                self._unsynced_since is not None
                and time.monotonic() - self._unsynced_since >= SYNC_WITHIN_S
            ):
                self._checkpoint()
        if self._unsynced_since is not None:
            self._checkpoint()

    def _checkpoint(self) -> None:
        unsynced, self._unsynced_since = self._unsynced_since is not None, None
        self._since_checkpoint = 0
        if unsynced:
            self._sync_wal()
        try:
            with self.store.engine.connect() as connection:
                connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
        except Exception:  # an optimisation; SQLite checkpoints by itself at 1,000 pages
            log.warning("ingest: WAL checkpoint failed", exc_info=True)

    def _sync_wal(self) -> None:
        """Put the write-ahead log's commits (made with synchronous=NORMAL) on disk. Done here
        and not left to the checkpoint, which skips its sync when a reader holds it back."""
        if self._database_file is None:
            return
        try:
            fd = os.open(f"{self._database_file}-wal", os.O_RDONLY)
        except FileNotFoundError:
            return  # checkpointed and truncated: nothing waits for the disk
        try:
            os.fsync(fd)
        except OSError:
            log.warning("ingest: syncing the write-ahead log failed", exc_info=True)
        finally:
            os.close(fd)

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
        """One transaction for `jobs` (the caller has this process's turn), tried again while
        something else holds the database lock."""
        deadline = time.monotonic() + LOCK_RETRY_S
        pause = 0.01
        races = 0
        while True:
            try:
                with self.store.write(durable=self.durable) as session:
                    return self.write(session, jobs)
            except DBAPIError as exc:
                if _lost_race(exc) and races < RACE_RETRIES:
                    # Another node's writer created the same issue, or PostgreSQL broke a
                    # deadlock by failing this transaction: all rolled back; tried again,
                    # the other's rows are committed and seen.
                    races += 1
                    self.stats.race_retries += 1
                    time.sleep(0.01 * races)
                    continue
                if not _locked(exc) or time.monotonic() + pause > deadline:
                    raise
                self.stats.lock_retries += 1
                time.sleep(pause)
                pause = min(pause * 2, 0.5)

    def _write_one(self, pending: _Pending[J]) -> tuple[_Pending[J], Any, BaseException | None]:
        try:
            (result,) = self._write_jobs([pending.job])
            return pending, result, None
        except Exception:
            log.exception("ingest: storing an event failed")
            return pending, None, _failure()


@contextlib.contextmanager
def writers_turn(store: Store) -> Iterator[None]:
    """A turn among the ingest writers of every process on the store's SQLite file: taken by
    each writer for each batch, and by a small write of ingest's made beside them (the ingest
    quota's flush), which waiting on SQLite's busy handler instead could lose the lock to the
    writers' quick hand-overs for as long as they are busy. Nothing to wait for on PostgreSQL.

    The turn is an advisory lock on a file beside the database (see the module), opened for
    each turn: an open costs nothing next to a batch."""
    database = _database_file(store)
    if database is None:
        yield
        return
    fd = os.open(f"{database}{TURN_SUFFIX}", os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # which releases the lock


def _database_file(store: Store) -> str | None:
    """The store's SQLite database file (its writers' turn file and its write-ahead log are
    named after it); None on PostgreSQL and for an in-memory database."""
    if store.dialect != "sqlite":
        return None
    database = store.engine.url.database
    if not database or database == ":memory:":
        return None
    return database


def _locked(exc: DBAPIError) -> bool:
    """SQLite's "database is locked" / "database table is locked" (SQLITE_BUSY, SQLITE_LOCKED)."""
    if not isinstance(exc, OperationalError):
        return False
    message = str(exc.orig).lower()
    return "database is locked" in message or "is locked" in message or "busy" in message


# PostgreSQL errors that a concurrent transaction caused and a new attempt resolves: a unique
# violation (two nodes inserting the same new issue), a deadlock or serialization failure.
_RACE_SQLSTATES = frozenset({"23505", "40P01", "40001"})


def _lost_race(exc: DBAPIError) -> bool:
    return getattr(exc.orig, "sqlstate", None) in _RACE_SQLSTATES


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
