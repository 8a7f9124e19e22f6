"""The store: one engine, sessions for reading and for writing, and migrations.

SQLite is the embedded default (WAL, foreign keys, a busy timeout); PostgreSQL (psycopg 3) is for
many nodes. Write transactions on SQLite start with BEGIN IMMEDIATE: a deferred transaction that
reads first and writes later can fail at once with SQLITE_BUSY when another writer got there first,
without waiting for the busy timeout, and that would turn load into errors.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import BigInteger, Engine, create_engine, event, inspect, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from trimtab.store.models.base import MAX_BIG_ROW_ID, MAX_ROW_ID
from trimtab.store.notify import LocalNotifier, bind_notifier
from trimtab.store.notify_pg import PostgresRelay
from trimtab.store.notify_sqlite import SqliteRelay

SQLITE_BUSY_TIMEOUT_MS = 10_000
# SQLite's memory is bounded by these, so a server's steady RSS is known: each connection keeps
# a page cache that fills up to SQLITE_CACHE_KIB as it touches more of a growing database (it is
# never emptied, so RSS climbs for a while after start and then stops), and the pool holds at
# most SQLITE_POOL_SIZE + SQLITE_MAX_OVERFLOW connections. At most 15 x 2 MiB = 30 MiB of page
# cache; a server in steady use keeps about as many connections as threads that read or write
# at once (4 under `make soak`). 2 MiB is SQLite's own default, set here so it cannot drift.
SQLITE_CACHE_KIB = 2048
SQLITE_POOL_SIZE = 5
SQLITE_MAX_OVERFLOW = 10
# Most row ids are Integer columns: 32-bit on PostgreSQL, so a client's larger number names no
# row (and binding it would fail there, as one past 64 bits fails on SQLite); `BigId` ones are
# 64-bit on both.
_Row = TypeVar("_Row")


def upsert(session: Session, model: Any) -> Any:
    """`INSERT INTO model` in the session's dialect, so callers can add `on_conflict_do_…`.

    Both PostgreSQL and SQLite speak ON CONFLICT; SQLAlchemy spells it per dialect, and this is
    the one place that picks the spelling.
    """
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(model)
    return sqlite.insert(model)


def insert_ignore(session: Session, model: Any, values: dict[str, Any]) -> None:
    """INSERT … ON CONFLICT DO NOTHING, so two nodes creating the same row cannot collide."""
    session.execute(upsert(session, model).values(**values).on_conflict_do_nothing())


def max_row_id(model: Any) -> int:
    """The largest id the model's primary key holds: `MAX_BIG_ROW_ID` for a `BigId`."""
    (key,) = inspect(model).primary_key
    return MAX_BIG_ROW_ID if isinstance(key.type, BigInteger) else MAX_ROW_ID


def get_row(session: Session, model: type[_Row], row_id: int) -> _Row | None:
    """`session.get` for an id a client sent: None when no row can have it, where the driver
    would fail to bind it (SQLite: OverflowError, PostgreSQL: NumericValueOutOfRange)."""
    if not 0 < row_id <= max_row_id(model):
        return None
    return session.get(model, row_id)


def parse_row_id(text: str) -> int | None:
    """The row id a reference like "42" names, or None ("²" and "٣" are digits to Python)."""
    if not text.isascii() or not text.isdigit() or len(text) > len(str(MAX_ROW_ID)):
        return None
    row_id = int(text)
    return row_id if 0 < row_id <= MAX_ROW_ID else None


class StoreError(RuntimeError):
    """The store cannot be opened or is not usable (bad URL, unreachable, wrong schema)."""


