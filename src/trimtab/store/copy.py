"""A whole store copied into another database (`trimtab db copy`): SQLite to PostgreSQL, back,
or between two of a kind.

The source must be at the latest migration; the target is migrated to it and must hold no rows
(`force` empties it first). Tables are copied in dependency order, `batch` rows at a time, so
memory holds one batch whatever the size of the store. The source is read in one transaction (a
consistent snapshot, even while a server writes to it) and the target written in one, so a copy
that fails leaves the target as it was. PostgreSQL sequences are then moved past the copied
ids, and every table is read back from the target: its row count and checksum must equal those
of the rows read from the source.

A table's checksum is SHA-256 over its rows in primary-key order, each row's values in the form
both backends hand back alike: times as aware UTC, JSON documents with sorted keys (and SQL NULL
told apart from a JSON null, which the copy keeps apart too), bytes as they are.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import JSON, Column, Connection, Select, Table, inspect, null, select, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.elements import Null

from trimtab.store import migrate
from trimtab.store.db import Store, StoreError
from trimtab.store.models import Base

__all__ = ["CopyRefused", "CopyReport", "TableCheck", "copy_store", "failure", "table_checks"]

DEFAULT_BATCH = 2000
MAX_BATCH = 100_000
_NULL_FLAG = "__sql_null__"


class CopyRefused(StoreError):
    """The copy cannot start: same database on both sides, source not migrated, target not
    empty. Nothing was written."""


@dataclass(frozen=True)
class TableCheck:
    """One table's rows and checksum, read from the source and from the target."""

    table: str
    source_rows: int
    source_sum: str
    target_rows: int
    target_sum: str

    @property
    def matches(self) -> bool:
        return self.source_rows == self.target_rows and self.source_sum == self.target_sum


@dataclass(frozen=True)
class CopyReport:
    tables: list[TableCheck]

    @property
    def ok(self) -> bool:
        return all(check.matches for check in self.tables)

    @property
    def rows(self) -> int:
        return sum(check.source_rows for check in self.tables)


def failure(exc: BaseException) -> str:
    """The first line of the driver's reason: what SQLAlchemy adds (the statement and its
    parameters) and what drivers add below it (COPY's CONTEXT line) carry the rows' values, and
    those hold secrets (an alert target's signing secret) and whole events."""
    reason = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    lines = str(reason).strip().splitlines()
    return lines[0] if lines else type(reason).__name__


def tables() -> list[Table]:
    """Every table of the schema, each after the tables it refers to."""
    return list(Base.metadata.sorted_tables)


def copy_store(
    source: Store,
    target: Store,
    *,
    force: bool = False,
    batch: int = DEFAULT_BATCH,
    progress: Callable[[str, int], None] | None = None,
) -> CopyReport:
    """Copy every row of `source` into `target` and compare them table by table (see the module
    docstring). `progress(table, rows)` is called as each table is done."""
    if not 1 <= batch <= MAX_BATCH:
        raise ValueError(f"batch must be between 1 and {MAX_BATCH}")
    if _same_database(source.url, target.url):
        raise CopyRefused("the source and the target are the same database")
    if not migrate.is_current(source):
        applied = ", ".join(sorted(migrate.current_revisions(source))) or "none"
        raise CopyRefused(
            f"the source is not at the latest migration (applied: {applied}): "
            "run `trimtab db upgrade` against it first"
        )
    with target.engine.connect() as connection:
        holding = _holding(connection)
    if holding and not force:
        shown = ", ".join(holding[:5]) + (", ..." if len(holding) > 5 else "")
        raise CopyRefused(
            f"the target already holds data ({shown}): copy into an empty database, "
            "or pass --force to replace everything it holds"
        )
    migrate.upgrade(target)
    sources: dict[str, tuple[int, str]] = {}
    with _snapshot(source) as reader, target.engine.begin() as writer:
        if holding:
            _empty(writer)
        for table in tables():
            try:
                sources[table.name] = _copy_table(reader, writer, table, batch)
            except Exception as exc:
                raise StoreError(f"copying table {table.name}: {failure(exc)}") from None
            if progress is not None:
                progress(table.name, sources[table.name][0])
        if writer.dialect.name == "postgresql":
            _move_sequences(writer)
    copied = table_checks(target)
    return CopyReport(
        [TableCheck(name, *sources[name], *copied[name]) for name in (t.name for t in tables())]
    )


def table_checks(store: Store) -> dict[str, tuple[int, str]]:
    """Each table's (row count, checksum), read in one transaction."""
    with _snapshot(store) as connection:
        return {table.name: _table_check(connection, table) for table in tables()}


# -- reading ---------------------------------------------------------------------------------


