"""A window belongs to what runs now: a release rolled back no longer holds its window, so the
fixed release deploys without an override (issue 10, defect 8)."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import update

from trimtab.store.db import Store
from trimtab.store.models import StabilizationWindow, utcnow

BASE = "/api/v1/projects/shop"


def _wait(client: TestClient, run_id: int, state: str = "success") -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        run: dict[str, Any] = client.get(f"{BASE}/runs/{run_id}").json()
        if run["state"] == state:
            return run
        assert time.monotonic() < deadline, run
        time.sleep(0.05)


def _release(client: TestClient, version: str) -> None:
    body = {"version": f"shop@{version}", "services": {"billing-api": version, "web": version}}
    assert client.post(f"{BASE}/releases", json=body).status_code == 201


def _deploy(client: TestClient, version: str, **extra: Any) -> Any:
    body = {"release": f"shop@{version}", "environment": "production", **extra}
    return client.post(f"{BASE}/runs", json=body)


def _shop_running_2_0_0(client: TestClient, store: Store) -> None:
    """Services billing-api and web; 1.0.0 deployed long ago (its window over), then 2.0.0 now,
    whose window is open; 2.0.1 released, not deployed."""
    assert client.post("/api/v1/projects", json={"slug": "shop"}).status_code == 201
    for name in ("billing-api", "web"):
        body = {"name": name, "command": "true"}
        assert client.post(f"{BASE}/services", json=body).status_code == 201
    for version in ("1.0.0", "2.0.0", "2.0.1"):
        _release(client, version)
    _wait(client, _deploy(client, "1.0.0").json()["id"])
    with store.write() as session:  # 1.0.0 went out a while ago: its window is over
        session.execute(update(StabilizationWindow).values(ends_at=utcnow() - timedelta(days=1)))
    _wait(client, _deploy(client, "2.0.0").json()["id"])


def test_rollback__release_undone__its_window_ends_and_the_fix_deploys(
    client: TestClient, store: Store
) -> None:
    _shop_running_2_0_0(client, store)
    assert _deploy(client, "2.0.1").status_code == 409  # 2.0.0 is stabilizing

    undo = client.post(
        f"{BASE}/rollbacks", json={"environment": "production", "release": "shop@2.0.0"}
    )
    assert undo.status_code in (201, 202), undo.text
    _wait(client, undo.json()["id"])

    release = client.get(f"{BASE}/releases/shop@2.0.0").json()
    assert [w["open"] for w in release["windows"]] == [False]
    # Its final verdict comes with the rollback, covering the time it ran.
    [window] = release["windows"]
    assert window["verdict"] is not None and window["verdict"]["final"] is True, window
    assert window["verdict_at"] == window["ends_at"], window
    fixed = _deploy(client, "2.0.1")
    assert fixed.status_code == 202, fixed.text


def test_rollback__one_service_of_two__release_still_runs_and_keeps_its_window(
    client: TestClient, store: Store
) -> None:
    _shop_running_2_0_0(client, store)
    undo = client.post(f"{BASE}/rollbacks", json={"environment": "production", "service": "web"})
    _wait(client, undo.json()["id"])
    release = client.get(f"{BASE}/releases/shop@2.0.0").json()
    assert [w["open"] for w in release["windows"]] == [True]
