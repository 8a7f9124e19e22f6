"""Ingest refuses bad input with a clear 4xx (JSON detail and X-Sentry-Error), writes nothing for
it, and keeps serving: a valid event right after each refusal is stored."""

from __future__ import annotations

import gzip
import uuid
import zlib
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from starlette.datastructures import URL

from trimtab.store.db import Store

Request = dict[str, Any]


def _project(client: TestClient) -> tuple[int, str]:
    body = client.post("/api/v1/projects", json={"slug": "shop"}).json()
    key = URL(body["dsn"]).username
    assert key
    return body["id"], key


def _auth(key: str) -> dict[str, str]:
    return {"X-Sentry-Auth": f"Sentry sentry_key={key}, sentry_version=7, sentry_client=test/1"}


def _event(**extra: Any) -> dict[str, Any]:
    return {
        "event_id": uuid.uuid4().hex,
        "platform": "python",
        "message": "payment failed",
        "release": "shop@1.0.0",
        **extra,
    }


def _envelope(event: dict[str, Any], *, length: bool = True) -> bytes:
    payload = orjson.dumps(event)
    header = {"type": "event", "length": len(payload)} if length else {"type": "event"}
    return b"\n".join(
        [orjson.dumps({"event_id": event["event_id"]}), orjson.dumps(header), payload, b""]
    )


def _post(
    client: TestClient, pid: int, body: bytes, headers: dict[str, str], kind: str = "envelope"
) -> Any:
    return client.post(f"/api/{pid}/{kind}/", content=body, headers=headers)


def _assert_valid_event_accepted(client: TestClient, pid: int, key: str) -> None:
    event = _event()
    response = _post(client, pid, _envelope(event), _auth(key))
    assert response.status_code == 200, response.text
    assert response.json() == {"id": event["event_id"]}
    stored = client.get(f"/api/v1/events/{event['event_id']}")
    assert stored.status_code == 200


def _zip_bomb() -> bytes:
    # 200 MB of zeros in ~200 KB: twice the 100 MB envelope limit.
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunk = b"\0" * (1024 * 1024)
    parts = [compressor.compress(chunk) for _ in range(200)]
    return b"".join(parts) + compressor.flush()