class _snapshot:
    """One read transaction on the store: REPEATABLE READ on PostgreSQL, so every table is read
    as of the same moment (SQLite's WAL gives a read transaction that already)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.connection: Connection | None = None

    def __enter__(self) -> Connection:
        connection = self.store.engine.connect()
        if self.store.dialect == "postgresql":
            connection = connection.execution_options(isolation_level="REPEATABLE READ")
        connection.begin()
        self.connection = connection
        return connection

    def __exit__(self, *exc: object) -> None:
        assert self.connection is not None
        self.connection.rollback()  # read only: nothing to keep
        self.connection.close()


def _json_columns(table: Table) -> list[Column[Any]]:
    return [column for column in table.c if isinstance(column.type, JSON)]


def _rows(table: Table) -> Select[Any]:
    """The table's rows in key order, with, for each JSON column, whether it is SQL NULL (the
    JSON type hands SQL NULL and a JSON null back as the same None)."""
    flags = [c.is_(None).label(f"{c.name}{_NULL_FLAG}") for c in _json_columns(table)]
    return select(*table.c, *flags).order_by(*table.primary_key.columns)


def _stream(connection: Connection, table: Table, batch: int) -> Iterable[Sequence[Any]]:
    result = connection.execution_options(stream_results=True, yield_per=batch).execute(
        _rows(table)
    )
    yield from result.partitions()


def _table_check(connection: Connection, table: Table) -> tuple[int, str]:
    digest, count = hashlib.sha256(), 0
    for part in _stream(connection, table, DEFAULT_BATCH):
        for row in part:
            _feed(digest, table, row)
        count += len(part)
    return count, digest.hexdigest()


def _feed(digest: Any, table: Table, row: Any) -> None:
    """One row into a table's checksum, in a form independent of the backend it came from."""
    mapping = row._mapping
    values: list[Any] = []
    blobs: list[bytes] = []
    for column in table.c:
        value = mapping[column.name]
        if isinstance(column.type, JSON):
            value = None if mapping[f"{column.name}{_NULL_FLAG}"] else {"json": value}
        elif isinstance(value, bytes | memoryview):
            blobs.append(bytes(value))
            value = {"bytes": len(blobs[-1])}
        values.append(value)
    try:
        encoded = orjson.dumps(values, default=_plain, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # an integer past 64 bits in a JSON document
        encoded = json.dumps(values, default=_plain, sort_keys=True).encode()
    digest.update(len(encoded).to_bytes(8, "big"))
    digest.update(encoded)
    for blob in blobs:
        digest.update(blob)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot checksum {type(value).__name__}")


# -- writing ---------------------------------------------------------------------------------


def _copy_table(
    reader: Connection, writer: Connection, table: Table, batch: int
) -> tuple[int, str]:
    """Every row of `table`, batch by batch; the source's (row count, checksum)."""
    json_columns = {c.name for c in _json_columns(table)}
    # A row may point at a row of its own table with a larger id (a deploy run at its later
    # rollback run): that reference waits until the table is complete. Few rows do.
    own = [fk.parent.name for fk in table.foreign_keys if fk.column.table is table]
    (key,) = table.primary_key.columns
    later: list[tuple[Any, dict[str, Any]]] = []
    digest, count = hashlib.sha256(), 0
    for part in _stream(reader, table, batch):
        values = []
        for row in part:
            _feed(digest, table, row)
            mapping = row._mapping
            item = {c.name: mapping[c.name] for c in table.c}
            for name in json_columns:
                if mapping[f"{name}{_NULL_FLAG}"]:
                    item[name] = null()
            ahead = {n: item[n] for n in own if item[n] is not None and item[n] > item[key.name]}
            if ahead:
                later.append((item[key.name], ahead))
                item.update(dict.fromkeys(ahead))
            values.append(item)
        _insert(writer, table, values)
        count += len(part)
    for row_id, references in later:
        writer.execute(table.update().where(key == row_id).values(**references))
    return count, digest.hexdigest()


def _insert(writer: Connection, table: Table, values: list[dict[str, Any]]) -> None:
    """One batch of rows: COPY on PostgreSQL (several times faster than INSERT for the large
    tables), an executemany INSERT on SQLite."""
    if writer.dialect.name != "postgresql":
        writer.execute(table.insert(), values)
        return
    json_columns = {c.name for c in _json_columns(table)}
    names = [c.name for c in table.c]
    columns = ", ".join(f'"{name}"' for name in names)
    cursor = writer.connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor.copy(f'COPY "{table.name}" ({columns}) FROM STDIN') as copy:
        for item in values:
            copy.write_row([_copy_value(item[n], n in json_columns) for n in names])


def _copy_value(value: Any, is_json: bool) -> Any:
    if not is_json:
        return value
    if isinstance(value, Null):
        return None  # SQL NULL
    return json.dumps(value)  # a JSON null too: the text `null`


def _holding(connection: Connection) -> list[str]:
    """The tables of the schema that exist in the database and hold rows."""
    present = set(inspect(connection).get_table_names())
    return [
        table.name
        for table in tables()
        if table.name in present
        and connection.execute(select(1).select_from(table).limit(1)).first()
    ]


def _empty(writer: Connection) -> None:
    if writer.dialect.name == "postgresql":
        names = ", ".join(f'"{table.name}"' for table in tables())
        writer.execute(text(f"TRUNCATE {names} RESTART IDENTITY"))
        return
    for table in reversed(tables()):
        writer.execute(table.delete())


def _move_sequences(writer: Connection) -> None:
    """Each id sequence to the largest copied id (or back to 1 for an empty table)."""
    for table in tables():
        if "id" not in table.c:
            continue  # keyed by another table's id (flag_set_revisions)
        sequence = writer.execute(
            text("SELECT pg_get_serial_sequence(:table, 'id')"), {"table": f'"{table.name}"'}
        ).scalar()
        if sequence is None:
            continue
        writer.execute(
            text(
                f"SELECT setval(:sequence, COALESCE(max(id), 1), max(id) IS NOT NULL) "
                f'FROM "{table.name}"'
            ),
            {"sequence": sequence},
        )


def _same_database(first: str, second: str) -> bool:
    a, b = make_url(first), make_url(second)
    if a.get_backend_name() != b.get_backend_name():
        return False
    if a.get_backend_name() == "sqlite":
        return _sqlite_path(a) == _sqlite_path(b) and a.database not in (None, "", ":memory:")
    return (a.host or "localhost", a.port or 5432, a.database) == (
        b.host or "localhost",
        b.port or 5432,
        b.database,
    )


def _sqlite_path(url: URL) -> Path | None:
    return Path(url.database).resolve() if url.database else None
