"""Event attachments: kept with their event, bounded, listed and handed out for download.

An `attachment` envelope item belongs to the envelope's `event_id`. It may come with its event,
before it, or without one (a crash report sent in two envelopes), so it is bound by that id,
not by a row: the event page and the API find it by (project, event id) whenever the event
arrives. Ingest prepares it in the request (`prepare_attachment`, pure); the ingest writer
stores the batch's attachments with `store_attachments`, where the bounds are checked against
what is stored:

- per event (`TRIMTAB_ATTACHMENTS_PER_EVENT_BYTES`, 20 MB) and per project
  (`TRIMTAB_ATTACHMENTS_PER_PROJECT_BYTES`, 1 GB): an attachment past either is refused, its
  row kept without bytes and with the reason (so the refusal is counted and shown where it
  happened), and the event itself is stored all the same;
- at most `MAX_PER_EVENT` rows per event, refused ones included; past that an attachment is
  dropped (logged);
- an SDK sending the same envelope again (same event, file name and size) stores it once.

Bytes are zstandard-compressed like event payloads (`store.payloads`). Retention removes an
event's attachments with the event (`domain.reports.retention`). Serving is the web layer's,
with the content type this module deems safe (`AttachmentFile.media_type`): never a type a
browser would run (HTML, SVG, XML, scripts), and inline only for plain raster images.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, tuple_
from sqlalchemy.orm import Session

from trimtab.core.envelope import EnvelopeItem
from trimtab.core.event_fields import event_id as hex_event_id
from trimtab.domain.errors import NotFound
from trimtab.domain.reports.events import get_event, normalize_event_id
from trimtab.domain.reports.issues import get_issue
from trimtab.domain.results import IsoTime, Result
from trimtab.domain.spine.actors import Actor
from trimtab.domain.spine.projects import bound_environment, get_project, list_projects
from trimtab.store.models import EventAttachment, UserFeedback
from trimtab.store.payloads import compress_payload, decompress_payload

__all__ = [
    "AttachmentFile",
    "AttachmentInfo",
    "AttachmentLimits",
    "PreparedAttachment",
    "attachment_owner",
    "delete_for_events",
    "get_attachment",
    "list_attachments",
    "list_for",
    "prepare_attachment",
    "store_attachments",
]

log = logging.getLogger("trimtab.ingest")

MB = 1024 * 1024
MAX_PER_EVENT = 100
DEFAULT_TYPE = "event.attachment"
OCTET_STREAM = "application/octet-stream"
# Shown in the page and served inline: raster images a browser only ever draws.
INLINE_IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
_MEDIA_TYPE_RE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,63}")
# Types a browser would render as a document or run, whatever the Content-Disposition says
# when a user opens the downloaded file from the browser: served as bytes, not as these.
_ACTIVE_TYPE_RE = re.compile(r"html|xml|svg|javascript|ecmascript|x-sh|pdf|text/cache-manifest")
_FILENAME_MAX = 255


@dataclass(frozen=True, slots=True)
class AttachmentLimits:
    per_event_bytes: int = 20 * MB  # 0: no limit
    per_project_bytes: int = 1024 * MB  # 0: no limit


@dataclass(slots=True)
class PreparedAttachment:
    project_id: int
    event_id: str
    filename: str
    content_type: str
    attachment_type: str
    data: bytes
    received_at: datetime


def media_type(raw: str | None) -> str:
    """The attachment's content type as stored: a plain `type/subtype` (parameters dropped),
    else application/octet-stream."""
    text = (raw or "").split(";", 1)[0].strip().lower()
    return text if _MEDIA_TYPE_RE.fullmatch(text) else OCTET_STREAM


def prepare_attachment(
    project_id: int, item: EnvelopeItem, envelope_event_id: str | None, received_at: datetime
) -> PreparedAttachment | str:
    """An `attachment` item ready for the writer, or why it is dropped (pure)."""
    event_id = hex_event_id({"event_id": envelope_event_id})
    if event_id is None:
        return "an attachment needs the envelope header's event_id"
    filename = (item.filename or "").replace("\x00", "").strip()[:_FILENAME_MAX] or "attachment"
    kind = item.headers.get("attachment_type")
    return PreparedAttachment(
        project_id=project_id,
        event_id=event_id,
        filename=filename,
        content_type=media_type(item.content_type),
        attachment_type=kind[:64] if isinstance(kind, str) and kind else DEFAULT_TYPE,
        data=item.payload,
        received_at=received_at,
    )


@dataclass(slots=True)
class _Usage:
    bytes: int = 0
    rows: int = 0


def store_attachments(
    session: Session, attachments: Sequence[PreparedAttachment], limits: AttachmentLimits
) -> int:
    """Store a batch's attachments in the caller's transaction, within the bounds; returns how
    many were refused (their rows say why)."""
    if not attachments:
        return 0
    keys = sorted({(a.project_id, a.event_id) for a in attachments})
    by_event: dict[tuple[int, str], _Usage] = defaultdict(_Usage)
    seen: set[tuple[int, str, str, int]] = set()
    stored = select(
        EventAttachment.project_id,
        EventAttachment.event_id,
        EventAttachment.filename,
        EventAttachment.size,
        EventAttachment.refused,
    ).where(tuple_(EventAttachment.project_id, EventAttachment.event_id).in_(keys))
    for project_id, event_id, filename, size, refused in session.execute(stored):
        usage = by_event[(project_id, event_id)]
        usage.rows += 1
        if refused is None:
            usage.bytes += size
            seen.add((project_id, event_id, filename, size))
    by_project = {p: _project_bytes(session, p) for p in sorted({k[0] for k in keys})}
    refused_count = 0
    for attachment in attachments:
        key = (attachment.project_id, attachment.event_id)
        size = len(attachment.data)
        usage = by_event[key]
        if (*key, attachment.filename, size) in seen:
            continue  # the SDK sent this envelope again
        if usage.rows >= MAX_PER_EVENT:
            log.info("ingest: dropped an attachment: event %s has %d", key[1], MAX_PER_EVENT)
            continue
        reason = _refusal(size, usage.bytes, by_project[key[0]], limits)
        usage.rows += 1
        seen.add((*key, attachment.filename, size))
        if reason is None:
            usage.bytes += size
            by_project[key[0]] += size
        else:
            refused_count += 1
        session.add(_row(attachment, reason))
    return refused_count


def _project_bytes(session: Session, project_id: int) -> int:
    total = session.scalar(
        select(func.coalesce(func.sum(EventAttachment.size), 0)).where(
            EventAttachment.project_id == project_id, EventAttachment.refused.is_(None)
        )
    )
    return int(total or 0)


def _refusal(
    size: int, event_bytes: int, project_bytes: int, limits: AttachmentLimits
) -> str | None:
    if limits.per_event_bytes and event_bytes + size > limits.per_event_bytes:
        return f"over the {limits.per_event_bytes} byte limit of attachments per event"
    if limits.per_project_bytes and project_bytes + size > limits.per_project_bytes:
        return f"over the project's {limits.per_project_bytes} byte attachment quota"
    return None


def _row(attachment: PreparedAttachment, refused: str | None) -> EventAttachment:
    data = compress_payload(attachment.data) if refused is None else None
    return EventAttachment(
        project_id=attachment.project_id,
        event_id=attachment.event_id,
        filename=attachment.filename,
        content_type=attachment.content_type,
        attachment_type=attachment.attachment_type,
        size=len(attachment.data),
        stored_size=len(data) if data is not None else 0,
        data=data,
        refused=refused,
        received_at=attachment.received_at,
    )


def delete_for_events(session: Session, events: Sequence[tuple[int, str]]) -> int:
    """Delete the attachments of these (project id, event id) pairs: retention, with the events."""
    if not events:
        return 0
    result = session.execute(
        delete(EventAttachment)
        .where(tuple_(EventAttachment.project_id, EventAttachment.event_id).in_(list(events)))
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


# -- reading --------------------------------------------------------------------------


class AttachmentInfo(Result):
    id: int
    event_id: str
    filename: str
    content_type: str
    attachment_type: str
    size: int  # bytes as sent
    stored_size: int  # bytes as stored, compressed (0 when refused)
    refused: str | None  # why it was not kept, when it was not
    inline_image: bool  # a raster image the event page shows
    received_at: IsoTime

    @classmethod
    def of(cls, row: EventAttachment) -> AttachmentInfo:
        return cls(
            id=row.id,
            event_id=row.event_id,
            filename=row.filename,
            content_type=row.content_type,
            attachment_type=row.attachment_type,
            size=row.size,
            stored_size=row.stored_size,
            refused=row.refused,
            inline_image=row.refused is None and row.content_type in INLINE_IMAGE_TYPES,
            received_at=row.received_at,
        )


@dataclass(frozen=True, slots=True)
class AttachmentFile:
    """An attachment's bytes and how they may be served."""

    filename: str
    media_type: str  # never a type a browser runs or renders as a document
    inline: bool  # a raster image: may be shown in the page
    data: bytes