def normalize_database_url(url: str) -> str:
    """Accept plain `postgresql://` URLs and use psycopg 3 for them."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, connection_record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")  # negative: KiB, not pages
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()
        connection_record.info["synchronous"] = "FULL"

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        options = connection.get_execution_options()
        # synchronous is a setting of the connection, not of a transaction: set it before
        # BEGIN whenever this transaction wants another one than the connection has.
        synchronous = options.get("sqlite_synchronous", "FULL")
        if connection.info.get("synchronous") != synchronous:
            connection.exec_driver_sql(f"PRAGMA synchronous={synchronous}")
            connection.info["synchronous"] = synchronous
        connection.exec_driver_sql(f"BEGIN {options.get('sqlite_begin', 'DEFERRED')}")


def make_engine(url: str, **kwargs: Any) -> Engine:
    url = normalize_database_url(url)
    try:
        parsed = make_url(url)
    except Exception as exc:  # sqlalchemy raises ArgumentError with a terse message
        raise StoreError(f"invalid database URL {url!r}: {exc}") from exc
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            path = Path(parsed.database)
            path.parent.mkdir(parents=True, exist_ok=True)
            # The store holds password and token digests and every error report: readable by
            # its owner only. SQLite gives the -wal and -shm files the database file's mode.
            os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
        options: dict[str, Any] = {
            "pool_size": SQLITE_POOL_SIZE,
            "max_overflow": SQLITE_MAX_OVERFLOW,
        }
        if parsed.database in (None, "", ":memory:"):
            options = {}  # one shared in-memory connection (SingletonThreadPool): no sizes
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            **{**options, **kwargs},
        )
        _configure_sqlite(engine)
        return engine
    if parsed.get_backend_name() == "postgresql":
        options = {"pool_pre_ping": True, "pool_size": 10, "max_overflow": 20, **kwargs}
        return create_engine(url, **options)
    backend = parsed.get_backend_name()
    raise StoreError(f"unsupported database {backend!r}: use sqlite or postgresql")


class Store:
    """Owns the engine and the change notifier. `read()` and `write()` each give one
    transaction as a Session; changes announced in a write are published when it commits."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = normalize_database_url(url)
        self.notifier = LocalNotifier()
        self.engine = make_engine(self.url, **engine_kwargs)
        self.dialect = self.engine.dialect.name
        self._relay: PostgresRelay | SqliteRelay | None = None
        if self.dialect == "postgresql":
            self._relay = PostgresRelay(self.notifier, self.url)
            self.notifier.relay = self._relay.relay
        write_bind = self.engine.execution_options(sqlite_begin="IMMEDIATE")
        self._read_sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._write_sessions = sessionmaker(write_bind, expire_on_commit=False)
        # Writes that may give up durability against an OS crash for speed (`write(durable=
        # False)`, the ingest writer): SQLite's WAL then syncs within a second instead of at
        # each commit; on PostgreSQL they have connections of their own, opened with
        # synchronous_commit=off (a SET LOCAL per transaction would cost a round trip) and not
        # pinged at checkout (another round trip per batch: a connection PostgreSQL dropped
        # fails one batch, which the writer then stores job by job on fresh connections).
        self._os_durable_engine: Engine | None = None
        os_durable_bind: Engine = write_bind.execution_options(sqlite_synchronous="NORMAL")
        if self.dialect == "postgresql":
            self._os_durable_engine = make_engine(
                self.url,
                connect_args={"options": "-c synchronous_commit=off"},
                pool_pre_ping=False,
                pool_size=2,
                max_overflow=2,
                **engine_kwargs,
            )
            os_durable_bind = self._os_durable_engine
        self._os_durable_sessions = sessionmaker(os_durable_bind, expire_on_commit=False)

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._read_sessions() as session, session.begin():
            yield session

    @contextmanager
    def write(self, *, durable: bool = True) -> Iterator[Session]:
        """One write transaction: committed when the block ends, rolled back if it raises.

        `durable=False` (the ingest writer, when TRIMTAB_INGEST_SYNC is `normal`): the commit
        returns once the operating system has the transaction, not the disk. It survives the
        process being killed; an OS crash or power loss may roll back the last ones (SQLite
        WAL with synchronous=NORMAL until the next checkpoint; PostgreSQL
        synchronous_commit=off, at most 3 x wal_writer_delay). Never corrupts the store."""
        sessions = self._write_sessions if durable else self._os_durable_sessions
        with sessions() as session:
            bind_notifier(session, self.notifier)
            with session.begin():
                yield session

    def ping(self) -> None:
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def share_changes_across_processes(self) -> None:
        """Several server processes on this SQLite file (`serve --workers`): relay announced
        changes through the change relay table (PostgreSQL relays them already)."""
        if self.dialect == "sqlite" and self._relay is None:
            self._relay = SqliteRelay(self.notifier, self.engine)
            self.notifier.relay = self._relay.relay

    def start_listening(self) -> None:
        """Hear changes announced by other nodes or processes (PostgreSQL, or SQLite after
        `share_changes_across_processes`); a no-op otherwise."""
        if self._relay is not None:
            self._relay.start()

    def dispose(self) -> None:
        if self._relay is not None:
            self._relay.stop()
        self.engine.dispose()
        if self._os_durable_engine is not None:
            self._os_durable_engine.dispose()
