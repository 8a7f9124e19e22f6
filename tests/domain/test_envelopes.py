"""What an envelope's items become: the ingest job, and what is skipped or dropped and why.

Pure: no web server and no database, the bytes of a request body in, the job out.
"""

from __future__ import annotations

import base64
import zlib
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from trimtab.core.envelope import EnvelopeError, Limits
from trimtab.domain.reports.envelopes import NotStored, envelope_job, store_job

RECEIVED = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
EVENT_ID = "9ec79c33ec9942ab8353589fcb2e04dc"
DSN = "https://0123456789abcdef0123456789abcdef@errors.example.com/7"


def _envelope(header: dict[str, Any], *items: tuple[dict[str, Any], bytes]) -> bytes:
    lines = [orjson.dumps(header)]
    for item_header, payload in items:
        lines += [orjson.dumps({**item_header, "length": len(payload)}), payload]
    return b"\n".join(lines) + b"\n"


def _event(**extra: Any) -> dict[str, Any]:
    return {
        "timestamp": "2026-11-30T11:59:58Z",
        "platform": "python",
        "release": "shop@1.2.0",
        "environment": "production",
        "exception": {"values": [{"type": "ValueError", "value": "card declined"}]},
        **extra,
    }


def _session(**extra: Any) -> dict[str, Any]:
    return {
        "sid": "7c7b6e2f5ef44d2e8f1ad3c8c5b2d6a1",
        "did": "user-1",
        "init": True,
        "started": "2026-11-30T11:59:00Z",
        "status": "ok",
        "attrs": {"release": "shop@1.2.0", "environment": "production"},
        **extra,
    }


def test_envelope_job__event_session_attachment_unknown__all_kept_but_the_unknown() -> None:
    event_payload = orjson.dumps(_event())
    body = _envelope(
        {"event_id": EVENT_ID, "dsn": DSN, "sent_at": "2026-11-30T12:00:00Z"},
        ({"type": "event"}, event_payload),
        ({"type": "session"}, orjson.dumps(_session())),
        ({"type": "attachment", "filename": "log.txt"}, b"line one\nline two"),
        ({"type": "hologram"}, b"{}"),
    )

    read = envelope_job(body, 7, received_at=RECEIVED, client_ip="10.0.0.1")

    job = read.job
    assert job.project_id == 7
    assert job.event is not None
    assert job.event.event_id == EVENT_ID  # the envelope header's, the event has none
    assert job.event.payload == event_payload  # kept byte for byte as the SDK sent it
    assert job.event.fields.release == "shop@1.2.0"
    assert job.event.grouping.title == "ValueError: card declined"
    assert job.event.received_at == RECEIVED
    assert [u.session_id for u in job.session_updates] == ["7c7b6e2f5ef44d2e8f1ad3c8c5b2d6a1"]
    assert job.session_updates[0].release == "shop@1.2.0"
    assert job.session_aggregates == []
    assert not job.stores_nothing
    assert read.event_id == EVENT_ID
    assert read.dsn == DSN  # handed back unchecked: authentication is the server's
    (attachment,) = job.attachments
    assert (attachment.event_id, attachment.filename) == (EVENT_ID, "log.txt")
    assert attachment.data == b"line one\nline two"
    assert attachment.content_type == "application/octet-stream"  # none was sent
    assert attachment.attachment_type == "event.attachment"
    assert read.skipped == [NotStored(3, "hologram", "trimtab does not know this item type")]
    assert read.dropped == []


def test_envelope_job__broken_session_beside_an_event__session_dropped_with_reason() -> None:
    body = _envelope(
        {"event_id": EVENT_ID},
        ({"type": "session"}, orjson.dumps(_session(sid=None))),
        ({"type": "sessions"}, b"not json"),
        ({"type": "event"}, orjson.dumps(_event())),
    )

    read = envelope_job(body, 7, received_at=RECEIVED)

    assert read.job.event is not None
    assert read.job.session_updates == [] and read.job.session_aggregates == []
    assert [(d.index, d.type) for d in read.dropped] == [(0, "session"), (1, "sessions")]
    assert read.dropped[0].reason == 'session has no "sid" (session id)'
    assert "sessions item payload" in read.dropped[1].reason
    assert read.skipped == []


