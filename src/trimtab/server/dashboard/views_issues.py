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
from trimtab.domain.releases import ledger
from trimtab.domain.reports import events, issues, js_mapping, logs
from trimtab.domain.spine import projects
from trimtab.domain.spine.actors import Actor
from trimtab.server.api.schemas import BigRowId
from trimtab.server.dashboard import event_view, issue_chart, pages, views_attachments
from trimtab.server.dashboard.pages import templates
from trimtab.store import rollups
from trimtab.store.models import Issue, Project

router = APIRouter(include_in_schema=False)

STATUS_LABELS = {
    "unresolved": "Unresolved",
    "resolved": "Resolved",
    "resolved_in_next_release": "Resolved in next release",
    "ignored": "Ignored",
}
ACTIONS = ("resolve", "resolve_next", "ignore", "reopen")
PAGE = 50
RECENT_EVENTS = 20

templates.env.globals.update(
    pretty=event_view.pretty,
    is_scalar=event_view.is_scalar,
    when=event_view.when,
    ago=event_view.ago,
    status_labels=STATUS_LABELS,
    user_fields=event_view.user_fields,
    user_label=event_view.user_label,
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
        problem: str | None = None
        try:
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
        except InvalidInput as exc:
            # The search box's mistake is shown above the list, the form kept as typed.
            rows, problem = [], exc.detail
        more = len(rows) > PAGE
        return {
            "project": project,
            "problem": problem,
            "issues": [
                i.model_dump(mode="json") for i in issues.summaries(session, actor, rows[:PAGE])
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
def issue_page(request: Request, slug: str, issue_id: BigRowId) -> Response:
    def read(session: Session, actor: Actor) -> dict[str, Any]:
        now = datetime.now(UTC)
        project = projects.get_project(session, actor, slug)
        issue = issues.get_issue(session, actor, issue_id)
        if issue.project_id != project.id:
            raise NotFound(f"no issue {issue_id} in project {slug!r}")
        detail = issues.issue_detail(session, issue, actor)
        recent = [
            events.EventSummary.of(e).model_dump(mode="json")
            for e in events.list_events(session, actor, issue_id, limit=RECENT_EVENTS)
        ]
        latest = None
        if detail.latest_event_id is not None:
            event = events.get_event(session, actor, detail.latest_event_id, project=slug)
            shown = events.event_detail(session, event).model_dump(mode="json")
            latest = {
                "event": shown,
                "exceptions": event_view.exceptions(shown),
                "around": events.neighbours(session, actor, event),
            }
        return {
            "project": project,
            "issue": detail.model_dump(mode="json"),
            "events": recent,
            "latest": latest,
            "charts": _charts(session, actor, project, issue, detail, now),
            "can_triage": actor.has_scope("deploy"),
            **views_attachments.issue_items(session, actor, issue),
        }

    return pages.page(request, "issue.html", read)


def _charts(
    session: Session,
    actor: Actor,
    project: Project,
    issue: Issue,
    detail: issues.IssueDetail,
    now: datetime,
) -> list[issue_chart.Chart]:
    """The 24 h and 14 d charts from one read of the issue's rollups, with the deploys to the
    environments the issue was seen in (the actor's own, when it is bound to one)."""
    start = issue_chart.start_of_days(now)
    end = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    bound = projects.bound_environment(session, actor)
    hourly = rollups.hourly_counts(
        session, project.id, rollups.issue(issue.id), start, end, environment=bound
    )
    environments = {e.value for e in detail.environments}
    deploys = ledger.deploys_between(session, project.id, environments, start, end)
    return issue_chart.charts(hourly, start, deploys, project.slug)


@router.post("/projects/{slug}/issues/{issue_id}/status")
def issue_status(
    request: Request,
    slug: str,
    issue_id: BigRowId,
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
def event_page(
    request: Request,
    slug: str,
    event_id: str,
    frames: str = Query(default="mapped", max_length=16, pattern="^(mapped|minified)$"),
) -> Response:
    def read(session: Session, actor: Actor) -> dict[str, Any]:
        project = projects.get_project(session, actor, slug)
        event = events.get_event(session, actor, event_id[:64], project=slug)
        detail = events.event_detail(session, event).model_dump(mode="json")
        crumbs = event_view.breadcrumbs(detail)
        return {
            "project": project,
            "event": detail,
            "around": events.neighbours(session, actor, event),
            "exceptions": event_view.exceptions(detail, minified=frames == "minified"),
            "minified_frames": frames == "minified",
            "no_source_maps": detail["platform"] == "javascript"
            and not js_mapping.has_bundles(session, project.id),
            "breadcrumbs": crumbs,
            "path": event_view.movement_path(crumbs),
            "contexts": event_view.contexts(detail),
            "logs": logs.logs_around(session, actor, event).model_dump(mode="json"),
            **views_attachments.event_items(session, event),
        }

    return pages.page(request, "event.html", read)
