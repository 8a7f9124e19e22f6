"""Attachment and feedback items at the ingest endpoint: answered like events, counted against
the key's rate limit like events, and a broken one never costs the event beside it."""

from __future__ import annotations

import uuid

import orjson
from fastapi.testclient import TestClient

from tests.server.test_ingest_bad_input import _auth, _event, _post, _project


def _items(event_id: str, *items: tuple[dict[str, object], bytes]) -> bytes:
    lines = [orjson.dumps({"event_id": event_id})]
    for header, payload in items:
        lines += [orjson.dumps({**header, "length": len(payload)}), payload]
    return b"\n".join([*lines, b""])


def _report(event_id: str, comments: str = "it broke") -> tuple[dict[str, object], bytes]:
    body = {"event_id": event_id, "name": "Ana", "comments": comments}
    return {"type": "user_report"}, orjson.dumps(body)


def test_ingest__feedback_and_attachments_alone__answered_with_the_envelope_id_and_limited(
    client: TestClient,
) -> None:
    pid, _ = _project(client)
    key = client.post(
        "/api/v1/projects/shop/keys", json={"name": "limited", "rate_limit_per_minute": 2}
    ).json()["public_key"]
    first, second, third = (uuid.uuid4().hex for _ in range(3))

    answered = _post(client, pid, _items(first, _report(first)), _auth(key))
    attachment = ({"type": "attachment", "filename": "a.txt"}, b"hello")
    also = _post(client, pid, _items(second, attachment), _auth(key))
    refused = _post(client, pid, _items(third, _report(third)), _auth(key))

    assert (answered.status_code, answered.json()) == (200, {"id": first})
    assert (also.status_code, also.json()) == (200, {"id": second})
    assert refused.status_code == 429  # a public key is no free channel for feedback


def test_ingest__broken_feedback_beside_an_event__event_and_attachment_stored(
    client: TestClient,
) -> None:
    pid, key = _project(client)
    event = _event()
    event_id = str(event["event_id"])
    body = _items(
        event_id,
        ({"type": "event"}, orjson.dumps(event)),
        _report(event_id, comments=""),
        ({"type": "feedback"}, b"not json"),
        ({"type": "attachment", "filename": "trace.txt", "content_type": "text/plain"}, b"t"),
    )

    response = _post(client, pid, body, _auth(key))

    assert response.status_code == 200 and response.json() == {"id": event_id}
    listed = client.get(f"/api/v1/events/{event_id}/attachments").json()
    assert [(a["filename"], a["size"]) for a in listed] == [("trace.txt", 1)]
    issue = client.get(
        f"/api/v1/issues/{client.get(f'/api/v1/events/{event_id}').json()['issue_id']}"
    )
    assert issue.json()["feedback_count"] == 0
