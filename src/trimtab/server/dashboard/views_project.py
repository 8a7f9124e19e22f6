"""The project's overview page: per environment what runs where, the window or freeze holding
deploys, maintenance, issues new since the last deploy and recent flag changes; the failing
dependencies. One read of `project_overview.project_overview`, which the page only shapes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from trimtab.domain.releases import project_overview
from trimtab.domain.spine import projects
from trimtab.domain.spine.actors import Actor
from trimtab.server.dashboard import pages

router = APIRouter(include_in_schema=False)


@router.get("/projects/{slug}", response_class=HTMLResponse)
def project_page(request: Request, slug: str) -> Response:
    def read(session: Session, actor: Actor) -> dict[str, Any]:
        now = datetime.now(UTC)
        return {
            "project": projects.get_project(session, actor, slug),
            "overview": project_overview.project_overview(session, actor, slug, now),
            "now": now,
        }

    return pages.page(request, "project.html", read)
