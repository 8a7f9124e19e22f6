"""The ingest writer's statements, as plain SQL on the driver's connection.

The ingest writer stores hundreds of events per transaction, and under load ten or so at a
time; through SQLAlchemy's statement machinery every row pays for bind processing and every
statement for its execution context (about 200 µs a Core statement, 40-80 µs for
`exec_driver_sql`, against 5-50 µs for the statement itself on SQLite), which was most of the
writer's time. These helpers send the statements the models describe straight to the DBAPI
connection under the session's transaction (so the same transaction), with values in the
form the driver stores: on SQLite, datetimes as the naive-UTC text SQLAlchemy itself writes
and reads (`moment`, `read_moment`), JSON as text; on PostgreSQL, aware datetimes. Driver
errors are raised as SQLAlchemy raises them (`IntegrityError` for a unique violation,
`OperationalError` for a locked database...), which the writer tells apart.
`tests/domain/test_ingest.py` reads every row back through the ORM.

SQL is written with `?` placeholders, numbered `$n` for PostgreSQL (psycopg's RawCursor: it
parses a query's %s placeholders with a regular expression, which cost about a millisecond
for a statement of hundreds of them).

On PostgreSQL the writes that need no answer can go in one `pipeline`: sent one after the
other without waiting for each one's result, one round trip for them all.
"""

from __future__ import annotations

import contextlib
import functools
import sqlite3
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

__all__ = [
    "execute_many",
    "insert_events",
    "known_event_ids",
    "marks",
    "moment",
    "pipeline",
    "quoted",
    "read_json_text",
    "read_moment",
    "select_rows",
    "upsert_facets",
    "upsert_rollup_hours",
    "upsert_rollups",
]

_EVENT_COLUMNS = (
    "project_id",
    "issue_id",
    "event_id",
    "received_at",
    "timestamp",
    "level",
    "environment",
    "release",
    "user_key",
    "payload",
    "payload_size",
)


def marks(count: int) -> str:
    """`?, ?, ?` for `count` values."""
    return ", ".join("?" * count)


def _is_sqlite(session: Session) -> bool:
    return session.get_bind().dialect.name == "sqlite"


def _driver_connection(session: Session) -> Any:
    """The DBAPI connection under the session's transaction (a sqlite3 or psycopg one)."""
    return session.connection().connection.driver_connection


