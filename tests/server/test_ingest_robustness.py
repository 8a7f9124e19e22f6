"""Ingest holds up against what real networks and real SDKs send: a client that goes away
mid-body is one log line, and NUL characters in event text are stored on every backend."""

from __future__ import annotations

import logging
import socket
import time
import uuid
from typing import Any

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient
from starlette.datastructures import URL

from tests.support import ADMIN_TOKEN, ThreadedServer

NUL = "\x00"


def _project(client: TestClient | httpx.Client) -> tuple[int, str]:
    body = client.post("/api/v1/projects", json={"slug": "shop"}).json()
    key = URL(body["dsn"]).username
    assert key
    return body["id"], key


def test_ingest__client_disconnects_mid_body__one_log_line_no_traceback(
    threaded_server: ThreadedServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="trimtab")
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with httpx.Client(base_url=threaded_server.url, headers=admin, timeout=30) as http:
        pid, key = _project(http)
    body = b'{"event_id":"' + uuid.uuid4().hex.encode() + b'"}\n{"type":"event"}\n{"a":"'
    body += b"x" * 50_000
    head = (
        f"POST /api/{pid}/envelope/?sentry_key={key} HTTP/1.1\r\n"
        f"Host: 127.0.0.1\r\nContent-Length: {len(body) * 2}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", threaded_server.port), timeout=30) as sock:
        sock.sendall(head + body)  # half of what Content-Length promised, then gone
    deadline = time.monotonic() + 60
    while not any(r.name == "trimtab.ingest" for r in caplog.records):
        assert time.monotonic() < deadline, "nothing logged for the disconnected client"
        time.sleep(0.05)
    time.sleep(0.2)  # anything else logged for the same request would be here by now
    assert [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info] == []
    (line,) = [r for r in caplog.records if r.name == "trimtab.ingest"]
    assert line.levelno == logging.INFO
    assert "disconnected" in line.getMessage()
    assert f"/api/{pid}/envelope/" in line.getMessage()
    with httpx.Client(base_url=threaded_server.url, headers=admin, timeout=30) as http:
        assert http.get("/api/v1/issues", params={"project": "shop"}).json() == []


def _event_with_nul() -> dict[str, Any]:
    return {
        "event_id": uuid.uuid4().hex,
        "platform": "python",
        "message": f"card{NUL}declined",
        "release": f"shop@1.0{NUL}",
        "environment": f"prod{NUL}",
        "transaction": f"/checkout{NUL}",
        "user": {"id": f"u{NUL}1"},
        "tags": {f"region{NUL}": f"eu{NUL}west"},
        "extra": {"raw": f"a{NUL}b", f"key{NUL}": 1},
        "breadcrumbs": {"values": [{"message": f"crumb{NUL}", "category": f"c{NUL}"}]},
        "exception": {
            "values": [
                {
                    "type": f"Card{NUL}Error",
                    "value": f"declined{NUL}here",
                    "stacktrace": {"frames": [{"function": f"pay{NUL}", "filename": "a.py"}]},
                }
            ]
        },
    }


@pytest.mark.parametrize("kind", ["envelope", "store"])
def test_ingest__nul_characters_in_event_text__stored_and_readable(
    client: TestClient, kind: str
) -> None:
    pid, key = _project(client)
    event = _event_with_nul()
    payload = orjson.dumps(event)
    assert b"\\u0000" in payload  # JSON carries NUL escaped
    if kind == "envelope":
        session = {
            "sid": uuid.uuid4().hex,
            "init": True,
            "status": "ok",
            "attrs": {"release": f"shop@1.0{NUL}", "environment": f"prod{NUL}"},
        }
        body = b"\n".join(
            [
                orjson.dumps({"event_id": event["event_id"]}),
                b'{"type":"event"}',
                payload,
                b'{"type":"session"}',
                orjson.dumps(session),
            ]
        )
    else:
        body = payload
    response = client.post(
        f"/api/{pid}/{kind}/", content=body, headers={"X-Sentry-Auth": f"Sentry sentry_key={key}"}
    )
    assert response.status_code == 200, response.text

    stored = client.get(f"/api/v1/events/{event['event_id']}")
    assert stored.status_code == 200, stored.text
    detail = stored.json()
    # The payload is kept as the SDK sent it, NUL and all (escaped in JSON)...
    assert detail["data"]["message"] == f"card{NUL}declined"
    assert detail["data"]["extra"] == event["extra"]
    assert detail["data"]["breadcrumbs"] == event["breadcrumbs"]
    # ...and the indexed text has U+FFFD where each NUL was.
    (issue,) = client.get("/api/v1/issues", params={"project": "shop"}).json()
    assert issue["title"] == "Card\ufffdError: declined\ufffdhere"
    issue_detail = client.get(f"/api/v1/issues/{issue['id']}").json()
    assert [r["value"] for r in issue_detail["releases"]] == ["shop@1.0\ufffd"]
    assert [e["value"] for e in issue_detail["environments"]] == ["prod\ufffd"]
    tags = {t["key"]: t for t in issue_detail["tags"]}
    assert "region\ufffd" in tags, tags
    assert NUL not in orjson.dumps(issue_detail).decode()
