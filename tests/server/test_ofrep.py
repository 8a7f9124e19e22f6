"""OFREP v1 on the in-process app: shapes, ETag / 304, auth, errors, rate limit, push."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import delete, select

from trimtab.server.flag_delivery import RECHECK_S
from trimtab.store.db import Store
from trimtab.store.models import FlagSetRevision

SINGLE = "/ofrep/v1/evaluate/flags"


def _setup(client: TestClient, scopes: tuple[str, ...] = ("sdk-server",)) -> dict[str, str]:
    assert client.post("/api/v1/projects", json={"slug": "shop"}).status_code == 201
    rules = [
        {
            "id": "asia",
            "constraints": [{"attribute": "country", "operator": "in", "values": ["KR", "JP"]}],
            "serve": {"variant": "new"},
        },
        {
            "id": "half",
            "serve": {"split": [{"variant": "new", "weight": 1}, {"variant": "old", "weight": 1}]},
        },
    ]
    created = client.post(
        "/api/v1/projects/shop/flags",
        json={
            "key": "checkout-redesign",
            "type": "string",
            "variants": {"old": "classic", "new": "redesign"},
            "default_variant": "old",
            "off_variant": "old",
            "environments": {"production": {"enabled": True, "rules": rules}},
        },
    )
    assert created.status_code == 201, created.text
    body = {"key": "maintenance-banner", "environments": {"production": {"enabled": True}}}
    assert client.post("/api/v1/projects/shop/flags", json=body).status_code == 201
    token = client.post(
        "/api/v1/tokens",
        json={
            "name": "sdk",
            "scopes": list(scopes),
            "project": "shop",
            "environment": "production",
        },
    )
    return {"Authorization": f"Bearer {token.json()['token']}"}


def _eval(client: TestClient, key: str, context: Any, headers: dict[str, str]) -> Any:
    return client.post(f"{SINGLE}/{key}", json={"context": context}, headers=headers)


def test_evaluate_flag__targeting_match__key_value_reason_variant_metadata(
    anon_client: TestClient, client: TestClient
) -> None:
    sdk = _setup(client)
    response = _eval(anon_client, "checkout-redesign", {"targetingKey": "u1", "country": "KR"}, sdk)
    assert response.status_code == 200
    assert response.json() == {
        "key": "checkout-redesign",
        "value": "redesign",
        "reason": "TARGETING_MATCH",
        "variant": "new",
        "metadata": {"type": "string", "ruleId": "asia"},
    }


def test_evaluate_flag__x_api_key_header__accepted(
    anon_client: TestClient, client: TestClient
) -> None:
    token = _setup(client)["Authorization"].removeprefix("Bearer ")
    response = _eval(
        anon_client, "maintenance-banner", {"targetingKey": "u1"}, {"X-API-Key": token}
    )
    assert response.json()["reason"] == "STATIC"


def test_evaluate_flag__unknown_flag__404_flag_not_found(
    anon_client: TestClient, client: TestClient
) -> None:
    sdk = _setup(client)
    response = _eval(anon_client, "nope", {"targetingKey": "u1"}, sdk)
    assert response.status_code == 404
    assert response.json()["errorCode"] == "FLAG_NOT_FOUND"
    assert response.json()["key"] == "nope"


def test_evaluate_flag__split_without_targeting_key__400_targeting_key_missing(
    anon_client: TestClient, client: TestClient
) -> None:
    sdk = _setup(client)
    response = _eval(anon_client, "checkout-redesign", {"country": "US"}, sdk)
    assert response.status_code == 400
    assert response.json()["errorCode"] == "TARGETING_KEY_MISSING"


def test_evaluate_flag__bad_bodies__parse_error_and_invalid_context(
    anon_client: TestClient, client: TestClient
) -> None:
    sdk = _setup(client)
    broken = anon_client.post(f"{SINGLE}/maintenance-banner", content=b"{nope", headers=sdk)
    assert (broken.status_code, broken.json()["errorCode"]) == (400, "PARSE_ERROR")
    listed = _eval(anon_client, "maintenance-banner", ["x"], sdk)
    assert (listed.status_code, listed.json()["errorCode"]) == (400, "INVALID_CONTEXT")
    numeric = _eval(anon_client, "maintenance-banner", {"targetingKey": 5}, sdk)
    assert numeric.json()["errorCode"] == "INVALID_CONTEXT"


def test_evaluate_flag__auth_failures__401_and_403(
    anon_client: TestClient, client: TestClient
) -> None:
    _setup(client)
    missing = _eval(anon_client, "maintenance-banner", {}, {})
    assert missing.status_code == 401 and "errorDetails" in missing.json()
    wrong = _eval(anon_client, "maintenance-banner", {}, {"Authorization": "Bearer tt_nope"})
    assert wrong.status_code == 401
    admin = _eval(client, "maintenance-banner", {}, {})  # an admin token is not an SDK token
    assert admin.status_code == 403


def test_evaluate_flag__revoked_token__refused_within_a_second(
    anon_client: TestClient, client: TestClient
) -> None:
    import time

    sdk = _setup(client)
    assert _eval(anon_client, "maintenance-banner", {}, sdk).status_code == 200
    token_id = client.get("/api/v1/tokens", params={"project": "shop"}).json()[0]["id"]
    client.delete(f"/api/v1/tokens/{token_id}")
    time.sleep(RECHECK_S + 0.1)
    assert _eval(anon_client, "maintenance-banner", {}, sdk).status_code == 401


def test_bulk__etag_then_if_none_match__304_until_a_flag_changes(
    anon_client: TestClient, client: TestClient
) -> None:
    sdk = _setup(client)
    context = {"context": {"targetingKey": "u1", "country": "JP"}}
    first = anon_client.post(SINGLE, json=context, headers=sdk)
    assert first.status_code == 200
    body = first.json()
    assert {f["key"]: f["value"] for f in body["flags"]} == {
        "checkout-redesign": "redesign",
        "maintenance-banner": True,
    }
    (stream,) = body["eventStreams"]
    assert stream["type"] == "sse" and "/ofrep/v1/events/" in stream["url"]
    etag = first.headers["etag"]
    again = anon_client.post(SINGLE, json=context, headers={**sdk, "If-None-Match": etag})
    assert again.status_code == 304
    other = {"context": {"targetingKey": "u2", "country": "US"}}
    assert (
        anon_client.post(SINGLE, json=other, headers={**sdk, "If-None-Match": etag}).status_code
        == 200
    )
    client.post(
        "/api/v1/projects/shop/flags/maintenance-banner/environments/production/kill",
        json={"reason": "done"},
    )
    changed = anon_client.post(SINGLE, json=context, headers={**sdk, "If-None-Match": etag})
    assert changed.status_code == 200  # invalidated on this node at once, not after RECHECK_S
    banner = next(f for f in changed.json()["flags"] if f["key"] == "maintenance-banner")
    assert (banner["value"], banner["reason"]) == (False, "DISABLED")


def test_bulk__environment_without_revision_row__revision_0_no_stream_nothing_written(
    anon_client: TestClient, client: TestClient, store: Store
) -> None:
    sdk = _setup(client)
    with store.write() as session:  # as an environment made before revision rows came with it
        session.execute(delete(FlagSetRevision))
    response = anon_client.post(SINGLE, json={"context": {"targetingKey": "u1"}}, headers=sdk)
    assert response.status_code == 200
    assert response.json()["metadata"]["revision"] == 0
    assert response.json()["eventStreams"] == []
    with store.read() as session:
        assert session.scalars(select(FlagSetRevision)).all() == []


def test_events__unknown_channel__404(anon_client: TestClient, client: TestClient) -> None:
    _setup(client)
    response = anon_client.get("/ofrep/v1/events/" + "x" * 32)
    assert response.status_code == 404
    assert response.json() == {"errorDetails": "no such event stream"}


def test_rate_limit__over_the_limit__429_with_retry_after(
    anon_client: TestClient, client: TestClient
) -> None:
    sdk = _setup(client)
    anon_client.app.state.flag_runtime.rate_limit = 3  # type: ignore[attr-defined]
    statuses = [_eval(anon_client, "maintenance-banner", {}, sdk).status_code for _ in range(6)]
    assert 429 in statuses
    limited = _eval(anon_client, "maintenance-banner", {}, sdk)
    assert limited.status_code == 429 and limited.headers["retry-after"] == "1"


def test_cors_preflight__answered_for_browsers(anon_client: TestClient, client: TestClient) -> None:
    _setup(client)
    response = anon_client.options(
        SINGLE,
        headers={"Origin": "http://app.example", "Access-Control-Request-Method": "POST"},
    )
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "*"
    assert "ETag" in response.headers["access-control-expose-headers"]