def test_envelope_job__sessions_aggregates__kept_for_release_health() -> None:
    aggregates = {
        "attrs": {"release": "shop@1.2.0", "environment": "production"},
        "aggregates": [{"started": "2026-11-30T11:00:00Z", "exited": 5, "errored": 1}],
    }
    body = _envelope({}, ({"type": "sessions"}, orjson.dumps(aggregates)))

    read = envelope_job(body, 7, received_at=RECEIVED)

    assert read.job.event is None
    assert [a.release for a in read.job.session_aggregates] == ["shop@1.2.0"]
    assert not read.job.stores_nothing
    assert (read.event_id, read.dsn) == (None, None)


def test_envelope_job__only_items_not_stored__counted_per_category_and_rate_limited() -> None:
    report = {"discarded_events": [{"reason": "sample_rate", "category": "span", "quantity": 4}]}
    body = _envelope(
        {"event_id": EVENT_ID},
        ({"type": "client_report"}, orjson.dumps(report)),
        ({"type": "transaction"}, orjson.dumps({"type": "transaction", "spans": [{}, {}]})),
        ({"type": "x" * 200}, b""),
    )

    read = envelope_job(body, 7, received_at=RECEIVED)

    assert read.job.event is None and read.job.logs == []
    assert not read.job.stores_nothing  # the counts are stored
    assert read.job.usage == {
        ("span", "sdk:sample_rate"): 4,
        ("transaction", "not_supported"): 1,
        ("span", "not_supported"): 3,  # the transaction's root span and its two spans
        ("default", "not_supported"): 1,
    }
    assert [(s.type, s.reason) for s in read.skipped] == [
        ("transaction", "performance data is not stored"),
        ("x" * 64, "trimtab does not know this item type"),  # client input, bounded
    ]
    assert read.rate_limits is not None
    assert read.rate_limits.startswith("86400:transaction;span;")


def test_envelope_job__log_item__records_kept_broken_one_dropped_no_rate_limit() -> None:
    lines = {
        "items": [
            {"timestamp": 1764590398.5, "level": "warn", "body": "card\u0000declined",
             "trace_id": "771a43a4192642f0b136d5159a501700"},
            {"timestamp": 1764590399.0, "level": "info"},  # no body
        ]
    }  # fmt: skip
    payload = orjson.dumps(lines)  # the NUL escaped as \\u0000, as JSON carries it
    body = _envelope(
        {},
        ({"type": "log", "item_count": 2}, payload),
        ({"type": "log", "item_count": 3}, b"[1, 2, 3]"),
    )

    read = envelope_job(body, 7, received_at=RECEIVED)

    (record,) = read.job.logs
    assert record.level == "warn" and record.trace_id == "771a43a4192642f0b136d5159a501700"
    assert record.body == "card\ufffddeclined"  # PostgreSQL text holds no NUL
    assert read.job.usage == {("log_item", "invalid"): 4}  # 1 without a body, 3 unreadable
    assert [(d.index, d.type) for d in read.dropped] == [(1, "log")]
    assert read.rate_limits is None


def test_envelope_job__event_over_the_limit__refused_with_the_envelope_error() -> None:
    body = _envelope({}, ({"type": "event"}, orjson.dumps(_event(extra={"pad": "x" * 500}))))

    with pytest.raises(EnvelopeError) as refused:
        envelope_job(body, 7, received_at=RECEIVED, limits=Limits(max_event_bytes=300))

    assert (refused.value.status, refused.value.code) == (413, "event_too_large")


def test_store_job__json_body__event_kept_as_sent() -> None:
    body = orjson.dumps({**_event(), "event_id": EVENT_ID})

    job = store_job(body, 7, received_at=RECEIVED, client_ip="10.0.0.1")

    assert job.event is not None
    assert (job.event.event_id, job.event.payload) == (EVENT_ID, body)
    assert job.session_updates == [] and not job.stores_nothing


