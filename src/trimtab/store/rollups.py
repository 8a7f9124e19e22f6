"""Error counts per minute per dimension: written by ingest, read by verdicts and auto-off rules.

Dimensions are short strings built only by the functions below, so writers and readers agree:
`total`, `release:<r>`, `flag:<key>=<result>`, `dependency:<name>`, `issue:<id>`.

The dimensions charts read hour by hour (`total`, `issue:<id>`, see `kept_hourly`) are also
counted per hour (`ErrorRollupHour`), in the same transaction as the minute rows: `hourly_counts`
reads whole hours from there (a fortnight is 336 rows instead of up to 20,160) and only the
partial hour at the end of its range from the minute rows, so its answers are those of the
minute rows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from trimtab.store.db import upsert
from trimtab.store.models import ErrorRollup, ErrorRollupHour

TOTAL = "total"
_MAX_PART = 200


def release(name: str) -> str:
    return f"release:{name[:_MAX_PART]}"


def flag(key: str, result: object) -> str:
    """`result` is what the flag evaluated to (True/False, a variant name, a value)."""
    text = ("on" if result else "off") if isinstance(result, bool) else str(result)
    return f"flag:{key[:64]}={text[:64]}"


def dependency(name: str) -> str:
    return f"dependency:{name[:64]}"


def issue(issue_id: int) -> str:
    return f"issue:{issue_id}"


def minute_of(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def hour_of(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def kept_hourly(dimension: str) -> bool:
    """Whether `dimension` is also counted per hour (the ones charts read hour by hour)."""
    return dimension == TOTAL or dimension.startswith("issue:")


def add_counts(
    session: Session,
    project_id: int,
    environment: str | None,
    moment: datetime,
    counts: Mapping[str, int],
) -> None:
    """Add `counts` (dimension -> events) to the minute containing `moment` (and to its hour,
    for the dimensions `kept_hourly`), upserting."""
    if not counts:
        return
    head = {"project_id": project_id, "environment": environment or ""}
    _upsert(
        session,
        ErrorRollup,
        "minute",
        [
            {**head, "dimension": d, "minute": minute_of(moment), "count": n}
            for d, n in counts.items()
        ],
    )
    hourly = [
        {**head, "dimension": d, "hour": hour_of(moment), "count": n}
        for d, n in counts.items()
        if kept_hourly(d)
    ]
    if hourly:
        _upsert(session, ErrorRollupHour, "hour", hourly)


def _upsert(session: Session, model: Any, time_column: str, rows: list[dict[str, Any]]) -> None:
    statement = upsert(session, model).values(rows)
    statement = statement.on_conflict_do_update(
        index_elements=["project_id", "environment", "dimension", time_column],
        set_={"count": model.count + statement.excluded.count},
    )
    session.execute(statement)


def hour_rows(
    minute_rows: Mapping[tuple[int, str, str, datetime], int],
) -> dict[tuple[int, str, str, datetime], int]:
    """(project, environment, dimension, minute) -> count, summed into the hours of the
    dimensions `kept_hourly`: what a batch adds to `ErrorRollupHour`."""
    hours: dict[tuple[int, str, str, datetime], int] = {}
    for (project_id, environment, dimension, minute), n in minute_rows.items():
        if kept_hourly(dimension):
            key = (project_id, environment, dimension, hour_of(minute))
            hours[key] = hours.get(key, 0) + n
    return hours


def count_between(
    session: Session,
    project_id: int,
    dimension: str,
    start: datetime,
    end: datetime,
    environment: str | None = None,
) -> int:
    """Events under `dimension` with start <= minute < end."""
    query = select(func.coalesce(func.sum(ErrorRollup.count), 0)).where(
        *_window(ErrorRollup.minute, project_id, dimension, minute_of(start), end),
        *_in_environment(ErrorRollup, environment),
    )
    return int(session.scalar(query) or 0)


def hourly_counts(
    session: Session,
    project_id: int,
    dimension: str,
    start: datetime,
    end: datetime,
    environment: str | None = None,
) -> list[int]:
    """Events per hour from `start` (truncated to the hour) until `end`, zero-filled."""
    first_hour = hour_of(start)
    seconds = (end - first_hour).total_seconds()
    hours = min(max(0, math.ceil(seconds / 3600)), 24 * 366)
    buckets = [0] * hours
    if not hours:
        return buckets
    if kept_hourly(dimension):
        # Whole hours from the hourly rows; the partial last hour, if any, from the minutes.
        whole_end = max(first_hour, hour_of(end))
        hour = _utc_hour(session, ErrorRollupHour.hour)
        rows = session.execute(
            select(hour, func.sum(ErrorRollupHour.count))
            .where(*_window(ErrorRollupHour.hour, project_id, dimension, first_hour, whole_end))
            .where(*_in_environment(ErrorRollupHour, environment))
            .group_by(hour)
        )
        for started, n in rows:
            _add_to_bucket(buckets, first_hour, started, int(n))
        if whole_end < end:
            tail = count_between(session, project_id, dimension, whole_end, end, environment)
            _add_to_bucket(buckets, first_hour, whole_end, tail)
        return buckets
    # Summed per hour by the database from the minute rows.
    hour = _utc_hour(session, ErrorRollup.minute)
    query = (
        select(hour, func.sum(ErrorRollup.count))
        .where(*_window(ErrorRollup.minute, project_id, dimension, first_hour, end))
        .where(*_in_environment(ErrorRollup, environment))
        .group_by(hour)
    )
    for started, n in session.execute(query):
        _add_to_bucket(buckets, first_hour, started, int(n))
    return buckets


def _add_to_bucket(
    buckets: list[int], first_hour: datetime, started: datetime | str, n: int
) -> None:
    if isinstance(started, str):  # SQLite: 'YYYY-MM-DD HH', UTC (see UTCDateTime)
        started = datetime.fromisoformat(f"{started}:00")  # a tenth of strptime's cost
    started = started.replace(tzinfo=UTC)  # both dialects give the UTC hour, naive
    index = int((started - first_hour) / timedelta(hours=1))
    if 0 <= index < len(buckets):
        buckets[index] += n


def _utc_hour(session: Session, column: Any) -> ColumnElement[Any]:
    """The UTC hour of a rollup row's `column` as the dialect computes it: SQLite keeps naive UTC
    text (read as text: a tenth of the cost of its datetime parsing); PostgreSQL truncates in the
    session's time zone, so the moment is taken to UTC first."""
    if session.get_bind().dialect.name == "sqlite":
        return func.substr(column, 1, 13)
    return func.date_trunc("hour", func.timezone("UTC", column))


def _window(
    column: Any, project_id: int, dimension: str, start: datetime, end: datetime
) -> list[ColumnElement[bool]]:
    table = column.class_
    return [
        table.project_id == project_id,
        table.dimension == dimension,
        column >= start,
        column < end,
    ]


def _in_environment(model: Any, environment: str | None) -> list[ColumnElement[bool]]:
    return [] if environment is None else [model.environment == environment]
