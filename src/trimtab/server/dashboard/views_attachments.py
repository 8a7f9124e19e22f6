"""The dashboard's part of attachments and user feedback: an event's attachments and feedback
for the event page (`event_items`), and the download of one attachment.

A download is the stored bytes with `server.headers.attachment_response`: as a file, never a
page of this origin; `?inline=1` shows a plain raster image in place (the event page's
screenshots), and is ignored for every other type.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from trimtab.domain.reports import attachments, feedback
from trimtab.domain.spine.actors import Actor
from trimtab.server.api.schemas import BigRowId
from trimtab.server.dashboard import pages
from trimtab.server.headers import attachment_response
from trimtab.store.models import Event, Issue

router = APIRouter(include_in_schema=False)
FEEDBACK_SHOWN = 20


def event_items(session: Session, event: Event) -> dict[str, Any]:
    """What the event page shows of the event's attachments and feedback."""
    return {
        "attachments": [
            a.model_dump(mode="json")
            for a in attachments.list_attachments(session, (event.project_id, event.event_id))
        ],
        "event_feedback": [
            f.model_dump(mode="json")
            for f in feedback.feedback_for_event(session, event.project_id, event.event_id)
        ],
    }


def issue_items(session: Session, actor: Actor, issue: Issue) -> dict[str, Any]:
    """What the issue page shows of the issue's feedback, with the feedback's own attachments
    (the browser widget's screenshot)."""
    listed = feedback.list_feedback(session, actor, issue.id, limit=FEEDBACK_SHOWN)
    found = attachments.list_for(session, issue.project_id, [f.feedback_id for f in listed])
    return {
        "feedback": [f.model_dump(mode="json") for f in listed],
        "feedback_attachments": {
            key: [a.model_dump(mode="json") for a in value] for key, value in found.items()
        },
    }


@router.get("/projects/{slug}/events/{event_id}/attachments/{attachment_id}")
def download_attachment(
    request: Request,
    slug: str,
    event_id: str,
    attachment_id: BigRowId,
    inline: int = Query(default=0, ge=0, le=1),
) -> Response:
    def read(session: Session, actor: Actor) -> Response:
        owner = attachments.attachment_owner(session, actor, event_id[:64], project=slug)
        found = attachments.get_attachment(session, owner, attachment_id)
        shown = bool(inline) and found.inline
        return attachment_response(found.filename, found.media_type, found.data, inline=shown)

    return pages.respond(request, read)
