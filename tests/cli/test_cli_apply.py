"""`trimtab apply` syncs a trimtab.toml; `trimtab dora` reads the ledger."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.support import ADMIN_TOKEN, LiveServer, run_cli

TOML = """
[project]
name = "shop"

[stabilization]
days = 5
environments = { staging = 1 }

[[services]]
name = "billing-api"
command = "echo {service} {version} {env}"

[[services]]
name = "pay-library"
manual = true

[[services]]
name = "web-front"
command = "echo {service} {version} {env}"
depends_on = ["billing-api", "pay-library"]
downtime = true
health = { url = "https://shop.example/health", retries = 2 }

[[freezes]]
name = "weekends"
cron = "weekends"
timezone = "Asia/Seoul"
reason = "nobody on call"
"""


@pytest.mark.live
def test_apply__new_project__diff_then_sync_then_up_to_date(
    live_server: LiveServer, tmp_path: Path
) -> None:
    config = tmp_path / "trimtab.toml"
    config.write_text(TOML)
    url = live_server.url
    applied = run_cli("apply", "--file", str(config), "--yes", url=url, token=ADMIN_TOKEN)
    assert applied.exit_code == 0, applied.stderr
    assert "+ service web-front" in applied.stdout and "+ freeze weekends" in applied.stdout
    services = json.loads(
        run_cli("--json", "service", "list", "-p", "shop", url=url, token=ADMIN_TOKEN).stdout
    )
    front = next(s for s in services if s["name"] == "web-front")
    assert front["depends_on"] == ["billing-api", "pay-library"] and front["downtime"] is True
    again = run_cli("apply", "--file", str(config), "--yes", url=url, token=ADMIN_TOKEN)
    assert "up to date" in again.stdout

    config.write_text(TOML.replace("retries = 2", "retries = 4"))
    changed = run_cli("--json", "apply", "--file", str(config), "--yes", url=url, token=ADMIN_TOKEN)
    (change,) = json.loads(changed.stdout)["changes"]
    assert change.startswith("~ service web-front: health: ")
    assert "'retries': 2" in change and "'retries': 4" in change
    dora = json.loads(run_cli("--json", "dora", "-p", "shop", url=url, token=ADMIN_TOKEN).stdout)
    assert dora["changes"] == 0 and dora["change_failure_rate"] is None


def test_apply__deploy_token__refused_and_nothing_written(client: TestClient) -> None:
    created = client.post("/api/v1/tokens", json={"name": "ci", "scopes": ["deploy"]}).json()
    refused = client.post(
        "/api/v1/config/apply",
        json={"toml": TOML},
        headers={"Authorization": f"Bearer {created['token']}"},
    )
    assert refused.status_code == 403
    assert client.get("/api/v1/projects").json() == []
