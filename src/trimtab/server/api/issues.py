"""/api/v1/issues and /api/v1/events: error reports, read and triaged; an event's attachments
and an issue's user feedback."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import Field

from trimtab.domain.reports import attachments, events, feedback, issues
from trimtab.domain.reports.attachments import AttachmentInfo
from trimtab.domain.reports.events import EventDetail, EventSummary
from trimtab.domain.reports.feedback import FeedbackEntry
from trimtab.domain.reports.issues import IssueDetail, IssueSummary
from trimtab.domain.spine.actors import Actor
from trimtab.server.api.schemas import BigRowId, Body
from trimtab.server.auth import current_actor, store_of
from trimtab.server.headers import attachment_response

router = APIRouter(tags=["issues"])

Reason = Field(default=None, max_length=500)
BINARY = {"type": "string", "format": "binary"}  # a file's bytes, in OpenAPI


class IssueResolve(Body):
    in_release: str | None = Field(default=None, min_length=1, max_length=200)
    in_next_release: bool = False
    reason: str | None = Reason


class IssueIgnore(Body):
    until_count: int | None = Field(default=None, ge=1, le=1_000_000_000)
    until: datetime | None = None
    reason: str | None = Reason


class IssueReopen(Body):
    reason: str | None = Reason


@router.get("/issues", status_code=200)
def list_issues(
    request: Request,
    project: str | None = Query(default=None, max_length=64),
    environment: str | None = Query(default=None, max_length=64),
    release: str | None = Query(default=None, max_length=200),
    status: str | None = Query(default=None, max_length=32),
    query: str | None = Query(default=None, max_length=200),
    sort: str = Query(default="last_seen", max_length=16),
    limit: int = Query(default=50, ge=1, le=issues.MAX_LIST),
    offset: int = Query(default=0, ge=0, le=1_000_000),
    actor: Actor = Depends(current_actor),
) -> list[IssueSummary]:
    with store_of(request).read() as session:
        found = issues.list_issues(
            session,
            actor,
            project=project,
            environment=environment,
            release=release,
            status=status,
            query=query,
            sort=sort,
            limit=limit,
            offset=offset,
        )
        return issues.summaries(session, actor, found)


@router.get("/issues/{issue_id}", status_code=200)
def get_issue(
    issue_id: BigRowId, request: Request, actor: Actor = Depends(current_actor)
) -> IssueDetail:
    with store_of(request).read() as session:
        return issues.issue_detail(session, issues.get_issue(session, actor, issue_id), actor)


@router.get("/issues/{issue_id}/events", status_code=200)
def list_issue_events(
    issue_id: BigRowId,
    request: Request,
    limit: int = Query(default=50, ge=1, le=events.MAX_LIST),
    offset: int = Query(default=0, ge=0, le=1_000_000),
    actor: Actor = Depends(current_actor),
) -> list[EventSummary]:
    with store_of(request).read() as session:
        found = events.list_events(session, actor, issue_id, limit=limit, offset=offset)
        return [EventSummary.of(event) for event in found]


@router.post("/issues/{issue_id}/resolve", status_code=200)
def resolve_issue(
    issue_id: BigRowId, body: IssueResolve, request: Request, actor: Actor = Depends(current_actor)
) -> IssueDetail:
    with store_of(request).write() as session:
        issue = issues.resolve_issue(
            session,
            actor,
            issue_id,
            in_release=body.in_release,
            in_next_release=body.in_next_release,
            reason=body.reason,
        )
        return issues.issue_detail(session, issue, actor)


@router.post("/issues/{issue_id}/ignore", status_code=200)
def ignore_issue(
    issue_id: BigRowId, body: IssueIgnore, request: Request, actor: Actor = Depends(current_actor)
) -> IssueDetail:
    with store_of(request).write() as session:
        issue = issues.ignore_issue(
            session,
            actor,
            issue_id,
            until_count=body.until_count,
            until=body.until,
            reason=body.reason,
        )
        return issues.issue_detail(session, issue, actor)


@router.post("/issues/{issue_id}/reopen", status_code=200)
def reopen_issue(
    issue_id: BigRowId, body: IssueReopen, request: Request, actor: Actor = Depends(current_actor)
) -> IssueDetail:
    with store_of(request).write() as session:
        issue = issues.reopen_issue(session, actor, issue_id, reason=body.reason)
        return issues.issue_detail(session, issue, actor)


@router.get("/events/{event_id}", status_code=200)
def get_event(
    event_id: str,
    request: Request,
    project: str | None = Query(default=None, max_length=64),
    actor: Actor = Depends(current_actor),
) -> EventDetail:
    with store_of(request).read() as session:
        event = events.get_event(session, actor, event_id[:64], project=project)
        return events.event_detail(session, event)


@router.get("/issues/{issue_id}/feedback", status_code=200)
def list_issue_feedback(
    issue_id: BigRowId,
    request: Request,
    limit: int = Query(default=50, ge=1, le=feedback.MAX_LIST),
    offset: int = Query(default=0, ge=0, le=1_000_000),
    actor: Actor = Depends(current_actor),
) -> list[FeedbackEntry]:
    """What users wrote about the issue's errors, newest first."""
    with store_of(request).read() as session:
        issue = issues.get_issue(session, actor, issue_id)
        return feedback.list_feedback(session, actor, issue.id, limit=limit, offset=offset)


@router.get("/events/{event_id}/attachments", status_code=200)
def list_event_attachments(
    event_id: str,
    request: Request,
    project: str | None = Query(default=None, max_length=64),
    actor: Actor = Depends(current_actor),
) -> list[AttachmentInfo]:
    """The event's attachments (or a user feedback's: its screenshot); refused ones say why
    they were not kept."""
    with store_of(request).read() as session:
        owner = attachments.attachment_owner(session, actor, event_id[:64], project=project)
        return attachments.list_attachments(session, owner)


@router.get(
    "/events/{event_id}/attachments/{attachment_id}",
    status_code=200,
    response_class=Response,
    responses={
        200: {"content": {"application/octet-stream": {"schema": BINARY}}},
    },
)
def download_event_attachment(
    event_id: str,
    attachment_id: BigRowId,
    request: Request,
    project: str | None = Query(default=None, max_length=64),
    actor: Actor = Depends(current_actor),
) -> Response:
    """The attachment's bytes, as a download."""
    with store_of(request).read() as session:
        owner = attachments.attachment_owner(session, actor, event_id[:64], project=project)
        found = attachments.get_attachment(session, owner, attachment_id)
    return attachment_response(found.filename, found.media_type, found.data)
