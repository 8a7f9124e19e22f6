"""The issue's log search: `/projects/<slug>/issues/<id>/logs?q=` lists the Sentry log lines
of the traces of the issue's newest events whose body holds the text (`domain.reports.logs`,
the function the API's `/api/v1/issues/<id>/logs` calls). The event page shows the lines
around one error itself (`_event_logs.html`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from trimtab.core.sentry_logs import LEVELS
from trimtab.domain.errors import NotFound
from trimtab.domain.reports import issues, logs
from trimtab.domain.spine import projects
from trimtab.domain.spine.actors import Actor
from trimtab.server.api.schemas import RowId
from trimtab.server.dashboard import pages

router = APIRouter(include_in_schema=False)


@router.get("/projects/{slug}/issues/{issue_id}/logs", response_class=HTMLResponse)
def issue_logs_page(
    request: Request,
    slug: str,
    issue_id: RowId,
    q: str | None = Query(default=None, max_length=logs.MAX_QUERY),
    level: str | None = Query(default=None, max_length=8),
) -> Response:
    def read(session: Session, actor: Actor) -> dict[str, Any]:
        project = projects.get_project(session, actor, slug)
        issue = issues.get_issue(session, actor, issue_id)
        if issue.project_id != project.id:
            raise NotFound(f"no issue {issue_id} in project {slug!r}")
        found = logs.issue_logs(
            session, actor, issue.id, query=q or None, level=level or None, limit=logs.MAX_LIST
        )
        return {
            "project": project,
            "issue": issue,
            "q": q or "",
            "level": level or "",
            "levels": LEVELS,
            "lines": [line.model_dump(mode="json") for line in found],
            "traces": logs.ISSUE_TRACES,
            "max_lines": logs.MAX_LIST,
        }

    return pages.page(request, "issue_logs.html", read)