def select_rows(session: Session, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """The rows `sql` (`?` placeholders) answers, as the driver gives them."""
    driver = _driver_connection(session)
    if isinstance(driver, sqlite3.Connection):
        with _as_sqlalchemy_errors(sql, sqlite3.Error):
            return driver.execute(sql, params).fetchall()
    with _as_sqlalchemy_errors(sql, psycopg.Error), psycopg.RawCursor(driver) as cursor:
        cursor.execute(_numbered(sql), params)
        return cursor.fetchall()


def execute_many(session: Session, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    """`sql` (`?` placeholders) once for each of `rows`, in one call to the driver."""
    if not rows:
        return
    driver = _driver_connection(session)
    if isinstance(driver, sqlite3.Connection):
        with _as_sqlalchemy_errors(sql, sqlite3.Error):
            driver.executemany(sql, rows)
        return
    with _as_sqlalchemy_errors(sql, psycopg.Error), psycopg.RawCursor(driver) as cursor:
        cursor.executemany(_numbered(sql), rows)


@functools.lru_cache(maxsize=256)
def _numbered(sql: str) -> str:
    """`?` placeholders as PostgreSQL's `$1, $2...` (the writer's SQL has no `?` of its own)."""
    *parts, last = sql.split("?")
    return "".join(f"{part}${number}" for number, part in enumerate(parts, 1)) + last


def moment(session: Session) -> Any:
    """A converter from aware datetimes to what the driver stores for `UTCDateTime`."""
    if _is_sqlite(session):
        return _sqlite_text
    return _same


@functools.lru_cache(maxsize=4096)
def _sqlite_text(value: datetime) -> str:
    # Exactly SQLAlchemy's SQLite DATETIME storage format. Cached: a batch converts the same
    # few moments hundreds of times (each facet's first and last seen), which was a tenth of
    # the writer's time.
    value = value.astimezone(UTC)
    return (
        f"{value.year:04d}-{value.month:02d}-{value.day:02d} "
        f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}.{value.microsecond:06d}"
    )


def _same(value: datetime) -> datetime:
    return value


def read_moment(value: datetime | str | None) -> datetime | None:
    """A `UTCDateTime` as the driver read it, as the model gives it: aware, in UTC. SQLite
    holds the naive-UTC text of `_sqlite_text` (or SQLAlchemy's own, without microseconds
    when they are 0: `fromisoformat` reads both)."""
    if value is None:
        return None
    if isinstance(value, str):
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    return value.astimezone(UTC)


def read_json_text(value: str | bytes | None) -> Any:
    """A JSON column as SQLite holds it (text; psycopg decodes PostgreSQL's itself)."""
    return None if value is None else orjson.loads(value)


def quoted(names: Sequence[str]) -> str:
    """`"a", "b"`: column names as a statement lists them."""
    return ", ".join(f'"{name}"' for name in names)


def insert_events(session: Session, rows: Sequence[tuple[Any, ...]]) -> None:
    """Rows in `_EVENT_COLUMNS` order, datetimes converted with `moment(session)`."""
    if not rows:
        return
    _insert_rows(session, f"INSERT INTO events ({quoted(_EVENT_COLUMNS)})", rows, "")


@contextlib.contextmanager
def pipeline(session: Session) -> Iterator[None]:
    """The block's `insert_events` / `upsert_*` calls sent without waiting for each other on
    PostgreSQL (psycopg's pipeline mode: a round trip to the server for all of them, at the
    block's end, which raises the first statement's error, if any). Only statements whose
    results nobody reads belong in it. Nothing to do on SQLite, which runs in the process."""
    if _is_sqlite(session):
        yield
        return
    with _as_sqlalchemy_errors("pipeline", psycopg.Error), _psycopg(session).pipeline():
        yield


def _psycopg(session: Session) -> psycopg.Connection[Any]:
    """The psycopg connection under the session's (its transaction's) connection."""
    driver = _driver_connection(session)
    assert isinstance(driver, psycopg.Connection)
    return driver


@contextlib.contextmanager
def _as_sqlalchemy_errors(statement: str, driver_error: type[Exception]) -> Iterator[None]:
    """The driver's errors as SQLAlchemy raises them for its own statements (IntegrityError for
    a unique violation, OperationalError for a locked database, and so on, with the driver's
    error as `orig`): the ingest writer tells a race lost to another node (tried again) or a
    busy database (waited for) from a bad row by them."""
    try:
        yield
    except driver_error as exc:
        raise DBAPIError.instance(statement, None, exc, driver_error) from exc


def known_event_ids(session: Session, project_id: int, event_ids: Sequence[str]) -> dict[str, int]:
    """event id -> issue id for the ids already stored in the project."""
    if not event_ids:
        return {}
    sql = (
        'SELECT "event_id", "issue_id" FROM events '
        f'WHERE "project_id" = ? AND "event_id" IN ({marks(len(event_ids))})'
    )
    return dict(select_rows(session, sql, (project_id, *event_ids)))


def upsert_facets(session: Session, rows: Sequence[tuple[int, str, str, int, Any, Any]]) -> None:
    """(issue_id, key, value, count, first_seen, last_seen): counts added to existing rows,
    first/last seen widened to take in the new ones."""
    if not rows:
        return
    least, greatest = ("min", "max") if _is_sqlite(session) else ("least", "greatest")
    _insert_rows(
        session,
        'INSERT INTO issue_facets ("issue_id", "key", "value", "count", "first_seen", "last_seen")',
        rows,
        'ON CONFLICT ("issue_id", "key", "value") DO UPDATE SET '
        '"count" = issue_facets."count" + excluded."count", '
        f'"first_seen" = {least}(issue_facets."first_seen", excluded."first_seen"), '
        f'"last_seen" = {greatest}(issue_facets."last_seen", excluded."last_seen")',
    )


def upsert_rollups(session: Session, rows: Sequence[tuple[int, str, str, Any, int]]) -> None:
    """(project_id, environment, dimension, minute, count): the upsert of
    `store.rollups.add_counts`, for many minutes and environments at once."""
    _upsert_counts(session, "error_rollups", "minute", rows)


def upsert_rollup_hours(session: Session, rows: Sequence[tuple[int, str, str, Any, int]]) -> None:
    """(project_id, environment, dimension, hour, count): the hourly upsert of
    `store.rollups.add_counts`, for many hours and environments at once."""
    _upsert_counts(session, "error_rollup_hours", "hour", rows)


def _upsert_counts(
    session: Session, table: str, time_column: str, rows: Sequence[tuple[int, str, str, Any, int]]
) -> None:
    if not rows:
        return
    _insert_rows(
        session,
        f'INSERT INTO {table} ("project_id", "environment", "dimension", "{time_column}", "count")',
        rows,
        f'ON CONFLICT ("project_id", "environment", "dimension", "{time_column}") DO UPDATE SET '
        f'"count" = {table}."count" + excluded."count"',
    )


# Parameters per statement on PostgreSQL (its protocol allows 65,535).
_PG_MAX_PARAMS = 30_000


def _insert_rows(session: Session, head: str, rows: Sequence[Sequence[Any]], tail: str) -> None:
    """`head VALUES (...) tail` for every row. On SQLite one executemany (in process, each row
    costs about nothing). On PostgreSQL a row is a round of the protocol when sent apart, so the
    rows go as few multi-row VALUES statements. The callers' rows never repeat a conflict key
    (an upsert may not touch a row twice in one statement): they are merged before."""
    if not rows:
        return
    width = len(rows[0])
    if _is_sqlite(session):
        execute_many(session, f"{head} VALUES ({marks(width)}) {tail}", rows)
        return
    # Sent through psycopg's RawCursor, with PostgreSQL's own $n placeholders: psycopg parses a
    # query's %s placeholders with a regular expression and caches the result only for short
    # queries, and parsing these (hundreds of placeholders) cost about a millisecond each,
    # twice a batch. The same connection, so the same transaction.
    per_statement = max(1, _PG_MAX_PARAMS // width)
    with _as_sqlalchemy_errors(head, psycopg.Error), psycopg.RawCursor(_psycopg(session)) as cursor:
        for start in range(0, len(rows), per_statement):
            chunk = rows[start : start + per_statement]
            sql = f"{head} VALUES {_pg_values(width, len(chunk))} {tail}"
            cursor.execute(sql, [value for row in chunk for value in row])


def _pg_values(width: int, count: int) -> str:
    """`($1, $2), ($3, $4)` for `count` rows of `width` values."""
    return ", ".join(_pg_rows(width)[:count])


@functools.lru_cache(maxsize=16)
def _pg_rows(width: int) -> tuple[str, ...]:
    """Every row a statement of `width` columns can hold, numbered: built once per width (the
    callers have three), a few hundred KB at most, whatever the batches' sizes."""
    return tuple(
        "(" + ", ".join(f"${row * width + column}" for column in range(1, width + 1)) + ")"
        for row in range(max(1, _PG_MAX_PARAMS // width))
    )
