"""Sentry structured logs: stored by the ingest writer, read by trace.

Storing (`store_logs`, in the writer's transaction): the records `core.sentry_logs` bounded,
up to a per-project daily quota (`TRIMTAB_MAX_LOGS_PER_DAY`, counted in `ingest_usage_days`
as `log_item`/`stored`); lines past it are counted `over_quota` and not kept.

Reading, always in the actor's reach (a token bound to an environment sees only that
environment's lines):
- `event_logs`: the lines of an event's trace (`contexts.trace.trace_id`) just before and
  after it, the "service-specific logging" around an error;
- `issue_logs`: a search over the traces of an issue's newest events (at most
  `ISSUE_TRACES` events are read, so the search stays bounded however big the issue).
Retention removes lines received before `TRIMTAB_LOG_RETENTION_DAYS` (`prune_old_logs`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from trimtab.core.sentry_logs import LogRecord, trace_id_of
from trimtab.domain.errors import InvalidInput
from trimtab.domain.reports.events import event_data, get_event, list_events
from trimtab.domain.reports.issues import get_issue
from trimtab.domain.reports.usage import LOG_CATEGORY, count_today, day_of, record_usage
from trimtab.domain.results import IsoTime, Result
from trimtab.domain.spine.actors import Actor
from trimtab.domain.spine.projects import bound_environment
from trimtab.store.models import Event, LogLine

__all__ = [
    "DEFAULT_MAX_LOGS_PER_DAY",
    "ISSUE_TRACES",
    "EventLogs",
    "LogLineOut",
    "event_logs",
    "issue_logs",
    "logs_around",
    "prune_old_logs",
    "store_logs",
    "trace_of_event",
]

DEFAULT_MAX_LOGS_PER_DAY = 100_000
AROUND = 50  # lines shown before and after an event
ISSUE_TRACES = 100  # newest events of an issue whose traces a log search covers
MAX_LIST = 200
MAX_QUERY = 200


class LogLineOut(Result):
    timestamp: IsoTime
    trace_id: str | None
    level: str
    body: str
    environment: str | None
    release: str | None
    attributes: dict[str, Any]

    @classmethod
    def of(cls, line: LogLine) -> LogLineOut:
        return cls(
            timestamp=line.timestamp,
            trace_id=line.trace_id,
            level=line.level,
            body=line.body,
            environment=line.environment,
            release=line.release,
            attributes=line.attributes,
        )


class EventLogs(Result):
    """The log lines of an event's trace around it: `before` up to the event's time (oldest
    first), `after` it; both empty when the event names no trace."""

    event_id: str
    trace_id: str | None
    before: list[LogLineOut]
    after: list[LogLineOut]


# -- storing (the ingest writer) ----------------------------------------------------------


def store_logs(
    session: Session,
    batches: Sequence[tuple[int, Sequence[LogRecord]]],
    *,
    now: datetime,
    max_per_day: int = DEFAULT_MAX_LOGS_PER_DAY,
) -> None:
    """Insert the (project id, records) batches within each project's daily quota (0: none)."""
    by_project: dict[int, list[LogRecord]] = defaultdict(list)
    for project_id, records in batches:
        by_project[project_id].extend(records)
    rows: list[dict[str, Any]] = []
    usage: dict[tuple[int, str, str], int] = {}
    for project_id, records in sorted(by_project.items()):
        if not records:
            continue
        kept = records
        if max_per_day > 0:
            room = max(0, max_per_day - count_today(session, project_id, LOG_CATEGORY, now))
            kept = records[:room]
            if len(records) > room:
                usage[(project_id, LOG_CATEGORY, "over_quota")] = len(records) - room
        if kept:
            usage[(project_id, LOG_CATEGORY, "stored")] = len(kept)
        rows.extend(_row(project_id, record, now) for record in kept)
    if rows:
        session.execute(insert(LogLine), rows)
    record_usage(session, usage, day_of(now))


