"""/api/v1/projects/{slug}/flags…: the management API, its scopes and its refusals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from trimtab.domain.flags import schedules
from trimtab.store.db import Store

FLAGS = "/api/v1/projects/shop/flags"


def _token(client: TestClient, scopes: list[str], **binding: str) -> dict[str, str]:
    body = {"name": f"t-{'-'.join(scopes)}-{len(binding)}", "scopes": scopes, **binding}
    created = client.post("/api/v1/tokens", json=body)
    assert created.status_code == 201, created.text
    return {"Authorization": f"Bearer {created.json()['token']}"}


def _shop(client: TestClient) -> None:
    assert client.post("/api/v1/projects", json={"slug": "shop"}).status_code == 201


def _create(client: TestClient, key: str = "new-payment-page", **body: Any) -> dict[str, Any]:
    response = client.post(FLAGS, json={"key": key, **body})
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_create_flag__boolean__off_in_every_environment(client: TestClient) -> None:
    _shop(client)
    flag = _create(client, owner="payments", tags=["checkout"])
    assert flag["variants"] == {"on": True, "off": False}
    assert {env: c["enabled"] for env, c in flag["environments"].items()} == {
        "development": False,
        "staging": False,
        "production": False,
    }
    listed = client.get(FLAGS).json()
    assert [f["key"] for f in listed] == ["new-payment-page"]


def test_create_flag__string_without_variants__422_naming_the_field(client: TestClient) -> None:
    _shop(client)
    response = client.post(FLAGS, json={"key": "checkout-redesign", "type": "string"})
    assert response.status_code == 422
    assert "variants" in response.json()["detail"]


def test_kill__with_reason__off_reason_shown_and_audited(client: TestClient) -> None:
    _shop(client)
    _create(client, environments={"production": {"enabled": True}})
    killed = client.post(
        f"{FLAGS}/new-payment-page/environments/production/kill",
        json={"reason": "payments failing"},
    )
    assert killed.status_code == 200, killed.text
    production = killed.json()["environments"]["production"]
    assert (production["enabled"], production["off_reason"]) == (False, "payments failing")
    entries = client.get("/api/v1/audit", params={"action": "flag.kill"}).json()
    assert [(e["target_id"], e["reason"]) for e in entries] == [
        ("new-payment-page", "payments failing")
    ]


def test_kill__without_reason__422(client: TestClient) -> None:
    _shop(client)
    _create(client)
    response = client.post(f"{FLAGS}/new-payment-page/environments/production/kill", json={})
    assert response.status_code == 422


def test_deploy_token__may_flip_and_roll_out_but_not_define(client: TestClient) -> None:
    _shop(client)
    _create(client)
    deploy = _token(client, ["deploy"], project="shop")
    flag_path = f"{FLAGS}/new-payment-page/environments/production"
    assert client.post(f"{flag_path}/on", json={}, headers=deploy).status_code == 200
    rolled = client.post(f"{flag_path}/rollout", json={"percentage": 5}, headers=deploy)
    assert rolled.status_code == 200
    assert rolled.json()["environments"]["production"]["rollout"] == 5
    assert client.post(FLAGS, json={"key": "x"}, headers=deploy).status_code == 403
    assert client.put(flag_path, json={"salt": "s"}, headers=deploy).status_code == 403


def test_token_of_another_project__404(client: TestClient) -> None:
    _shop(client)
    assert client.post("/api/v1/projects", json={"slug": "other"}).status_code == 201
    _create(client)
    other = _token(client, ["admin"], project="other")
    assert client.get(f"{FLAGS}/new-payment-page", headers=other).status_code == 404


def test_sdk_token__cannot_use_the_management_api(client: TestClient) -> None:
    _shop(client)
    _create(client)
    sdk = _token(client, ["sdk-server"], project="shop", environment="production")
    assert client.get(FLAGS, headers=sdk).status_code == 403
    path = f"{FLAGS}/new-payment-page/environments/production/kill"
    assert client.post(path, json={"reason": "x"}, headers=sdk).status_code == 403


def test_set_config__rules_and_fallback__stored_normalized(client: TestClient) -> None:
    _shop(client)
    _create(client)
    rules = [
        {
            "id": "asia",
            "constraints": [{"attribute": "country", "operator": "in", "values": ["KR", "JP"]}],
            "serve": {"rollout": {"percentage": 50}},
        }
    ]
    fallback = {"variant": "off", "dependencies": ["billing-api"]}
    response = client.put(
        f"{FLAGS}/new-payment-page/environments/staging",
        json={"rules": rules, "fallback": fallback, "default_variant": "off"},
    )
    assert response.status_code == 200, response.text
    staging = response.json()["environments"]["staging"]
    assert staging["rules"][0]["serve"]["rollout"] == {
        "percentage": 50,
        "stickiness": "targetingKey",
        "variant": "on",
    }
    assert staging["fallback"] == fallback
    cleared = client.put(f"{FLAGS}/new-payment-page/environments/staging", json={"fallback": None})
    assert cleared.json()["environments"]["staging"]["fallback"] is None


def test_set_config__oversized_rules_list__422(client: TestClient) -> None:
    _shop(client)
    _create(client)
    rules = [{"serve": {"variant": "on"}}] * 1001
    response = client.put(f"{FLAGS}/new-payment-page/environments/staging", json={"rules": rules})
    assert response.status_code == 422


def test_segment__used_by_a_rule__cannot_be_deleted(client: TestClient) -> None:
    _shop(client)
    _create(client)
    beta = [{"attribute": "beta", "operator": "equals", "values": [True]}]
    put = client.put("/api/v1/projects/shop/segments/beta", json={"constraints": beta})
    assert put.status_code == 200, put.text
    rules = [{"segments": ["beta"], "serve": {"variant": "on"}}]
    path = f"{FLAGS}/new-payment-page/environments/staging"
    assert client.put(path, json={"rules": rules}).status_code == 200
    assert client.delete("/api/v1/projects/shop/segments/beta").status_code == 409
    unknown = [{"segments": ["nope"], "serve": {"variant": "on"}}]
    assert client.put(path, json={"rules": unknown}).status_code == 422


def test_archive__flag_leaves_list_and_restore_brings_it_back(client: TestClient) -> None:
    _shop(client)
    _create(client, key="legacy-search")
    assert client.post(f"{FLAGS}/legacy-search/archive").json()["archived"] is True
    assert client.get(FLAGS).json() == []
    assert client.post(f"{FLAGS}/legacy-search/restore").json()["archived"] is False


def test_schedule_ramp__job_applies_each_step_once(client: TestClient, store: Store) -> None:
    _shop(client)
    _create(client, environments={"production": {"enabled": True}})
    start = datetime.now(UTC) - timedelta(minutes=1)
    steps = [
        {"at": start.isoformat(), "percentage": 5},
        {"at": (start + timedelta(days=2)).isoformat(), "percentage": 25},
        {"at": (start + timedelta(days=4)).isoformat(), "percentage": 100},
    ]
    created = client.post(
        f"{FLAGS}/new-payment-page/schedules",
        json={"environment": "production", "kind": "ramp", "steps": steps},
    )
    assert created.status_code == 201, created.text
    assert schedules.apply_due(store) == 1
    assert schedules.apply_due(store) == 0  # the next step is not due yet
    flag = client.get(f"{FLAGS}/new-payment-page").json()
    assert flag["environments"]["production"]["rollout"] == 5
    assert schedules.apply_due(store, now=start + timedelta(days=2, hours=1)) == 1
    flag = client.get(f"{FLAGS}/new-payment-page").json()
    assert flag["environments"]["production"]["rollout"] == 25
    assert schedules.apply_due(store, now=start + timedelta(days=5)) == 1
    (schedule,) = client.get(f"{FLAGS}/new-payment-page/schedules").json()
    assert (schedule["status"], schedule["applied_percentage"]) == ("done", 100)
    actors = {
        e["actor"] for e in client.get("/api/v1/audit", params={"action": "flag.rollout"}).json()
    }
    assert actors == {"system:scheduler"}


def test_kill__pending_scheduled_on__cancelled(client: TestClient, store: Store) -> None:
    _shop(client)
    _create(client)
    soon = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    client.post(
        f"{FLAGS}/new-payment-page/schedules",
        json={"environment": "production", "kind": "on", "at": soon},
    )
    client.post(
        f"{FLAGS}/new-payment-page/environments/production/kill", json={"reason": "incident"}
    )
    (schedule,) = client.get(f"{FLAGS}/new-payment-page/schedules").json()
    assert schedule["status"] == "cancelled"
    assert schedules.apply_due(store, now=datetime.now(UTC) + timedelta(hours=2)) == 0


def test_stale_flags__fully_on_and_never_evaluated__reported(client: TestClient) -> None:
    _shop(client)
    _create(client, key="legacy-search", environments={"production": {"enabled": True}})
    response = client.get(
        "/api/v1/projects/shop/stale-flags", params={"days": 1, "env": "production"}
    )
    assert response.status_code == 200
    assert response.json() == []  # created just now: neither idle nor on for a day yet
