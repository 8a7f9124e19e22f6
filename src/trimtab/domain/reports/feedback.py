"""User feedback: what users wrote about an error, kept with its event and issue.

Ingest reads `feedback` and `user_report` items with `core.feedback` (in the request) and the
ingest writer stores them with `store_feedback`: one row per feedback id (an SDK sending
again stores it once; a second user report for the same event replaces nothing), bound to the
issue of the event it names when that event is stored. Feedback that comes first (a user
report posted before the crash's envelope got through) is bound by `bind_feedback` when the
event arrives. The issue page, the API (`/api/v1/issues/{id}/feedback`) and
`trimtab issues show` list an issue's feedback; `feedback_count` counts it. An actor bound to an
environment gets the feedback about that environment's events alone: an issue seen in several
environments has feedback from each.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, exists, func, select, true, tuple_, update
from sqlalchemy.orm import Session

from trimtab.core.feedback import Feedback
from trimtab.domain.results import IsoTime, Result
from trimtab.domain.spine.actors import Actor
from trimtab.domain.spine.projects import bound_environment
from trimtab.store import bulk
from trimtab.store.db import insert_ignore
from trimtab.store.models import Event, UserFeedback

__all__ = [
    "FeedbackEntry",
    "bind_feedback",
    "feedback_count",
    "feedback_for_event",
    "list_feedback",
    "store_feedback",
]

MAX_LIST = 200
_IN_CHUNK = 400


def store_feedback(
    session: Session, project_id: int, items: Sequence[tuple[Feedback, datetime]]
) -> None:
    """Store feedback (each with when it was received) in the caller's transaction, bound to
    its event's issue when that is stored."""
    for item, received_at in items:
        issue_id = None
        if item.event_id is not None:
            issue_id = session.scalar(
                select(Event.issue_id).where(
                    Event.project_id == project_id, Event.event_id == item.event_id
                )
            )
        insert_ignore(
            session,
            UserFeedback,
            {
                "project_id": project_id,
                "feedback_id": item.feedback_id,
                "event_id": item.event_id,
                "issue_id": issue_id,
                "kind": item.kind,
                "name": item.name,
                "email": item.email,
                "message": item.message,
                "url": item.url,
                "received_at": received_at,
            },
        )


# Plain SQL (`store.bulk`): the writer asks it every batch, and SQLAlchemy's execution of a
# statement costs more than the indexed look-up it makes.
_ANY_WAITING = 'SELECT "id" FROM user_feedback WHERE "issue_id" IS NULL LIMIT 1'


def bind_feedback(session: Session, stored: Sequence[tuple[int, str, int]]) -> None:
    """Bind feedback that came before its event: (project id, event id, issue id) of events
    just stored. Feedback hardly ever waits: one look-up in the issue index says whether any
    does; only then one indexed look-up per 400 events, and an update where it waits."""
    if not bulk.select_rows(session, _ANY_WAITING):
        return
    issue_of = {(p, e): i for p, e, i in stored}
    keys = sorted(issue_of)
    for start in range(0, len(keys), _IN_CHUNK):
        chunk = keys[start : start + _IN_CHUNK]
        waiting = session.execute(
            select(UserFeedback.id, UserFeedback.project_id, UserFeedback.event_id).where(
                tuple_(UserFeedback.project_id, UserFeedback.event_id).in_(chunk),
                UserFeedback.issue_id.is_(None),
            )
        ).all()
        for row_id, project_id, event_id in waiting:
            assert event_id is not None  # matched by it
            session.execute(
                update(UserFeedback)
                .where(UserFeedback.id == row_id)
                .values(issue_id=issue_of[(project_id, event_id)])
            )


class FeedbackEntry(Result):
    id: int
    feedback_id: str
    event_id: str | None
    issue_id: int | None
    kind: str  # feedback | user_report
    name: str | None
    email: str | None
    message: str
    url: str | None
    received_at: IsoTime

    @classmethod
    def of(cls, row: UserFeedback) -> FeedbackEntry:
        return cls(
            id=row.id,
            feedback_id=row.feedback_id,
            event_id=row.event_id,
            issue_id=row.issue_id,
            kind=row.kind,
            name=row.name,
            email=row.email,
            message=row.message,
            url=row.url,
            received_at=row.received_at,
        )


def list_feedback(
    session: Session, actor: Actor, issue_id: int, *, limit: int = 50, offset: int = 0
) -> list[FeedbackEntry]:
    """An issue's feedback, newest first (the caller has read the issue as `actor`)."""
    rows = session.scalars(
        select(UserFeedback)
        .where(
            UserFeedback.issue_id == issue_id,
            _about_environment(bound_environment(session, actor)),
        )
        .order_by(UserFeedback.received_at.desc(), UserFeedback.id.desc())
        .limit(min(max(limit, 1), MAX_LIST))
        .offset(max(offset, 0))
    )
    return [FeedbackEntry.of(row) for row in rows]


def feedback_count(session: Session, issue_id: int, *, environment: str | None = None) -> int:
    """How much feedback the issue has (about `environment`'s events only, when given)."""
    counted = select(func.count()).where(
        UserFeedback.issue_id == issue_id, _about_environment(environment)
    )
    return int(session.scalar(counted) or 0)


def _about_environment(environment: str | None) -> ColumnElement[bool]:
    """Feedback about an event of `environment` (None: of any). Bound feedback names a stored
    event, so the event's environment is the feedback's."""
    if environment is None:
        return true()
    return exists().where(
        Event.project_id == UserFeedback.project_id,
        Event.event_id == UserFeedback.event_id,
        Event.environment == environment,
    )


def feedback_for_event(session: Session, project_id: int, event_id: str) -> list[FeedbackEntry]:
    """The feedback about one event (the caller has read the event)."""
    rows = session.scalars(
        select(UserFeedback)
        .where(UserFeedback.project_id == project_id, UserFeedback.event_id == event_id)
        .order_by(UserFeedback.id)
        .limit(MAX_LIST)
    )
    return [FeedbackEntry.of(row) for row in rows]
