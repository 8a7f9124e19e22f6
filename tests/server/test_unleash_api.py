"""The Unleash client and frontend APIs: the real `UnleashClient` polling a server over HTTP
agrees with the JSON cases; ETag / 304; registration and metrics feed "last evaluated"."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
from fastapi.testclient import TestClient
from UnleashClient import UnleashClient
from UnleashClient.cache import BaseCache
from UnleashClient.utils import InstanceAllowType

from tests.core.test_evaluation import run_case
from tests.server.flag_setup import put_case_on_server, server_cases
from tests.support import HTTP_TIMEOUT, WAIT, ThreadedServer
from trimtab.core.evaluation import Reason
from trimtab.core.unleash import context_to_unleash

CASES = server_cases(unleash=True)


class _EmptyCache(BaseCache):
    def __init__(self) -> None:
        self._data: dict[str, Any] = {}
        self.bootstrapped = False

    def set(self, key: str, value: Any) -> None:
        self._data[key] = value

    def mset(self, data: dict[str, Any]) -> None:
        self._data.update(data)

    def get(self, key: str, default: Any = None) -> Any:
        return self._data.get(key, default)

    def exists(self, key: str) -> bool:
        return key in self._data

    def destroy(self) -> None:
        self._data.clear()


def _client(url: str, token: str, keys: set[str], metrics: bool = False) -> UnleashClient:
    client = UnleashClient(
        url=f"{url}/api",
        app_name="trimtab-tests",
        instance_id=f"test-{token[-6:]}",
        custom_headers={"Authorization": token},
        disable_metrics=not metrics,
        metrics_interval=1,
        refresh_interval=60,
        cache=_EmptyCache(),
        multiple_instance_mode=InstanceAllowType.SILENTLY_ALLOW,
    )
    client.initialize_client()
    deadline = time.monotonic() + WAIT
    while not keys <= set(client.feature_definitions()):
        assert time.monotonic() < deadline, "the client never loaded the features"
        time.sleep(0.02)
    return client


def _payload(variant: dict[str, Any]) -> Any:
    payload = variant["payload"]
    if payload["type"] == "json":
        return json.loads(payload["value"])
    if payload["type"] == "number":
        return float(payload["value"])
    return payload["value"]


def test_unleash_client__json_cases__agree_with_the_core(threaded_server: ThreadedServer) -> None:
    assert len(CASES) > 40
    for param in CASES:
        case = param.values[0]
        flag = case["flag"]
        _, token = put_case_on_server(threaded_server.url, case)
        keys = {flag["key"], *(f["key"] for f in case.get("flags", []))}
        client = _client(threaded_server.url, token, keys)
        try:
            context = context_to_unleash(case["context"] or {})
            result = run_case(case)
            if flag.get("type", "boolean") == "boolean":
                assert client.is_enabled(flag["key"], context) is (result.value is True), param.id
                continue
            variant = client.get_variant(flag["key"], context)
            if result.reason in (Reason.DISABLED, Reason.PREREQUISITE_FAILED):
                assert variant["name"] == "disabled", param.id
            else:
                assert variant["name"] == result.variant, param.id
                assert _payload(variant) == result.value, param.id
        finally:
            client.destroy()


def _sdk_token(client: TestClient, scope: str) -> str:
    token = client.post(
        "/api/v1/tokens",
        json={"name": scope, "scopes": [scope], "project": "shop", "environment": "production"},
    )
    return str(token.json()["token"])


def _shop(client: TestClient) -> None:
    client.post("/api/v1/projects", json={"slug": "shop"})
    client.post(
        "/api/v1/projects/shop/flags",
        json={
            "key": "checkout-redesign",
            "type": "string",
            "variants": {"old": "classic", "new": "redesign"},
            "default_variant": "new",
            "off_variant": "old",
            "environments": {"production": {"enabled": True}},
        },
    )


def test_client_features__etag__304_until_a_change(
    anon_client: TestClient, client: TestClient
) -> None:
    _shop(client)
    token = _sdk_token(client, "sdk-server")
    first = anon_client.get("/api/client/features", headers={"Authorization": token})
    assert first.status_code == 200
    body = first.json()
    assert body["version"] == 2
    assert [f["name"] for f in body["features"]] == ["checkout-redesign"]
    etag = first.headers["etag"]
    same = anon_client.get(
        "/api/client/features", headers={"Authorization": token, "If-None-Match": etag}
    )
    assert same.status_code == 304
    client.post(
        "/api/v1/projects/shop/flags/checkout-redesign/environments/production/off", json={}
    )
    changed = anon_client.get(
        "/api/client/features", headers={"Authorization": token, "If-None-Match": etag}
    )
    assert changed.status_code == 200
    assert changed.json()["features"][0]["enabled"] is False


def test_client_features__client_side_token__403(
    anon_client: TestClient, client: TestClient
) -> None:
    _shop(client)
    token = _sdk_token(client, "sdk-client")
    assert (
        anon_client.get("/api/client/features", headers={"Authorization": token}).status_code == 403
    )
    assert anon_client.get("/api/client/features").status_code == 401


def test_frontend__context_in_query_or_body__evaluated_toggles(
    anon_client: TestClient, client: TestClient
) -> None:
    _shop(client)
    token = _sdk_token(client, "sdk-client")
    got = anon_client.get(
        "/api/frontend", params={"userId": "u1"}, headers={"Authorization": token}
    )
    assert got.status_code == 200
    (toggle,) = got.json()["toggles"]
    assert toggle["name"] == "checkout-redesign"
    assert toggle["variant"] == {
        "name": "new",
        "enabled": True,
        "payload": {"type": "string", "value": "redesign"},
    }
    posted = anon_client.post(
        "/api/frontend", json={"context": {"userId": "u1"}}, headers={"Authorization": token}
    )
    assert posted.json() == got.json()


def test_register_and_metrics__feed_last_evaluated(threaded_server: ThreadedServer) -> None:
    case = {"flag": {"key": "maintenance-banner", "enabled": True}, "context": {}}
    project, token = put_case_on_server(threaded_server.url, case)
    client = _client(threaded_server.url, token, {"maintenance-banner"}, metrics=True)
    try:
        assert client.is_enabled("maintenance-banner", {"userId": "u1"})
        headers = {"Authorization": "Bearer tt_test_admin_token_0123456789abcdef"}
        deadline = time.monotonic() + WAIT
        while True:
            flag = httpx.get(
                f"{threaded_server.url}/api/v1/projects/{project}/flags/maintenance-banner",
                headers=headers,
                timeout=HTTP_TIMEOUT,
            ).json()
            production = flag["environments"]["production"]
            if production["evaluations"] >= 1:
                break
            assert time.monotonic() < deadline, "metrics never arrived"
            time.sleep(0.2)
        assert production["last_evaluated_at"] is not None
    finally:
        client.destroy()


def test_frontend__preflight__allows_the_unleash_sdk_headers(anon_client: TestClient) -> None:
    for path in ("/api/frontend", "/api/frontend/client/metrics"):
        preflight = anon_client.options(
            path,
            headers={
                "Origin": "http://shop.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,unleash-sdk,unleash-appname",
            },
        )
        assert preflight.status_code == 204
        allowed = preflight.headers["access-control-allow-headers"].lower()
        for header in ("unleash-sdk", "unleash-appname", "unleash-connection-id", "content-type"):
            assert header in allowed, (path, header)
        assert preflight.headers["access-control-allow-origin"] == "*"


def test_frontend_metrics__client_token__counts_stored_like_client_metrics(
    anon_client: TestClient, client: TestClient
) -> None:
    _shop(client)
    token = _sdk_token(client, "sdk-client")
    bucket = {"start": "2026-01-01T00:00:00Z", "stop": "2026-01-01T00:01:00Z"}
    posted = anon_client.post(
        "/api/frontend/client/metrics",
        json={
            "appName": "shop-web",
            "bucket": {
                **bucket,
                "toggles": {"checkout-redesign": {"yes": 3, "no": 0, "variants": {"new": 3}}},
            },
        },
        headers={"Authorization": token},
    )
    assert posted.status_code == 202, posted.text
    assert posted.headers["access-control-allow-origin"] == "*"
    production = client.get("/api/v1/projects/shop/flags/checkout-redesign").json()
    assert production["environments"]["production"]["evaluations"] == 3
    refused = anon_client.post(
        "/api/frontend/client/metrics", json={"bucket": {}}, headers={"Authorization": token}
    )
    assert refused.status_code == 422


def test_client_delta__one_hydration_event__304_on_the_etag(
    anon_client: TestClient, client: TestClient
) -> None:
    _shop(client)
    token = _sdk_token(client, "sdk-server")
    features = anon_client.get("/api/client/features", headers={"Authorization": token})
    delta = anon_client.get("/api/client/delta", headers={"Authorization": token})
    assert delta.status_code == 200
    (event,) = delta.json()["events"]
    assert event["type"] == "hydration"
    assert isinstance(event["eventId"], int)
    assert event["features"] == features.json()["features"]
    assert event["segments"] == features.json()["segments"]
    again = anon_client.get(
        "/api/client/delta",
        headers={"Authorization": token, "If-None-Match": delta.headers["etag"]},
    )
    assert again.status_code == 304
    streaming = anon_client.get("/api/client/streaming", headers={"Authorization": token})
    assert streaming.status_code == 501
    assert "poll" in streaming.json()["detail"]


def test_client_features__filters__name_prefix_project_tag(
    anon_client: TestClient, client: TestClient
) -> None:
    _shop(client)
    client.post("/api/v1/projects/shop/flags", json={"key": "new-banner", "tags": ["web"]})
    token = _sdk_token(client, "sdk-server")

    def names(params: dict[str, Any]) -> list[str]:
        got = anon_client.get(
            "/api/client/features", params=params, headers={"Authorization": token}
        )
        assert got.status_code == 200, got.text
        return [f["name"] for f in got.json()["features"]]

    assert names({}) == ["checkout-redesign", "new-banner"]
    assert names({"namePrefix": "new-"}) == ["new-banner"]
    assert names({"tag": "simple:web"}) == ["new-banner"]
    assert names({"tag": ["simple:nothing", "simple:web"]}) == ["new-banner"]
    assert names({"project": "shop"}) == ["checkout-redesign", "new-banner"]
    assert names({"project": "other"}) == []
    assert names({"project": "shop", "namePrefix": "checkout"}) == ["checkout-redesign"]
    too_long = anon_client.get(
        "/api/client/features", params={"namePrefix": "x" * 201}, headers={"Authorization": token}
    )
    assert too_long.status_code == 422
