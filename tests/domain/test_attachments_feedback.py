"""Attachments and user feedback stored by the ingest writer's batch: bound to their event by
id whichever comes first, bounded per event and per project, served safely, removed with
their event by retention. Every test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import func, select

from trimtab.core.feedback import Feedback
from trimtab.domain.errors import NotFound
from trimtab.domain.reports import attachments, feedback, ingest, issues
from trimtab.domain.reports.attachments import AttachmentLimits, PreparedAttachment
from trimtab.domain.spine import projects
from trimtab.domain.spine.actors import SYSTEM
from trimtab.jobs import retention
from trimtab.settings import Settings
from trimtab.store.db import Store
from trimtab.store.models import EventAttachment, UserFeedback

NOW = datetime.now(UTC).replace(microsecond=0)
LIMITS = AttachmentLimits(per_event_bytes=100, per_project_bytes=250)


def _project(store: Store, slug: str = "shop") -> int:
    with store.write() as session:
        projects.ensure_organization(session, "acme")
        return projects.create_project(session, SYSTEM, slug).id


def _event(event_id: str, error: str = "ValueError") -> dict[str, Any]:
    return {
        "event_id": event_id,
        "timestamp": NOW.timestamp(),
        "platform": "python",
        "exception": {"values": [{"type": error, "value": "card declined"}]},
    }


def _attachment(
    pid: int, event_id: str, name: str, data: bytes, content_type: str = "text/plain"
) -> PreparedAttachment:
    return PreparedAttachment(pid, event_id, name, content_type, "event.attachment", data, NOW)


def _job(
    pid: int,
    event_id: str | None = None,
    *items: PreparedAttachment,
    feedback_items: tuple[Feedback, ...] = (),
    received_at: datetime = NOW,
) -> ingest.IngestJob:
    job = ingest.IngestJob(pid)
    if event_id is not None:
        event = _event(event_id)
        job.event = ingest.prepare_event(pid, event, orjson.dumps(event), received_at)
    job.attachments.extend(dataclasses.replace(a, received_at=received_at) for a in items)
    job.feedback.extend((f, received_at) for f in feedback_items)
    return job


def _write(store: Store, *jobs: ingest.IngestJob) -> list[ingest.StoredEvent | None]:
    with store.write() as session:
        return ingest.store_batch(session, jobs, attachment_limits=LIMITS)


def _listed(store: Store, pid: int, event_id: str) -> list[attachments.AttachmentInfo]:
    with store.read() as session:
        owner = attachments.attachment_owner(session, SYSTEM, event_id)
        assert owner == (pid, event_id)
        return attachments.list_attachments(session, owner)


def test_attachment__before_its_event__listed_with_the_event_when_it_comes(store: Store) -> None:
    pid = _project(store)
    event_id = uuid.uuid4().hex
    _write(store, _job(pid, None, _attachment(pid, event_id, "early.log", b"first line")))
    _write(store, _job(pid, event_id, _attachment(pid, event_id, "late.log", b"second")))

    listed = _listed(store, pid, event_id)

    assert [(a.filename, a.size, a.refused) for a in listed] == [
        ("early.log", 10, None),
        ("late.log", 6, None),
    ]
    with store.read() as session:
        served = attachments.get_attachment(session, (pid, event_id), listed[0].id)
    assert (served.data, served.media_type, served.inline) == (b"first line", "text/plain", False)


def test_attachments__over_the_event_bound__refused_and_counted_event_still_stored(
    store: Store,
) -> None:
    pid = _project(store)
    event_id = uuid.uuid4().hex
    results = _write(
        store,
        _job(
            pid,
            event_id,
            _attachment(pid, event_id, "a.bin", b"a" * 60),
            _attachment(pid, event_id, "b.bin", b"b" * 60),  # 120 > 100
            _attachment(pid, event_id, "c.bin", b"c" * 40),  # 100: fits
        ),
    )

    assert results[0] is not None and not results[0].duplicate
    listed = _listed(store, pid, event_id)
    assert [(a.filename, a.refused is None) for a in listed] == [
        ("a.bin", True),
        ("b.bin", False),
        ("c.bin", True),
    ]
    assert listed[1].refused == "over the 100 byte limit of attachments per event"
    assert listed[1].stored_size == 0
    with store.read() as session, pytest.raises(NotFound, match="was not kept"):
        attachments.get_attachment(session, (pid, event_id), listed[1].id)


def test_attachments__over_the_project_quota__refused_other_projects_unaffected(
    store: Store,
) -> None:
    pid = _project(store)
    other = _project(store, "other")
    ids = [uuid.uuid4().hex for _ in range(4)]
    for event_id in ids[:3]:
        _write(store, _job(pid, event_id, _attachment(pid, event_id, "x", b"x" * 90)))
    _write(store, _job(other, ids[3], _attachment(other, ids[3], "x", b"x" * 90)))

    refused = [a.refused for event_id in ids[:3] for a in _listed(store, pid, event_id)]
    assert refused == [None, None, "over the project's 250 byte attachment quota"]
    assert [a.refused for a in _listed(store, other, ids[3])] == [None]


def test_attachment__same_envelope_sent_again__stored_once(store: Store) -> None:
    pid = _project(store)
    event_id = uuid.uuid4().hex
    job = _job(pid, event_id, _attachment(pid, event_id, "a.txt", b"hello"))
    _write(store, job)
    _write(store, job)
    assert len(_listed(store, pid, event_id)) == 1


def test_get_attachment__active_types_served_as_bytes_images_inline(store: Store) -> None:
    pid = _project(store)
    event_id = uuid.uuid4().hex
    _write(
        store,
        _job(
            pid,
            event_id,
            _attachment(pid, event_id, "page.html", b"<script>", "text/html"),
            _attachment(pid, event_id, "logo.svg", b"<svg/>", "image/svg+xml"),
            _attachment(pid, event_id, "shot.png", b"\x89PNG", "image/png"),
            _attachment(pid, event_id, "data.csv", b"a,b", "text/csv"),
        ),
    )
    listed = _listed(store, pid, event_id)
    with store.read() as session:
        served = [attachments.get_attachment(session, (pid, event_id), a.id) for a in listed]
    assert [(s.media_type, s.inline) for s in served] == [
        ("application/octet-stream", False),
        ("application/octet-stream", False),
        ("image/png", True),
        ("text/plain", False),
    ]
    assert [a.inline_image for a in listed] == [False, False, True, False]


def test_feedback__after_and_before_its_event__bound_to_the_issue_and_counted(
    store: Store,
) -> None:
    pid = _project(store)
    seen, later = uuid.uuid4().hex, uuid.uuid4().hex
    (stored,) = _write(store, _job(pid, seen))
    assert stored is not None
    after = Feedback("a" * 32, seen, "feedback", "Ana", "ana@example.com", "Pay failed", None)
    before = Feedback(later, later, "user_report", None, None, "Crashed again", None)
    _write(store, _job(pid, None, feedback_items=(after, before)))
    _write(store, _job(pid, None, feedback_items=(after,)))  # sent again: kept once
    _write(store, _job(pid, later))  # the same error: the user report is bound now

    with store.read() as session:
        listed = feedback.list_feedback(session, SYSTEM, stored.issue_id)
        detail = issues.issue_detail(
            session, issues.get_issue(session, SYSTEM, stored.issue_id), SYSTEM
        )
    assert sorted(f.message for f in listed) == ["Crashed again", "Pay failed"]
    assert {f.issue_id for f in listed} == {stored.issue_id}
    assert detail.feedback_count == 2


def test_retention__attachments_go_with_their_event_orphans_and_feedback_when_old(
    store: Store, settings: Settings
) -> None:
    pid = _project(store)
    old_at = NOW - timedelta(days=100)
    old, fresh, orphan = (uuid.uuid4().hex for _ in range(3))
    _write(
        store,
        _job(pid, old, _attachment(pid, old, "old.log", b"old"), received_at=old_at),
        _job(pid, None, _attachment(pid, orphan, "o.log", b"o"), received_at=old_at),
        _job(
            pid,
            None,
            feedback_items=(Feedback("b" * 32, old, "feedback", None, None, "old", None),),
            received_at=old_at,
        ),
    )
    _write(store, _job(pid, fresh, _attachment(pid, fresh, "new.log", b"new")))

    retention.prune(store, settings, now=NOW, batch=10)

    with store.read() as session:
        left = session.scalars(select(EventAttachment.filename)).all()
        assert left == ["new.log"]
        assert session.scalar(select(func.count()).select_from(UserFeedback)) == 0


def test_retention__issue_over_cap__pruned_events_take_their_attachments(
    store: Store, settings: Settings
) -> None:
    pid = _project(store)
    ids = [uuid.uuid4().hex for _ in range(3)]
    for i, event_id in enumerate(ids):
        at = NOW - timedelta(minutes=10 - i)
        _write(
            store, _job(pid, event_id, _attachment(pid, event_id, f"{i}.log", b"z"), received_at=at)
        )

    retention.prune(store, dataclasses.replace(settings, max_events_per_issue=1), now=NOW)

    with store.read() as session:
        assert session.scalars(select(EventAttachment.filename)).all() == ["2.log"]


def test_attachment_owner__feedback_screenshot__found_by_the_feedback_id(store: Store) -> None:
    pid = _project(store)
    event_id, feedback_id, stranger = (uuid.uuid4().hex for _ in range(3))
    _write(store, _job(pid, event_id))
    note = Feedback(feedback_id, event_id, "feedback", None, None, "Broken map", None)
    shot = _attachment(pid, feedback_id, "screenshot.png", b"\x89PNG", "image/png")
    _write(store, _job(pid, None, shot, feedback_items=(note,)))

    with store.read() as session:
        owner = attachments.attachment_owner(session, SYSTEM, feedback_id, project="shop")
        listed = attachments.list_attachments(session, owner)
        with pytest.raises(NotFound):
            attachments.attachment_owner(session, SYSTEM, stranger, project="shop")
    assert owner == (pid, feedback_id)
    assert [a.filename for a in listed] == ["screenshot.png"]
