"""Retention: stored events older than N days go, and no issue keeps more than M events.

An event's attachments go with it (`reports.attachments.delete_for_events`); attachments and
user feedback whose event never came go when they are older than N days.

Issues stay, with their counters: `event_count`, `user_count`, first/last seen and the facet
counts describe everything that ever arrived, not what is still stored. Only event payloads
(the bulk of the store) and time series past the horizon are removed: the per-minute and
hourly error rollups (an hour that began before the horizon goes whole), hourly flag evaluation
counts, the daily counts of what ingest did not store, release-health sessions, finished alert
deliveries and dispatched notifications. Sentry log lines have their
own horizon (`domain.reports.logs.prune_old_logs`).

Every function here deletes at most one small batch in the caller's transaction, so a write
lock is never held for long: the retention job calls them in a loop, one transaction each,
and ingest's writer slips in between.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from trimtab.domain.reports.attachments import delete_for_events
from trimtab.store.models import (
    AlertDelivery,
    ErrorRollup,
    ErrorRollupHour,
    Event,
    EventAttachment,
    FlagEvaluationHour,
    HealthBucket,
    HealthSession,
    IngestUsageDay,
    Issue,
    Notification,
    UserFeedback,
)

BATCH = 500
MAX_ISSUES_PER_RUN = 1000


def _delete_ids(session: Session, model: Any, ids: list[int]) -> int:
    if ids:
        session.execute(
            delete(model).where(model.id.in_(ids)).execution_options(synchronize_session=False)
        )
    return len(ids)


def _delete_events(session: Session, query: Any) -> int:
    """Delete the events `query` selects (id, project id, event id), with their attachments."""
    rows = session.execute(query).all()
    delete_for_events(session, [(project_id, event_id) for _, project_id, event_id in rows])
    return _delete_ids(session, Event, [row[0] for row in rows])


def prune_old_events(session: Session, cutoff: datetime, limit: int = BATCH) -> int:
    """Delete up to `limit` events received before `cutoff`; returns how many."""
    return _delete_events(
        session,
        select(Event.id, Event.project_id, Event.event_id)
        .where(Event.received_at < cutoff)
        .order_by(Event.id)
        .limit(limit),
    )


def issues_over_cap(session: Session, max_events: int) -> list[int]:
    """Issues that may store more than `max_events` events (their lifetime count says so;
    how many are still stored is checked per issue by `prune_issue_excess`)."""
    query = (
        select(Issue.id)
        .where(Issue.event_count > max_events)
        .order_by(Issue.last_seen.desc())
        .limit(MAX_ISSUES_PER_RUN)
    )
    return list(session.scalars(query))


def prune_issue_excess(session: Session, issue_id: int, max_events: int, limit: int = BATCH) -> int:
    """Delete up to `limit` of the issue's oldest events beyond its newest `max_events`."""
    # The newest `max_events` are found through the (issue_id, received_at) index: the
    # boundary is the first event past them, and everything at or before it goes.
    boundary = session.execute(
        select(Event.received_at, Event.id)
        .where(Event.issue_id == issue_id)
        .order_by(Event.received_at.desc(), Event.id.desc())
        .offset(max_events)
        .limit(1)
    ).first()
    if boundary is None:
        return 0
    at, event_id = boundary
    return _delete_events(
        session,
        select(Event.id, Event.project_id, Event.event_id)
        .where(
            Event.issue_id == issue_id,
            (Event.received_at < at) | ((Event.received_at == at) & (Event.id <= event_id)),
        )
        .order_by(Event.received_at, Event.id)
        .limit(limit),
    )


@dataclass(frozen=True)
class _Series:
    model: Any
    column: Any
    extra: Any = None  # a further condition: only rows that are finished


def _series() -> tuple[_Series, ...]:
    return (
        _Series(ErrorRollup, ErrorRollup.minute),
        _Series(ErrorRollupHour, ErrorRollupHour.hour),
        _Series(HealthSession, HealthSession.last_update),
        _Series(HealthBucket, HealthBucket.hour),
        _Series(FlagEvaluationHour, FlagEvaluationHour.hour),
        _Series(IngestUsageDay, IngestUsageDay.day),
        _Series(AlertDelivery, AlertDelivery.created_at, AlertDelivery.status != "pending"),
        _Series(Notification, Notification.created_at, Notification.dispatched_at.is_not(None)),
        # Those whose event never came (the others went with their event).
        _Series(EventAttachment, EventAttachment.received_at),
        _Series(UserFeedback, UserFeedback.received_at),
    )


def prune_old_series(session: Session, cutoff: datetime, limit: int = BATCH) -> int:
    """Delete up to `limit` rows of each time series older than `cutoff`; returns how many."""
    removed = 0
    for series in _series():
        query = select(series.model.id).where(series.column < cutoff)
        if series.extra is not None:
            query = query.where(series.extra)
        ids = session.scalars(query.order_by(series.model.id).limit(limit)).all()
        removed += _delete_ids(session, series.model, list(ids))
    return removed
