"""A token bound to one environment acts in that environment only, on flag, issue and run routes
too (issue 9, item 2: a deploy token bound to staging flipped and killed production flags and
triaged production issues; bound read tokens saw every environment's issues and runs)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from starlette.datastructures import URL

FLAGS = "/api/v1/projects/shop/flags"


@pytest.fixture
def staging_deployer(client: TestClient) -> dict[str, str]:
    assert client.post("/api/v1/projects", json={"slug": "shop"}).status_code == 201
    body = {"key": "new-payment-page", "type": "boolean"}
    assert client.post(FLAGS, json=body).status_code == 201
    token = {"name": "ci", "scopes": ["deploy"], "project": "shop", "environment": "staging"}
    secret = client.post("/api/v1/tokens", json=token).json()["token"]
    return {"Authorization": f"Bearer {secret}"}


FLAG = f"{FLAGS}/new-payment-page/environments"
OPERATIONS: dict[str, Callable[[TestClient, str, dict[str, str]], int]] = {
    "on": lambda c, env, h: c.post(f"{FLAG}/{env}/on", headers=h).status_code,
    "kill": lambda c, env, h: (
        c.post(f"{FLAG}/{env}/kill", json={"reason": "INC-1"}, headers=h).status_code
    ),
    "rollout": lambda c, env, h: (
        c.post(f"{FLAG}/{env}/rollout", json={"percentage": 50}, headers=h).status_code
    ),
}


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_flag_operation__token_bound_to_staging__refused_in_production_allowed_in_staging(
    client: TestClient, staging_deployer: dict[str, str], operation: str
) -> None:
    act = OPERATIONS[operation]
    assert act(client, "production", staging_deployer) == 403
    assert act(client, "staging", staging_deployer) == 200


# Issues, events and runs (issue 9, item 2: environment-bound read tokens saw every
# environment's issues and runs; a staging deploy token triaged production issues).


def _ingest(client: TestClient, project: dict[str, Any], message: str, environment: str) -> str:
    event_id = uuid.uuid4().hex
    event = {"event_id": event_id, "message": message, "environment": environment}
    key = URL(project["dsn"]).username
    response = client.post(
        f"/api/{project['id']}/store/",
        content=orjson.dumps(event),
        headers={"X-Sentry-Auth": f"Sentry sentry_key={key}, sentry_version=7"},
    )
    assert response.status_code == 200, response.text
    return event_id


def _bound(client: TestClient, scope: str) -> dict[str, str]:
    token = {"name": f"{scope}-staging", "scopes": [scope], "project": "shop"}
    secret = client.post("/api/v1/tokens", json={**token, "environment": "staging"}).json()
    return {"Authorization": f"Bearer {secret['token']}"}


@pytest.fixture
def errors_in_two_environments(client: TestClient) -> dict[str, Any]:
    """Issue `staging` seen in staging alone, `production` in production alone, `both` in both;
    an event id of each environment."""
    project = client.post("/api/v1/projects", json={"slug": "shop"}).json()
    events = {
        "staging": _ingest(client, project, "seat map slow", "staging"),
        "production": _ingest(client, project, "card 4111 declined", "production"),
        "both-staging": _ingest(client, project, "billing timeout", "staging"),
        "both-production": _ingest(client, project, "billing timeout", "production"),
    }
    issues = {i["title"]: i["id"] for i in client.get("/api/v1/issues").json()}
    return {
        "issues": {
            "staging": issues["seat map slow"],
            "production": issues["card 4111 declined"],
            "both": issues["billing timeout"],
        },
        "events": events,
    }


def test_issue_list__token_bound_to_staging__issues_seen_in_staging_only(
    client: TestClient, errors_in_two_environments: dict[str, Any]
) -> None:
    ids = errors_in_two_environments["issues"]
    reader = _bound(client, "read")
    for params in ({}, {"project": "shop"}, {"project": "shop", "environment": "staging"}):
        listed = client.get("/api/v1/issues", params=params, headers=reader)
        assert listed.status_code == 200
        assert {i["id"] for i in listed.json()} == {ids["staging"], ids["both"]}
    elsewhere = client.get(
        "/api/v1/issues", params={"project": "shop", "environment": "production"}, headers=reader
    )
    assert elsewhere.status_code == 403
    assert len(client.get("/api/v1/issues").json()) == 3  # the unbound admin sees all


def test_issue_and_events__token_bound_to_staging__other_environment_not_found(
    client: TestClient, errors_in_two_environments: dict[str, Any]
) -> None:
    ids, events = errors_in_two_environments["issues"], errors_in_two_environments["events"]
    reader = _bound(client, "read")
    assert client.get(f"/api/v1/issues/{ids['production']}", headers=reader).status_code == 404
    detail = client.get(f"/api/v1/issues/{ids['both']}", headers=reader).json()
    assert [e["value"] for e in detail["environments"]] == ["staging"]
    assert detail["latest_event_id"] == events["both-staging"]
    listed = client.get(f"/api/v1/issues/{ids['both']}/events", headers=reader).json()
    assert [e["event_id"] for e in listed] == [events["both-staging"]]
    for name, status in (("both-production", 404), ("production", 404), ("both-staging", 200)):
        got = client.get(f"/api/v1/events/{events[name]}", headers=reader)
        assert got.status_code == status, name


def test_issue_triage__deploy_token_bound_to_staging__issues_of_staging_alone(
    client: TestClient, errors_in_two_environments: dict[str, Any]
) -> None:
    ids = errors_in_two_environments["issues"]
    deployer = _bound(client, "deploy")
    for action in ("resolve", "ignore", "reopen"):
        url = "/api/v1/issues/{}/" + action
        assert (
            client.post(url.format(ids["production"]), json={}, headers=deployer).status_code == 404
        )
        both = client.post(url.format(ids["both"]), json={}, headers=deployer)
        assert both.status_code == 403 and "also seen in production" in both.json()["detail"]
        assert client.post(url.format(ids["staging"]), json={}, headers=deployer).status_code == 200
    statuses = {i["id"]: i["status"] for i in client.get("/api/v1/issues").json()}
    assert statuses[ids["both"]] == statuses[ids["production"]] == "unresolved"


def test_runs__token_bound_to_staging__its_environment_only(client: TestClient) -> None:
    assert client.post("/api/v1/projects", json={"slug": "shop"}).status_code == 201
    service = {"name": "pay-library", "manual": True}
    assert client.post("/api/v1/projects/shop/services", json=service).status_code == 201
    release = {"version": "shop@1.0.0", "services": {"pay-library": "1.0.0"}}
    assert client.post("/api/v1/projects/shop/releases", json=release).status_code == 201
    runs = {}
    for env in ("staging", "production"):
        body = {"release": "shop@1.0.0", "environment": env}
        started = client.post("/api/v1/projects/shop/runs", json=body)
        assert started.status_code == 202
        runs[env] = started.json()["id"]
    reader = _bound(client, "read")
    listed = client.get("/api/v1/projects/shop/runs", headers=reader).json()
    assert [r["id"] for r in listed] == [runs["staging"]]
    named = client.get("/api/v1/projects/shop/runs?environment=production", headers=reader)
    assert named.status_code == 403
    assert (
        client.get(f"/api/v1/projects/shop/runs/{runs['production']}", headers=reader).status_code
        == 404
    )
    assert (
        client.get(f"/api/v1/projects/shop/runs/{runs['staging']}", headers=reader).status_code
        == 200
    )
    history = client.get("/api/v1/projects/shop/deploys", headers=reader).json()
    assert {d["environment"] for d in history} == {"staging"}
    assert (
        client.get(
            "/api/v1/projects/shop/status?environment=production", headers=reader
        ).status_code
        == 403
    )
    release_detail = client.get("/api/v1/projects/shop/releases/shop@1.0.0", headers=reader).json()
    assert {d["environment"] for d in release_detail["deploys"]} == {"staging"}


def test_tokens__admin_bound_to_staging__makes_and_revokes_tokens_of_staging_only(
    client: TestClient,
) -> None:
    assert client.post("/api/v1/projects", json={"slug": "shop"}).status_code == 201
    admin = _bound(client, "admin")
    base = {"name": "ci", "scopes": ["deploy"], "project": "shop"}
    wider = client.post("/api/v1/tokens", json=base, headers=admin)
    assert wider.status_code == 403  # a project-wide token would escape the binding
    other = client.post("/api/v1/tokens", json={**base, "environment": "production"}, headers=admin)
    assert other.status_code == 403
    own = client.post("/api/v1/tokens", json={**base, "environment": "staging"}, headers=admin)
    assert own.status_code == 201
    production = client.post("/api/v1/tokens", json={**base, "environment": "production"}).json()
    assert client.delete(f"/api/v1/tokens/{production['id']}", headers=admin).status_code == 404
    listed = client.get("/api/v1/tokens", params={"project": "shop"}, headers=admin).json()
    assert {t["environment"] for t in listed} == {"staging"}
    assert client.delete(f"/api/v1/tokens/{own.json()['id']}", headers=admin).status_code == 200


def test_definitions__admin_bound_to_staging__its_flag_configs_only(
    client: TestClient, staging_deployer: dict[str, str]
) -> None:
    admin = _bound(client, "admin")
    config = {"rules": [{"serve": {"variant": "on"}}]}
    assert client.put(f"{FLAG}/staging", json=config, headers=admin).status_code == 200
    assert client.put(f"{FLAG}/production", json=config, headers=admin).status_code == 403
    # What production runs too: service commands, flag definitions, keys, alert targets.
    refused = [
        client.post(
            "/api/v1/projects/shop/services", json={"name": "x", "command": "id"}, headers=admin
        ),
        client.patch(f"{FLAGS}/new-payment-page", json={"description": "x"}, headers=admin),
        client.post("/api/v1/projects/shop/keys", json={"name": "x"}, headers=admin),
        client.post(
            "/api/v1/projects/shop/alerts/targets",
            json={"name": "x", "url": "http://127.0.0.1:9/"},
            headers=admin,
        ),
    ]
    assert [r.status_code for r in refused] == [403] * 4
    release = {"version": "shop@1.0.0"}  # an operation on what is shared stays open
    assert (
        client.post("/api/v1/projects/shop/releases", json=release, headers=admin).status_code
        == 201
    )


def test_flag_reads__token_bound_to_staging__its_environment_config_and_audit_only(
    client: TestClient, staging_deployer: dict[str, str]
) -> None:
    kill = {"reason": "INC-7 card data in logs"}
    assert client.post(f"{FLAG}/production/kill", json=kill).status_code == 200
    schedule = {"environment": "production", "kind": "on", "at": "2099-01-01T00:00:00Z"}
    assert client.post(f"{FLAGS}/new-payment-page/schedules", json=schedule).status_code == 201
    reader = _bound(client, "read")
    detail = client.get(f"{FLAGS}/new-payment-page", headers=reader).json()
    assert set(detail["environments"]) == {"staging"}
    (listed,) = client.get(FLAGS, headers=reader).json()
    assert set(listed["environments"]) == {"staging"}
    schedules = client.get(f"{FLAGS}/new-payment-page/schedules", headers=reader).json()
    assert schedules == []
    entries = client.get("/api/v1/audit?project=shop", headers=reader).json()
    assert entries and all(e["environment"] in (None, "staging") for e in entries)
    assert "INC-7" not in str(entries)
    assert "INC-7" in client.get("/api/v1/audit?project=shop").text  # the unbound admin's view
