"""Events: the occurrences of an issue, and one event in full.

An event is kept as the SDK sent it (compressed); `event_detail` returns all of it under `data`,
with the fields trimtab derives beside it (title, culprit, grouping components, tags including
the derived ones, flags evaluated) and the parts a reader looks at first (exception chain,
breadcrumbs, contexts, user, request, extra, sdk) lifted to the top in one shape, whatever shape
the SDK used (`{"values": [...]}` or a bare list).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from trimtab.core.envelope import decode_json_object
from trimtab.core.event_fields import extract_fields
from trimtab.core.grouping import group_event
from trimtab.core.user_agent import contexts_from_user_agent, event_user_agent
from trimtab.domain.errors import InvalidInput, NotFound
from trimtab.domain.reports.issues import get_issue
from trimtab.domain.reports.js_mapping import map_stored_event
from trimtab.domain.results import IsoTime, Result
from trimtab.domain.spine.actors import Actor
from trimtab.domain.spine.projects import bound_environment, get_project, list_projects
from trimtab.store.models import Event, Issue, Project
from trimtab.store.payloads import decompress_payload

__all__ = [
    "EventDetail",
    "EventFlag",
    "EventNeighbours",
    "EventSummary",
    "EventTag",
    "event_detail",
    "get_event",
    "list_events",
    "neighbours",
]

MAX_LIST = 200


class EventSummary(Result):
    event_id: str
    issue_id: int
    received_at: IsoTime
    timestamp: IsoTime
    level: str
    environment: str | None
    release: str | None
    payload_size: int  # bytes as sent, uncompressed
    stored_size: int  # bytes as stored, compressed

    @classmethod
    def of(cls, event: Event) -> EventSummary:
        return cls(
            event_id=event.event_id,
            issue_id=event.issue_id,
            received_at=event.received_at,
            timestamp=event.timestamp,
            level=event.level,
            environment=event.environment,
            release=event.release,
            payload_size=event.payload_size,
            stored_size=len(event.payload),
        )


class EventTag(Result):
    key: str
    value: str


class EventFlag(Result):
    """A feature flag evaluated before the error, as the SDK reported it."""

    flag: str
    result: bool | int | float | str | None
    variant: str | None
    reason: str | None


class EventDetail(EventSummary):
    """One event in full. The parts lifted from `data` are as the SDK sent them (free-form)."""

    id: str
    project: str
    issue_title: str
    issue_status: str
    platform: str
    title: str
    culprit: str
    message: str | None
    transaction: str | None
    fingerprint: str
    grouping_components: list[str]
    tags: list[EventTag]
    flags: list[EventFlag]
    exception: list[dict[str, Any]]
    breadcrumbs: list[dict[str, Any]]
    threads: list[dict[str, Any]]
    contexts: dict[str, Any]
    user: dict[str, Any]
    request: dict[str, Any]
    extra: dict[str, Any]
    sdk: dict[str, Any]
    data: dict[str, Any]  # the event exactly as the SDK sent it


def normalize_event_id(raw: str) -> str:
    text = raw.strip().replace("-", "").lower()
    if len(text) != 32 or any(c not in "0123456789abcdef" for c in text):
        raise InvalidInput("an event id is 32 hexadecimal characters (a UUID)")
    return text


def get_event(
    session: Session, actor: Actor, event_id: str, *, project: str | None = None
) -> Event:
    """An event by its id, in the named project or in any project the actor reaches (and in
    the actor's environment, when it is bound to one)."""
    event_id = normalize_event_id(event_id)
    bound = bound_environment(session, actor)
    if project is not None:
        project_ids = [get_project(session, actor, project).id]
    else:
        # Looked up project by project on the (project_id, event_id) index: installs have few
        # projects, and no index on event_id alone is needed.
        project_ids = [p.id for p in list_projects(session, actor)]
    for project_id in project_ids:
        event = session.scalars(
            select(Event).where(Event.project_id == project_id, Event.event_id == event_id)
        ).first()
        if event is not None and bound in (None, event.environment):
            return event
    raise NotFound(f"no event {event_id}")


def list_events(
    session: Session, actor: Actor, issue_id: int, *, limit: int = 50, offset: int = 0
) -> list[Event]:
    """An issue's events, newest first (in the actor's environment, when it is bound to one)."""
    issue = get_issue(session, actor, issue_id)
    query = select(Event).where(Event.issue_id == issue.id)
    bound = bound_environment(session, actor)
    if bound is not None:
        query = query.where(Event.environment == bound)
    return list(
        session.scalars(
            query.order_by(Event.received_at.desc(), Event.id.desc())
            .limit(min(max(limit, 1), MAX_LIST))
            .offset(max(offset, 0))
        )
    )


class EventNeighbours(Result):
    """The events around one in its issue's order (received, then id): the ends and the
    adjacent ones, None where there is none (the event is itself the end)."""

    oldest: str | None
    previous: str | None
    next: str | None
    latest: str | None


def neighbours(session: Session, actor: Actor, event: Event) -> EventNeighbours:
    """Four keyset lookups on the (issue_id, received_at) index: each reads one index entry
    past the event (or the end), however many events the issue has."""
    query = select(Event.event_id).where(Event.issue_id == event.issue_id)
    bound = bound_environment(session, actor)
    if bound is not None:
        query = query.where(Event.environment == bound)
    at, row = event.received_at, event.id
    older = query.where(
        Event.received_at <= at, or_(Event.received_at < at, Event.id < row)
    ).order_by(Event.received_at.desc(), Event.id.desc())
    newer = query.where(
        Event.received_at >= at, or_(Event.received_at > at, Event.id > row)
    ).order_by(Event.received_at, Event.id)
    oldest = query.order_by(Event.received_at, Event.id)
    latest = query.order_by(Event.received_at.desc(), Event.id.desc())

    def first(statement: Select[str]) -> str | None:
        found = session.scalar(statement.limit(1))
        return None if found == event.event_id else found

    return EventNeighbours(
        oldest=first(oldest),
        previous=first(older),
        next=first(newer),
        latest=first(latest),
    )


def event_data(event: Event) -> dict[str, Any]:
    """The event exactly as the SDK sent it."""
    return decode_json_object(decompress_payload(event.payload), "stored event")


def event_detail(session: Session, event: Event) -> EventDetail:
    data = event_data(event)
    # Frames that no map matched at ingest (it was uploaded after the event) are mapped now.
    dist = data.get("dist")
    remapped = map_stored_event(
        session,
        event.project_id,
        event.event_id,
        data,
        event.release,
        dist if isinstance(dist, str) else None,
    )
    data = remapped if remapped is not None else data
    issue = session.get(Issue, event.issue_id)
    project = session.get(Project, event.project_id)
    assert issue is not None and project is not None  # foreign keys guarantee both
    # Contexts the SDK did not send but its User-Agent tells (as at ingest); what it sent wins.
    derived = contexts_from_user_agent(event_user_agent(data))
    contexts = {**derived, **_dict(data.get("contexts"))}
    fields = extract_fields({**data, "contexts": contexts}, event.received_at)
    grouping = group_event(data)
    return EventDetail(
        **dict(EventSummary.of(event)),
        id=event.event_id,
        project=project.slug,
        issue_title=issue.title,
        issue_status=issue.status,
        platform=fields.platform,
        title=grouping.title,
        culprit=grouping.culprit,
        message=_message(data),
        transaction=fields.transaction,
        fingerprint=issue.fingerprint,
        grouping_components=grouping.grouping_components,
        tags=[EventTag(key=k, value=v) for k, v in fields.tags],
        flags=[
            EventFlag(flag=f.flag, result=f.result, variant=f.variant, reason=f.reason)
            for f in fields.flags
        ],
        exception=_values(data.get("exception")),
        breadcrumbs=_values(data.get("breadcrumbs")),
        threads=_values(data.get("threads")),
        contexts=contexts,
        user=_dict(data.get("user")),
        request=_dict(data.get("request")),
        extra=_dict(data.get("extra")),
        sdk=_dict(data.get("sdk")),
        data=data,
    )


def _values(raw: Any) -> list[Any]:
    if isinstance(raw, dict):
        raw = raw.get("values")
    return [v for v in raw if isinstance(v, dict)] if isinstance(raw, list) else []


def _dict(raw: Any) -> dict[str, Any]:
    return raw if isinstance(raw, dict) else {}


def _message(data: dict[str, Any]) -> str | None:
    logentry = data.get("logentry")
    if isinstance(logentry, dict):
        text = logentry.get("formatted") or logentry.get("message")
        if isinstance(text, str):
            return text
    message = data.get("message")
    if isinstance(message, dict):
        message = message.get("formatted") or message.get("message")
    return message if isinstance(message, str) else None
