"""Releases and deploys as a team drives them: the real CLI against a live server, with local
shell commands as deploy commands that append to a file, so the order can be checked."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import ADMIN_TOKEN, HTTP_TIMEOUT, LiveServer, run_cli
from trimtab.cli.errors import REFUSED


def _cli(server: LiveServer, *args: str, token: str = ADMIN_TOKEN) -> Any:
    result = run_cli("--json", *args, url=server.url, token=token)
    assert result.exit_code == 0, result.stderr + result.stdout
    return json.loads(result.stdout)


def _api(server: LiveServer, method: str, path: str, body: Any = None) -> Any:
    # Setup goes through the API directly: the CLI processes are kept for what is under test.
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    response = httpx.request(
        method, f"{server.url}/api/v1{path}", json=body, headers=headers, timeout=HTTP_TIMEOUT
    )
    assert response.status_code < 300, response.text
    return response.json()


def _shop(server: LiveServer, log: Path, *, web_front_health: str = "/healthz") -> None:
    _api(server, "POST", "/projects", {"slug": "shop"})
    command = f"echo {{service}} {{version}} {{env}} >> {log}"
    for name in ("billing-api", "pay-library"):
        _api(server, "POST", "/projects/shop/services", {"name": name, "command": command})
    _cli(
        server,
        "service",
        "create",
        "web-front",
        "-p",
        "shop",
        "--command",
        command,
        "--depends-on",
        "billing-api",
        "--depends-on",
        "pay-library",
        "--health-url",
        f"{server.url}{web_front_health}",
        "--health-retries",
        "1",
        "--health-interval",
        "0.05",
    )


def _release(server: LiveServer, version: str, number: str) -> None:
    services = dict.fromkeys(("billing-api", "pay-library", "web-front"), number)
    _api(server, "POST", "/projects/shop/releases", {"version": version, "services": services})


def _ledger(server: LiveServer, env: str) -> list[dict[str, Any]]:
    rows = _api(server, "GET", f"/projects/shop/deploys?environment={env}")
    return sorted(rows, key=lambda r: r["id"])


def _deploy(server: LiveServer, release: str, env: str, *extra: str) -> Any:
    return run_cli(
        "deploy",
        "start",
        release,
        "-p",
        "shop",
        "-e",
        env,
        *extra,
        url=server.url,
        token=ADMIN_TOKEN,
    )


@pytest.mark.live
def test_release__three_services__deploy_in_order_then_rollback_in_reverse(
    live_server: LiveServer, tmp_path: Path
) -> None:
    log = tmp_path / "deploys.log"
    _shop(live_server, log)
    _release(live_server, "shop@1.0.0", "1.0.0")
    _release(live_server, "shop@2.0.0", "2.0.0")
    plan = _cli(live_server, "deploy", "plan", "shop@1.0.0", "-p", "shop", "-e", "staging")
    assert plan["waves"] == [["billing-api", "pay-library"], ["web-front"]]

    first = _deploy(live_server, "shop@1.0.0", "staging")
    assert first.exit_code == 0, first.stderr + first.stdout
    assert "succeeded" in first.stdout
    second = _deploy(live_server, "shop@2.0.0", "staging")
    assert second.exit_code == 0, second.stderr + second.stdout
    assert log.read_text().splitlines()[-3:] == [
        "billing-api 2.0.0 staging",
        "pay-library 2.0.0 staging",
        "web-front 2.0.0 staging",
    ]
    rows = {(r["service"], r["version"]): r for r in _ledger(live_server, "staging")}
    front = rows[("web-front", "2.0.0")]
    for backend in ("billing-api", "pay-library"):
        assert rows[(backend, "2.0.0")]["finished_at"] <= front["started_at"]
    assert (
        "health check"
        in _cli(live_server, "deploy", "status", str(front["run_id"]), "-p", "shop")["steps"][-1][
            "output_tail"
        ]
    )

    undo = run_cli(
        "rollback", "--release", "shop@2.0.0", "-p", "shop", "-e", "staging",
        url=live_server.url, token=ADMIN_TOKEN,
    )  # fmt: skip
    assert undo.exit_code == 0, undo.stderr + undo.stdout
    assert log.read_text().splitlines()[-3:] == [
        "web-front 1.0.0 staging",
        "billing-api 1.0.0 staging",
        "pay-library 1.0.0 staging",
    ]
    rollbacks = [r for r in _ledger(live_server, "staging") if r["rollback_of"]]
    assert {r["rollback_of"] for r in rollbacks} == {
        rows[(s, "2.0.0")]["id"] for s in ("billing-api", "pay-library", "web-front")
    }
    status = _cli(live_server, "status", "-p", "shop", "-e", "staging")
    assert {r["service"]: r["version"] for r in status} == {
        "billing-api": "1.0.0",
        "pay-library": "1.0.0",
        "web-front": "1.0.0",
    }


@pytest.mark.live
def test_deploy__failing_health_check__stops_and_yes_rolls_finished_steps_back(
    live_server: LiveServer, tmp_path: Path
) -> None:
    log = tmp_path / "deploys.log"
    _shop(live_server, log, web_front_health="/no-such-page")
    _release(live_server, "shop@1.0.0", "1.0.0")
    _cli(live_server, "service", "update", "web-front", "-p", "shop", "--no-health")
    assert _deploy(live_server, "shop@1.0.0", "staging").exit_code == 0
    _cli(
        live_server, "service", "update", "web-front", "-p", "shop",
        "--health-url", f"{live_server.url}/no-such-page",
    )  # fmt: skip
    _release(live_server, "shop@2.0.0", "2.0.0")

    failed = _deploy(live_server, "shop@2.0.0", "staging")
    assert failed.exit_code == 1
    assert "trimtab rollback --release shop@2.0.0 --project shop --env staging" in failed.stdout
    results = {(r["service"], r["version"]): r["result"] for r in _ledger(live_server, "staging")}
    assert results[("web-front", "2.0.0")] == "failed"
    assert results[("billing-api", "2.0.0")] == "success"

    _release(live_server, "shop@2.0.1", "2.0.1")
    again = _deploy(live_server, "shop@2.0.1", "staging", "--rollback-on-failure")
    assert again.exit_code == 1
    assert "rolling back the finished steps" in again.stdout
    status = _cli(live_server, "status", "-p", "shop", "-e", "staging")
    # billing-api and pay-library went to 2.0.1, then back to what ran before: 2.0.0.
    assert {r["service"]: r["version"] for r in status} == {
        "billing-api": "2.0.0",
        "pay-library": "2.0.0",
        "web-front": "1.0.0",
    }


@pytest.mark.live
def test_deploy_start__inside_window__refused_then_override_with_reason_both_audited(
    live_server: LiveServer, tmp_path: Path
) -> None:
    _shop(live_server, tmp_path / "deploys.log")
    services = [f"--service={s}=1.0.0" for s in ("billing-api", "pay-library", "web-front")]
    _cli(live_server, "release", "create", "shop@1.0.0", "-p", "shop", *services)
    _release(live_server, "shop@1.0.1", "1.0.1")
    assert _deploy(live_server, "shop@1.0.0", "production").exit_code == 0

    where = ("-p", "shop", "-e", "production")
    plan = run_cli("deploy", "plan", "shop@1.0.1", *where, url=live_server.url, token=ADMIN_TOKEN)
    assert plan.exit_code == REFUSED, plan.stderr
    assert "stabilization window for shop@1.0.0 in production is open" in plan.stdout
    plan_json = run_cli(
        "--json", "deploy", "plan", "shop@1.0.1", *where, url=live_server.url, token=ADMIN_TOKEN
    )
    assert plan_json.exit_code == REFUSED and json.loads(plan_json.stdout)["refusals"]
    refused = _deploy(live_server, "shop@1.0.1", "production")
    assert refused.exit_code == REFUSED
    assert "409 (deploy_refused)" in refused.stderr
    assert "stabilization window for shop@1.0.0 in production is open" in refused.stderr
    assert "--override --reason" in refused.stderr

    hotfix = _deploy(
        live_server, "shop@1.0.1", "production", "--override", "--reason", "payment hotfix"
    )
    assert hotfix.exit_code == 0, hotfix.stderr + hotfix.stdout
    audit = _cli(live_server, "audit", "-p", "shop", "--action", "deploy.")
    refusal = next(e for e in audit if e["action"] == "deploy.refused")
    assert refusal["target_id"] == "shop@1.0.1"
    started = [e for e in audit if e["action"] == "deploy.start" and e["overridden"]]
    assert len(started) == 1 and started[0]["reason"] == "payment hotfix"
    release = _cli(live_server, "release", "show", "shop@1.0.1", "-p", "shop")
    assert release["windows"][0]["open"] is True