def _row(project_id: int, record: LogRecord, now: datetime) -> dict[str, Any]:
    environment, release = record.environment, record.release
    return {
        "project_id": project_id,
        "trace_id": record.trace_id,
        "timestamp": record.timestamp,
        "received_at": now,
        "level": record.level,
        "environment": environment[:64] if environment else None,
        "release": release[:200] if release else None,
        "body": record.body,
        "attributes": record.attributes,
    }


# -- reading --------------------------------------------------------------------------------


def trace_of_event(event: Event) -> str | None:
    """The trace id an event names in `contexts.trace.trace_id`, if a valid one."""
    contexts = event_data(event).get("contexts")
    trace = contexts.get("trace") if isinstance(contexts, dict) else None
    return trace_id_of(trace.get("trace_id")) if isinstance(trace, dict) else None


def event_logs(
    session: Session,
    actor: Actor,
    event_id: str,
    *,
    project: str | None = None,
    around: int = AROUND,
) -> EventLogs:
    event = get_event(session, actor, event_id, project=project)
    return logs_around(session, actor, event, around=around)


def logs_around(session: Session, actor: Actor, event: Event, *, around: int = AROUND) -> EventLogs:
    """The lines of the event's trace up to its time and after it (the caller has checked
    that the actor reaches the event)."""
    trace_id = trace_of_event(event)
    if trace_id is None:
        return EventLogs(event_id=event.event_id, trace_id=None, before=[], after=[])
    query = _visible(session, actor, select(LogLine)).where(
        LogLine.project_id == event.project_id, LogLine.trace_id == trace_id
    )
    limit = min(max(around, 1), MAX_LIST)
    before = session.scalars(
        query.where(LogLine.timestamp <= event.timestamp)
        .order_by(LogLine.timestamp.desc(), LogLine.id.desc())
        .limit(limit)
    ).all()
    after = session.scalars(
        query.where(LogLine.timestamp > event.timestamp)
        .order_by(LogLine.timestamp, LogLine.id)
        .limit(limit)
    ).all()
    return EventLogs(
        event_id=event.event_id,
        trace_id=trace_id,
        before=[LogLineOut.of(line) for line in reversed(before)],
        after=[LogLineOut.of(line) for line in after],
    )


def issue_logs(
    session: Session,
    actor: Actor,
    issue_id: int,
    *,
    query: str | None = None,
    level: str | None = None,
    limit: int = 100,
) -> list[LogLineOut]:
    """Log lines of the traces of the issue's newest `ISSUE_TRACES` events whose body holds
    `query` (case-insensitive), newest first."""
    if query is not None and len(query) > MAX_QUERY:
        raise InvalidInput(f"a log search is at most {MAX_QUERY} characters")
    issue = get_issue(session, actor, issue_id)
    traces = sorted(
        {
            trace
            for event in list_events(session, actor, issue.id, limit=ISSUE_TRACES)
            if (trace := trace_of_event(event)) is not None
        }
    )
    if not traces:
        return []
    statement = _visible(session, actor, select(LogLine)).where(
        LogLine.project_id == issue.project_id, LogLine.trace_id.in_(traces)
    )
    if query:
        statement = statement.where(
            func.lower(LogLine.body).contains(query.lower(), autoescape=True)
        )
    if level:
        statement = statement.where(LogLine.level == level.lower()[:8])
    found = session.scalars(
        statement.order_by(LogLine.timestamp.desc(), LogLine.id.desc()).limit(
            min(max(limit, 1), MAX_LIST)
        )
    )
    return [LogLineOut.of(line) for line in found]


def _visible(session: Session, actor: Actor, statement: Any) -> Any:
    bound = bound_environment(session, actor)
    return statement if bound is None else statement.where(LogLine.environment == bound)


# -- retention ------------------------------------------------------------------------------


def prune_old_logs(session: Session, cutoff: datetime, limit: int = 500) -> int:
    """Delete up to `limit` log lines received before `cutoff`; returns how many."""
    ids = list(
        session.scalars(
            select(LogLine.id).where(LogLine.received_at < cutoff).order_by(LogLine.id).limit(limit)
        )
    )
    if ids:
        session.execute(
            delete(LogLine).where(LogLine.id.in_(ids)).execution_options(synchronize_session=False)
        )
    return len(ids)
