"""Sentry log lines and the counts of what was not stored, on the dashboard and over ingest:
the event page shows its trace's lines around the error (as text, never markup), the issue's
log search finds them, the settings page counts the dropped transactions, and the ingest
answer to a transaction carries X-Sentry-Rate-Limits (an answer to logs does not)."""

from __future__ import annotations

import time
import uuid
from typing import Any

import orjson
from fastapi.testclient import TestClient

from tests.server.test_dashboard import _login

TRACE = "5b8efff798038103d269b633813fc60c"


def _envelope(*items: tuple[dict[str, Any], Any]) -> bytes:
    lines = [b"{}"]
    for header, payload in items:
        data = orjson.dumps(payload)
        lines += [orjson.dumps({**header, "length": len(data)}), data]
    return b"\n".join(lines) + b"\n"


def _post(client: TestClient, dsn_key: str, body: bytes) -> Any:
    return client.post(
        "/api/1/envelope/",
        content=body,
        headers={"X-Sentry-Auth": f"Sentry sentry_version=7, sentry_key={dsn_key}"},
    )


def _line(body: str, seconds: float, level: str = "info") -> dict[str, Any]:
    return {"timestamp": time.time() + seconds, "trace_id": TRACE, "level": level, "body": body,
            "attributes": {"order": {"value": 1042, "type": "integer"}}}  # fmt: skip


def test_dashboard__log_lines_and_dropped_counts__on_event_issue_and_settings_pages(
    client: TestClient, anon_client: TestClient
) -> None:
    created = client.post("/api/v1/projects", json={"slug": "shop"}).json()
    key = created["dsn"].split("//")[1].split("@")[0]
    lines = [
        _line("charging card", -2),
        _line("<script>alert(1)</script> issuer slow", -1, "warn"),
        _line("rolled back", 1, "error"),
    ]
    logged = _post(client, key, _envelope(({"type": "log", "item_count": 3}, {"items": lines})))
    event_id = uuid.uuid4().hex
    event = {
        "event_id": event_id,
        "timestamp": time.time(),
        "platform": "python",
        "exception": {"values": [{"type": "ValueError", "value": "card declined"}]},
        "contexts": {"trace": {"trace_id": TRACE, "span_id": "a" * 16}},
    }
    errored = _post(client, key, _envelope(({"type": "event"}, event)))
    transaction = {"type": "transaction", "spans": [{"op": "db"}] * 3}
    traced = _post(client, key, _envelope(({"type": "transaction"}, transaction)))

    assert logged.status_code == errored.status_code == traced.status_code == 200
    assert "x-sentry-rate-limits" not in logged.headers
    assert "x-sentry-rate-limits" not in errored.headers
    limits = traced.headers["x-sentry-rate-limits"]
    assert limits.startswith("86400:transaction;span;") and limits.endswith(":not_supported")

    assert _login(anon_client).status_code == 303  # type: ignore[attr-defined]
    page = anon_client.get(f"/projects/shop/events/{event_id}").text
    logs_part = page.split('<section class="event-logs"', 1)[1].split("</section>", 1)[0]
    assert logs_part.index("charging card") < logs_part.index("ValueError: card declined")
    assert logs_part.index("ValueError: card declined") < logs_part.index("rolled back")
    assert "&lt;script&gt;alert(1)&lt;/script&gt; issuer slow" in logs_part  # text, not markup
    assert "<script>alert" not in page

    issue_id = client.get(f"/api/v1/events/{event_id}").json()["issue_id"]
    issue_page = anon_client.get(f"/projects/shop/issues/{issue_id}").text
    assert f'action="/projects/shop/issues/{issue_id}/logs"' in issue_page
    found = anon_client.get(f"/projects/shop/issues/{issue_id}/logs", params={"q": "ROLLED"})
    assert found.status_code == 200
    assert "rolled back" in found.text and "charging card" not in found.text
    nothing = anon_client.get(f"/projects/shop/issues/{issue_id}/logs", params={"q": "zebra"})
    assert "No log lines found" in nothing.text

    settings = anon_client.get("/projects/shop/settings").text
    usage = settings.split('<section id="usage">', 1)[1]
    assert "<strong>4</strong> span — not supported" in usage  # the root span and 3 spans
    assert "<strong>1</strong> transaction — not supported" in usage
    assert "Log lines stored: 3." in usage


def test_event_logs_api__event_without_a_trace__empty_with_no_trace(client: TestClient) -> None:
    created = client.post("/api/v1/projects", json={"slug": "shop"}).json()
    key = created["dsn"].split("//")[1].split("@")[0]
    event_id = uuid.uuid4().hex
    event = {"event_id": event_id, "message": "no trace here", "platform": "python"}
    assert _post(client, key, _envelope(({"type": "event"}, event))).status_code == 200

    answer = client.get(f"/api/v1/events/{event_id}/logs", params={"project": "shop"})

    assert answer.status_code == 200
    assert answer.json() == {"event_id": event_id, "trace_id": None, "before": [], "after": []}
    refused = client.get("/api/v1/issues/1/logs", params={"query": "x" * 201})
    assert refused.status_code == 422