BAD: dict[str, Callable[[str], Request]] = {
    "wrong_key": lambda key: {
        "body": _envelope(_event()),
        "headers": _auth("0" * 32),
        "status": 401,
        "code": "unknown_key",
    },
    "no_key": lambda key: {
        "body": _envelope(_event()),
        "headers": {},
        "status": 401,
        "code": "missing_key",
    },
    "oversize_event": lambda key: {
        "body": _envelope(_event(extra={"blob": "x" * (1024 * 1024 + 10)})),
        "headers": _auth(key),
        "status": 413,
        "code": "event_too_large",
    },
    "zip_bomb": lambda key: {
        "body": _zip_bomb(),
        "headers": {**_auth(key), "Content-Encoding": "gzip"},
        "status": 413,
        "code": "decompressed_too_large",
    },
    "broken_gzip": lambda key: {
        "body": gzip.compress(_envelope(_event()))[:-30] + b"garbage!",
        "headers": {**_auth(key), "Content-Encoding": "gzip"},
        "status": 400,
        "code": "invalid_compression",
    },
    "truncated_envelope": lambda key: {
        "body": _envelope(_event())[:-40],
        "headers": _auth(key),
        "status": 400,
        "code": "truncated_envelope",
    },
    "invalid_json": lambda key: {
        "body": b'{"event_id": "'
        + uuid.uuid4().hex.encode()
        + b'"}\n{"type":"event"}\n{"message": oops}\n',
        "headers": _auth(key),
        "status": 400,
        "code": "invalid_json",
    },
    "invalid_utf8": lambda key: {
        "body": b'{}\n{"type":"event"}\n{"message": "caf\xe9 \xff"}\n',
        "headers": _auth(key),
        "status": 400,
        "code": "invalid_utf8",
    },
    "invalid_json_store": lambda key: {
        "body": b"{not json",
        "headers": _auth(key),
        "status": 400,
        "code": "invalid_json",
        "kind": "store",
    },
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_ingest__bad_input__clear_4xx_then_valid_event_accepted(
    client: TestClient, store: Store, case: str
) -> None:
    pid, key = _project(client)
    bad = BAD[case](key)
    response = _post(client, pid, bad["body"], bad["headers"], bad.get("kind", "envelope"))
    assert response.status_code == bad["status"], response.text
    assert response.json()["error"] == bad["code"]
    assert response.json()["detail"]
    assert response.headers["x-sentry-error"] == response.json()["detail"][:500]
    assert response.headers["access-control-allow-origin"] == "*"
    assert client.get("/api/v1/issues", params={"project": "shop"}).json() == []
    _assert_valid_event_accepted(client, pid, key)


def test_ingest__revoked_key__403_and_a_new_key_works(client: TestClient) -> None:
    pid, key = _project(client)
    _assert_valid_event_accepted(client, pid, key)  # the key is cached now
    assert client.delete(f"/api/v1/projects/shop/keys/{key}").status_code == 200
    response = _post(client, pid, _envelope(_event()), _auth(key))
    assert response.status_code == 403
    assert response.json()["error"] == "revoked_key"
    assert "revoked" in response.headers["x-sentry-error"]
    new_key = client.post("/api/v1/projects/shop/keys", json={"name": "second"}).json()
    _assert_valid_event_accepted(client, pid, new_key["public_key"])


def test_ingest__key_of_another_project__403(client: TestClient) -> None:
    _, key = _project(client)
    other = client.post("/api/v1/projects", json={"slug": "box-office"}).json()
    response = _post(client, other["id"], _envelope(_event()), _auth(key))
    assert response.status_code == 403 and response.json()["error"] == "wrong_project"


def test_ingest__over_the_key_rate_limit__429_with_retry_after_and_sentry_limits(
    client: TestClient,
) -> None:
    pid, _ = _project(client)
    key = client.post(
        "/api/v1/projects/shop/keys", json={"name": "limited", "rate_limit_per_minute": 2}
    ).json()["public_key"]
    for _ in range(2):
        assert _post(client, pid, _envelope(_event()), _auth(key)).status_code == 200
    response = _post(client, pid, _envelope(_event()), _auth(key))
    assert response.status_code == 429
    assert 1 <= int(response.headers["retry-after"]) <= 60
    assert response.headers["x-sentry-rate-limits"].endswith(":key")


@pytest.mark.parametrize(
    "encoding", ["gzip", "deflate", "br", "identity"], ids=["gzip", "deflate", "br", "plain"]
)
def test_ingest__compressed_bodies_and_key_in_query__accepted(
    client: TestClient, encoding: str
) -> None:
    import brotli

    pid, key = _project(client)
    event = _event()
    body = _envelope(event, length=False)
    packed = {
        "gzip": gzip.compress,
        "deflate": zlib.compress,
        "br": brotli.compress,
        "identity": lambda b: b,
    }[encoding](body)
    response = client.post(
        f"/api/{pid}/envelope/?sentry_key={key}",
        content=packed,
        headers={"Content-Encoding": encoding},
    )
    assert response.status_code == 200, response.text
    assert client.get(f"/api/v1/events/{event['event_id']}").status_code == 200


def test_ingest__key_only_in_envelope_dsn__accepted(client: TestClient) -> None:
    pid, key = _project(client)
    event = _event()
    payload = orjson.dumps(event)
    header = {"event_id": event["event_id"], "dsn": f"http://{key}@testserver/{pid}"}
    body = b"\n".join([orjson.dumps(header), b'{"type":"event"}', payload])
    response = client.post(f"/api/{pid}/envelope/", content=body)
    assert response.status_code == 200, response.text


def test_ingest__store_endpoint_and_unknown_items__accepted(client: TestClient) -> None:
    pid, key = _project(client)
    event = _event()
    assert _post(client, pid, orjson.dumps(event), _auth(key), "store").status_code == 200
    items = b"\n".join(
        [
            b"{}",
            b'{"type":"client_report"}',
            b'{"discarded_events":[]}',
            b'{"type":"attachment","length":3,"filename":"a.txt"}',
            b"abc",
            b'{"type":"something_new"}',
            b"{}",
        ]
    )
    response = _post(client, pid, items, _auth(key))
    assert response.status_code == 200 and response.json() == {}
    assert client.get(f"/api/v1/events/{event['event_id']}").status_code == 200


def test_ingest__cors_preflight__allows_browser_sdks(client: TestClient) -> None:
    response = client.options(
        "/api/1/envelope/",
        headers={"Origin": "https://shop.example", "Access-Control-Request-Method": "POST"},
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    assert "x-sentry-auth" in response.headers["access-control-allow-headers"].lower()


def test_ingest__get__405_naming_post(client: TestClient) -> None:
    response = client.get("/api/1/envelope/")
    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"
    assert "POST" in response.headers["allow"]


def test_ingest__session_items__counted_in_release_health_with_the_event(
    client: TestClient, store: Store
) -> None:
    from datetime import UTC, datetime

    from trimtab.domain.reports import release_health

    pid, key = _project(client)
    now = datetime.now(UTC).isoformat()
    attrs = {"release": "shop@1.0.0", "environment": "production"}
    crashed = {"sid": uuid.uuid4().hex, "did": "u1", "init": True, "status": "crashed"}
    event = _event()
    items = [
        orjson.dumps({"event_id": event["event_id"]}),
        b'{"type":"event"}',
        orjson.dumps(event),
        b'{"type":"session"}',
        orjson.dumps({**crashed, "started": now, "attrs": attrs}),
        b'{"type":"sessions"}',
        orjson.dumps({"aggregates": [{"started": now, "exited": 3}], "attrs": attrs}),
        b'{"type":"session"}',
        b'{"sid": "no attrs: dropped, not an error"}',
    ]
    response = _post(client, pid, b"\n".join(items), _auth(key))
    assert response.status_code == 200 and response.json() == {"id": event["event_id"]}
    with store.read() as session:
        (health,) = release_health.health_for_project(session, pid)
    assert (health.release, health.sessions, health.crashed) == ("shop@1.0.0", 4, 1)
