"""Dashboard pages for error reports: a project's issues, one issue, one event.

They read through `domain.issues` and `domain.events` (the same functions as the API) and
change status through the same triage functions, with the session's CSRF token on every form.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from trimtab.domain.errors import InvalidInput, NotFound
from trimtab.domain.reports import events, issues
from trimtab.domain.spine import projects
from trimtab.domain.spine.actors import Actor
from trimtab.server.api.schemas import RowId
from trimtab.server.dashboard import event_view, pages
from trimtab.server.dashboard.pages import templates
from trimtab.store import rollups

router = APIRouter(include_in_schema=False)

STATUS_LABELS = {
    "unresolved": "Unresolved",
    "resolved": "Resolved",
    "resolved_in_next_release": "Resolved in next release",
    "ignored": "Ignored",
}
ACTIONS = ("resolve", "resolve_next", "ignore", "reopen")
PAGE = 50
SPARK_HOURS = 24

templates.env.globals.update(
    pretty=event_view.pretty,
    is_scalar=event_view.is_scalar,
    when=event_view.when,
    ago=event_view.ago,
    status_labels=STATUS_LABELS,
)


@router.get("/projects/{slug}/issues", response_class=HTMLResponse)
def issue_list(
    request: Request,
    slug: str,
    environment: str | None = Query(default=None, max_length=64),
    release: str | None = Query(default=None, max_length=200),
    status: str | None = Query(default="unresolved", max_length=32),
    q: str | None = Query(default=None, max_length=200),
    sort: str = Query(default="last_seen", max_length=16),
    page: int = Query(default=1, ge=1, le=1000),
) -> Response:
    filters = {
        "environment": environment or None,
        "release": release or None,
        "status": status or None,
        "q": q or None,
        "sort": sort,
    }
    base = {k: v for k, v in filters.items() if v is not None}

    def read(session: Session, actor: Actor) -> dict[str, Any]:
        project = projects.get_project(session, actor, slug)
        rows = issues.list_issues(
            session,
            actor,
            project=slug,
            environment=filters["environment"],
            release=filters["release"],
            status=filters["status"],
            query=filters["q"],
            sort=sort,
            limit=PAGE + 1,
            offset=(page - 1) * PAGE,
        )
        more = len(rows) > PAGE
        return {
            "project": project,
            "issues": [
                issues.IssueSummary.of(issue, p).model_dump(mode="json") for issue, p in rows[:PAGE]
            ],
            "filters": filters,
            "environments": [e.name for e in project.environments],
            "statuses": STATUS_LABELS,
            "page": page,
            "prev_url": f"?{urlencode({**base, 'page': page - 1})}" if page > 1 else None,
            "next_url": f"?{urlencode({**base, 'page': page + 1})}" if more else None,
        }

    return pages.page(request, "issues.html", read)


@router.get("/projects/{slug}/issues/{issue_id}", response_class=HTMLResponse)
def issue_page(request: Request, slug: str, issue_id: RowId) -> Response:
    def read(session: Session, actor: Actor) -> dict[str, Any]:
        now = datetime.now(UTC)
        project = projects.get_project(session, actor, slug)
        issue = issues.get_issue(session, actor, issue_id)
        if issue.project_id != project.id:
            raise NotFound(f"no issue {issue_id} in project {slug!r}")
        recent = [
            events.EventSummary.of(e).model_dump(mode="json")
            for e in events.list_events(session, actor, issue_id)
        ]
        hourly = rollups.hourly_counts(
            session,
            project.id,
            rollups.issue(issue.id),
            now - timedelta(hours=SPARK_HOURS - 1),
            now,
        )
        peak = max(hourly, default=0)
        return {
            "project": project,
            "issue": issues.issue_detail(session, issue, actor).model_dump(mode="json"),
            "events": recent[:20],
            "spark": [(n, round(100 * n / peak) if peak else 0) for n in hourly],
            "spark_total": sum(hourly),
            "can_triage": actor.has_scope("deploy"),
        }

    return pages.page(request, "issue.html", read)


@router.post("/projects/{slug}/issues/{issue_id}/status")
def issue_status(
    request: Request,
    slug: str,
    issue_id: RowId,
    action: str = Form(max_length=16),
    csrf_token: str = Form(default="", max_length=100),
    count: int | None = Form(default=None, ge=1, le=1_000_000_000),
) -> Response:
    def write(session: Session, actor: Actor) -> str:
        if action not in ACTIONS:
            raise InvalidInput(f"unknown action {action!r}")
        project = projects.get_project(session, actor, slug)
        issue = issues.get_issue(session, actor, issue_id, scope="deploy")
        if issue.project_id != project.id:
            raise NotFound(f"no issue {issue_id} in project {slug!r}")
        reason = "from the dashboard"
        if action == "resolve":
            issues.resolve_issue(session, actor, issue_id, reason=reason)
        elif action == "resolve_next":
            issues.resolve_issue(session, actor, issue_id, in_next_release=True, reason=reason)
        elif action == "ignore":
            issues.ignore_issue(session, actor, issue_id, until_count=count, reason=reason)
        else:
            issues.reopen_issue(session, actor, issue_id, reason=reason)
        return f"/projects/{slug}/issues/{issue_id}"

    return pages.post(request, csrf_token, write)


@router.get("/projects/{slug}/events/{event_id}", response_class=HTMLResponse)
def event_page(request: Request, slug: str, event_id: str) -> Response:
    def read(session: Session, actor: Actor) -> dict[str, Any]:
        project = projects.get_project(session, actor, slug)
        event = events.get_event(session, actor, event_id[:64], project=slug)
        detail = events.event_detail(session, event).model_dump(mode="json")
        crumbs = event_view.breadcrumbs(detail)
        return {
            "project": project,
            "event": detail,
            "exceptions": event_view.exceptions(detail),
            "breadcrumbs": crumbs,
            "path": event_view.movement_path(crumbs),
            "contexts": event_view.contexts(detail),
        }

    return pages.page(request, "event.html", read)