Owner = tuple[int, str]  # (project id, event id): what attachments are bound to


def attachment_owner(
    session: Session, actor: Actor, raw_id: str, *, project: str | None = None
) -> Owner:
    """Whose attachments the actor asks for: an event it may read, else a user feedback (the
    browser feedback widget sends its screenshot bound to the feedback's own id) whose issue
    it may read. A feedback whose error never came is for actors not bound to an environment."""
    try:
        event = get_event(session, actor, raw_id, project=project)
        return event.project_id, event.event_id
    except NotFound:
        feedback_id = normalize_event_id(raw_id)
    if project is not None:
        project_ids = [get_project(session, actor, project).id]
    else:
        project_ids = [p.id for p in list_projects(session, actor)]
    bound = bound_environment(session, actor)
    for project_id in project_ids:
        found = session.scalars(
            select(UserFeedback).where(
                UserFeedback.project_id == project_id, UserFeedback.feedback_id == feedback_id
            )
        ).first()
        if found is None:
            continue
        if found.issue_id is not None:
            get_issue(session, actor, found.issue_id)  # 404 when the actor may not see it
            return project_id, feedback_id
        if bound is None:
            return project_id, feedback_id
    raise NotFound(f"no event {feedback_id}")


def list_attachments(session: Session, owner: Owner) -> list[AttachmentInfo]:
    """The attachments of an event or feedback (from `attachment_owner`), as they arrived."""
    return list_for(session, owner[0], [owner[1]]).get(owner[1], [])


