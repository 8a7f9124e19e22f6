"""/api/v1/audit: read the audit log (it has no write endpoint: entries come with changes)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request

from trimtab.domain.spine import audit, projects
from trimtab.domain.spine.actors import Actor
from trimtab.domain.spine.audit import AuditEntrySummary
from trimtab.server.auth import current_actor, store_of

router = APIRouter(tags=["audit"])


@router.get("/audit", status_code=200)
def list_audit(
    request: Request,
    project: str | None = Query(default=None, max_length=64),
    action: str | None = Query(default=None, max_length=100),
    limit: int = Query(default=100, ge=1, le=audit.MAX_LIST),
    actor: Actor = Depends(current_actor),
) -> list[AuditEntrySummary]:
    with store_of(request).read() as session:
        project_id = None
        if project is not None:
            project_id = projects.get_project(session, actor, project).id
        elif actor.project_id is not None:
            project_id = actor.project_id
            actor.require("read", project_id=project_id)
        else:
            actor.require("read")
        entries = audit.list_entries(
            session,
            project_id=project_id,
            action_prefix=action,
            environment=projects.bound_environment(session, actor),
            limit=limit,
        )
        return [AuditEntrySummary.of(e) for e in entries]