def test_store_job__legacy_base64_zlib_body__kept_as_the_json_it_unpacks_to() -> None:
    event = {**_event(), "event_id": EVENT_ID}
    body = base64.b64encode(zlib.compress(orjson.dumps(event)))

    job = store_job(body, 7, received_at=RECEIVED)

    assert job.event is not None
    assert orjson.loads(job.event.payload) == event


def test_envelope_job__attachments_alone__kept_for_the_envelope_event_id() -> None:
    body = _envelope(
        {"event_id": "9EC79C33-EC99-42AB-8353-589FCB2E04DC"},
        (
            {
                "type": "attachment",
                "filename": "screen.png",
                "content_type": "Image/PNG; q=1",
                "attachment_type": "event.attachment",
            },
            b"\x89PNG\r\n",
        ),
        ({"type": "attachment", "attachment_type": "event.minidump"}, b"MDMP"),
    )

    read = envelope_job(body, 7, received_at=RECEIVED)

    assert read.job.event is None and not read.job.stores_nothing
    first, second = read.job.attachments
    assert first.event_id == second.event_id == EVENT_ID  # dashes dropped, lower case
    assert (first.filename, first.content_type) == ("screen.png", "image/png")
    assert (second.filename, second.attachment_type) == ("attachment", "event.minidump")


def test_envelope_job__attachment_without_event_id__dropped_with_reason() -> None:
    body = _envelope({}, ({"type": "attachment", "filename": "a.txt"}, b"abc"))

    read = envelope_job(body, 7, received_at=RECEIVED)

    assert read.job.stores_nothing
    assert read.dropped == [
        NotStored(0, "attachment", "an attachment needs the envelope header's event_id")
    ]


def test_envelope_job__feedback_and_user_report__kept_as_feedback() -> None:
    feedback_id = "1" * 32
    feedback = {
        "event_id": feedback_id,
        "type": "feedback",
        "contexts": {
            "feedback": {
                "message": "The pay button did nothing",
                "contact_email": "ana@example.com",
                "name": "Ana",
                "url": "https://shop.example.com/checkout",
                "associated_event_id": EVENT_ID,
            }
        },
    }
    report = {"event_id": EVENT_ID, "name": "Bo", "email": "bo@example.com", "comments": "Again"}
    body = _envelope(
        {"event_id": feedback_id},
        ({"type": "feedback"}, orjson.dumps(feedback)),
        ({"type": "user_report"}, orjson.dumps(report)),
        ({"type": "user_report"}, orjson.dumps({**report, "comments": "  "})),
        ({"type": "feedback"}, orjson.dumps({"contexts": {}})),
    )

    read = envelope_job(body, 7, received_at=RECEIVED)

    (first, at), (second, _) = read.job.feedback
    assert at == RECEIVED
    assert (first.kind, first.feedback_id, first.event_id) == ("feedback", feedback_id, EVENT_ID)
    assert (first.name, first.email, first.message) == (
        "Ana",
        "ana@example.com",
        "The pay button did nothing",
    )
    assert first.url == "https://shop.example.com/checkout"
    assert (second.kind, second.feedback_id, second.event_id) == ("user_report", EVENT_ID, EVENT_ID)
    assert (second.name, second.message) == ("Bo", "Again")
    assert [(d.index, d.reason) for d in read.dropped] == [
        (2, "a user report's comments are empty"),
        (3, "a feedback item has its fields in contexts.feedback"),
    ]


def test_envelope_job__feedback_over_the_event_limit__dropped_with_reason() -> None:
    report = {"event_id": EVENT_ID, "comments": "x" * 400}
    body = _envelope({}, ({"type": "user_report"}, orjson.dumps(report)))

    read = envelope_job(body, 7, received_at=RECEIVED, limits=Limits(max_event_bytes=300))

    assert read.job.feedback == []
    assert read.dropped == [
        NotStored(0, "user_report", "user_report is over the 300 byte event limit")
    ]