def list_for(
    session: Session, project_id: int, event_ids: Sequence[str]
) -> dict[str, list[AttachmentInfo]]:
    """The attachments of many events (or feedback) of one project, by id, in one query."""
    found: dict[str, list[AttachmentInfo]] = {}
    if not event_ids:
        return found
    rows = session.scalars(
        select(EventAttachment)
        .where(
            EventAttachment.project_id == project_id,
            EventAttachment.event_id.in_(sorted(set(event_ids))),
        )
        .order_by(EventAttachment.id)
    )
    for row in rows:
        found.setdefault(row.event_id, []).append(AttachmentInfo.of(row))
    return found


def get_attachment(session: Session, owner: Owner, attachment_id: int) -> AttachmentFile:
    """One stored attachment of an event or feedback (from `attachment_owner`), to serve."""
    project_id, event_id = owner
    row = session.scalars(
        select(EventAttachment).where(
            EventAttachment.id == attachment_id,
            EventAttachment.project_id == project_id,
            EventAttachment.event_id == event_id,
        )
    ).first()
    if row is None:
        raise NotFound(f"no attachment {attachment_id} on event {event_id}")
    if row.data is None:
        raise NotFound(f"attachment {attachment_id} was not kept: {row.refused}")
    served = row.content_type
    if served.startswith("text/") and not _ACTIVE_TYPE_RE.search(served):
        served = "text/plain"
    elif _ACTIVE_TYPE_RE.search(served):
        served = OCTET_STREAM
    return AttachmentFile(
        filename=row.filename,
        media_type=served,
        inline=row.content_type in INLINE_IMAGE_TYPES,
        data=decompress_payload(row.data),
    )
