"""/api/v1: Sentry log lines by event and issue, and what ingest did not store per project."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Depends, Query, Request

from trimtab.domain.reports import logs, usage
from trimtab.domain.reports.logs import EventLogs, LogLineOut
from trimtab.domain.reports.usage import UsageTotal
from trimtab.domain.spine.actors import Actor
from trimtab.server.api.schemas import RowId
from trimtab.server.auth import current_actor, store_of

router = APIRouter(tags=["logs"])


@router.get("/events/{event_id}/logs", status_code=200)
def event_logs(
    event_id: str,
    request: Request,
    project: str | None = Query(default=None, max_length=64),
    around: int = Query(default=logs.AROUND, ge=1, le=logs.MAX_LIST),
    actor: Actor = Depends(current_actor),
) -> EventLogs:
    """The log lines of the event's trace before and after it."""
    with store_of(request).read() as session:
        return logs.event_logs(session, actor, event_id[:64], project=project, around=around)


@router.get("/issues/{issue_id}/logs", status_code=200)
def issue_logs(
    issue_id: RowId,
    request: Request,
    query: str | None = Query(default=None, max_length=logs.MAX_QUERY),
    level: str | None = Query(default=None, max_length=8),
    limit: int = Query(default=100, ge=1, le=logs.MAX_LIST),
    actor: Actor = Depends(current_actor),
) -> list[LogLineOut]:
    """Log lines of the traces of the issue's newest events, newest first, whose body holds
    `query` (case-insensitive)."""
    with store_of(request).read() as session:
        return logs.issue_logs(session, actor, issue_id, query=query, level=level, limit=limit)


@router.get("/projects/{slug}/usage", status_code=200)
def project_usage(
    slug: str,
    request: Request,
    days: int = Query(default=30, ge=1, le=usage.MAX_DAYS),
    actor: Actor = Depends(current_actor),
) -> list[UsageTotal]:
    """What the project's SDKs sent that was not stored (and the log lines stored), per data
    category and outcome over the last `days` days."""
    with store_of(request).read() as session:
        return usage.project_usage(session, actor, slug, now=datetime.now(UTC), days=days)
