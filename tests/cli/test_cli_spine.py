"""The CLI as a CI pipeline uses it: a real process talking to a real server."""

from __future__ import annotations

import json

from tests.support import ADMIN_TOKEN, LiveServer, run_cli


def test_project_create__admin_token__json_project(live_server: LiveServer) -> None:
    result = run_cli("--json", "project", "create", "x", url=live_server.url, token=ADMIN_TOKEN)
    assert result.exit_code == 0, result.stderr
    project = json.loads(result.stdout)
    assert project["slug"] == "x" and project["dsn"]


def test_project_create__read_token__nonzero_403_and_audit_shows_only_first(
    live_server: LiveServer,
) -> None:
    url = live_server.url
    assert run_cli("project", "create", "x", url=url, token=ADMIN_TOKEN).exit_code == 0
    created = run_cli(
        "--json", "token", "create", "reader", "--scope", "read", url=url, token=ADMIN_TOKEN
    )
    reader = json.loads(created.stdout)["token"]
    refused = run_cli("--json", "project", "create", "y", url=url, token=reader)
    assert refused.exit_code != 0
    assert "403" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
    audit = json.loads(run_cli("--json", "audit", url=url, token=ADMIN_TOKEN).stdout)
    created_projects = [e["target_id"] for e in audit if e["action"] == "project.create"]
    assert created_projects == ["x"]


def test_token_list_and_revoke__round_trip(live_server: LiveServer) -> None:
    url = live_server.url
    created = json.loads(
        run_cli(
            "--json", "token", "create", "tmp", "--scope", "read", url=url, token=ADMIN_TOKEN
        ).stdout
    )
    assert run_cli("token", "revoke", str(created["id"]), url=url, token=ADMIN_TOKEN).exit_code == 0
    refused = run_cli("project", "list", url=url, token=created["token"])
    assert refused.exit_code != 0 and "401" in refused.stderr


def test_cli__server_unreachable__one_line_error() -> None:
    result = run_cli("project", "list", url="http://127.0.0.1:9", token="x")
    assert result.exit_code == 1
    assert result.stderr.startswith("trimtab: cannot reach trimtab")
