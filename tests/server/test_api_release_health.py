"""Release health over /api/v1 and `trimtab health`: rates per release, tokens kept to their
project and environment."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from tests.support import ADMIN_TOKEN, ThreadedServer, run_cli
from trimtab.core.sessions import parse_session
from trimtab.domain.reports import release_health
from trimtab.store.db import Store


def _sessions(store: Store, project_id: int, release: str, env: str, crashed: int, ok: int) -> None:
    now = datetime.now(UTC) - timedelta(minutes=5)
    updates = []
    for i in range(crashed + ok):
        payload: dict[str, Any] = {
            "sid": f"{release}-{env}-{i}",
            "did": f"user-{i}",
            "status": "crashed" if i < crashed else "exited",
            "init": True,
            "started": now.isoformat(),
            "attrs": {"release": release, "environment": env},
        }
        updates.append(parse_session(payload, now))
    with store.write() as session:
        release_health.record_sessions(session, project_id, updates, [])


def _project(client: TestClient, slug: str = "shop") -> int:
    response = client.post("/api/v1/projects", json={"slug": slug})
    assert response.status_code == 201
    project_id: int = response.json()["id"]
    return project_id


def test_release_health__per_release_and_environment(client: TestClient, store: Store) -> None:
    pid = _project(client)
    _sessions(store, pid, "shop@2.3.0", "production", crashed=1, ok=3)
    _sessions(store, pid, "shop@2.2.0", "production", crashed=0, ok=2)
    _sessions(store, pid, "shop@2.3.0", "staging", crashed=0, ok=1)
    response = client.get("/api/v1/projects/shop/releases/health")
    assert response.status_code == 200
    rows = {(r["release"], r["environment"]): r for r in response.json()}
    assert set(rows) == {
        ("shop@2.3.0", "production"),
        ("shop@2.2.0", "production"),
        ("shop@2.3.0", "staging"),
    }
    prod = rows[("shop@2.3.0", "production")]
    assert prod["sessions"] == 4 and prod["crashed_sessions"] == 1
    assert prod["crash_free_sessions"] == 75.0 and prod["crash_free_users"] == 75.0
    only_staging = client.get("/api/v1/projects/shop/releases/health?environment=staging").json()
    assert [r["environment"] for r in only_staging] == ["staging"]


def test_release_health_hourly__series_for_one_release(client: TestClient, store: Store) -> None:
    pid = _project(client)
    _sessions(store, pid, "shop@2.3.0", "production", crashed=1, ok=1)
    response = client.get(
        "/api/v1/projects/shop/releases/health/hourly",
        params={"release": "shop@2.3.0", "environment": "production", "hours": 3},
    )
    assert response.status_code == 200
    hours = response.json()["hours"]
    assert len(hours) == 3
    assert sum(h["sessions"] for h in hours) == 2
    assert hours[-1]["sessions"] + hours[-2]["sessions"] == 2


def test_release_health__token_of_another_project__404(client: TestClient, store: Store) -> None:
    _project(client, "shop")
    _project(client, "other")
    token = client.post(
        "/api/v1/tokens", json={"name": "r", "scopes": ["read"], "project": "other"}
    ).json()["token"]
    response = client.get(
        "/api/v1/projects/shop/releases/health", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 404


def test_release_health__environment_bound_token__sees_only_its_environment(
    client: TestClient, store: Store
) -> None:
    pid = _project(client)
    _sessions(store, pid, "shop@2.3.0", "production", crashed=0, ok=1)
    _sessions(store, pid, "shop@2.3.0", "staging", crashed=0, ok=1)
    token = client.post(
        "/api/v1/tokens",
        json={"name": "r", "scopes": ["read"], "project": "shop", "environment": "staging"},
    ).json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    rows = client.get("/api/v1/projects/shop/releases/health", headers=auth).json()
    assert [r["environment"] for r in rows] == ["staging"]
    refused = client.get(
        "/api/v1/projects/shop/releases/health?environment=production", headers=auth
    )
    assert refused.status_code == 403


def test_release_health__unknown_environment__404(client: TestClient) -> None:
    _project(client)
    response = client.get("/api/v1/projects/shop/releases/health?environment=nope")
    assert response.status_code == 404


def test_cli_health__table_and_json(threaded_server: ThreadedServer, store: Store) -> None:
    url = threaded_server.url
    created = run_cli("--json", "project", "create", "shop", url=url, token=ADMIN_TOKEN)
    pid = json.loads(created.stdout)["id"]
    _sessions(store, pid, "shop@2.3.0", "production", crashed=1, ok=1)
    table = run_cli(
        "health", "--project", "shop", "--env", "production", url=url, token=ADMIN_TOKEN
    )
    assert table.exit_code == 0, table.stderr
    [row] = [line for line in table.stdout.splitlines() if line.startswith("shop@2.3.0")]
    assert row.split()[2:5] == ["2", "1", "50"]  # sessions, crashed, crash-free %
    as_json = run_cli(
        "--json",
        "health",
        "-p",
        "shop",
        "--release",
        "shop@2.3.0",
        "--hourly",
        "2",
        url=url,
        token=ADMIN_TOKEN,
    )
    assert as_json.exit_code == 0, as_json.stderr
    assert sum(h["crashed_sessions"] for h in json.loads(as_json.stdout)["hours"]) == 1
