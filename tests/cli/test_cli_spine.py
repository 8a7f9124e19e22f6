"""The CLI as a CI pipeline uses it: a real process talking to a real server."""

from __future__ import annotations

import json

from tests.support import ADMIN_TOKEN, LiveServer, run_cli
from trimtab.cli.errors import FAILED, USAGE


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


def test_cli__option_value_it_cannot_read__usage_exit_code_and_nothing_sent() -> None:
    # Port 9 answers nothing: a request would end in exit 1, so 2 proves nothing was sent.
    bad_json = run_cli(
        "flag", "set", "f", "-p", "x", "--rules", "{", url="http://127.0.0.1:9", token="x"
    )
    assert bad_json.exit_code == USAGE and "--rules: not valid JSON" in bad_json.stderr
    unknown = run_cli("status", "--nope", url="http://127.0.0.1:9", token="x")
    assert unknown.exit_code == USAGE


def test_cli__no_token__hint_names_the_variable_and_the_option(live_server: LiveServer) -> None:
    result = run_cli("project", "list", url=live_server.url, token=None)
    assert result.exit_code == FAILED
    assert "set TRIMTAB_TOKEN or pass --token" in result.stderr


def test_help__every_level__names_values_and_no_type_placeholders() -> None:
    for args in (("--help",), ("deploy", "start", "--help"), ("flag", "set", "--help")):
        result = run_cli(*args, url="http://127.0.0.1:9", token=None)
        assert result.exit_code == 0, result.stderr
        assert "<str>" not in result.stdout and "<bool>" not in result.stdout, args
        assert "Server URL ." not in result.stdout
    deploy_help = run_cli("deploy", "start", "--help", url="http://127.0.0.1:9", token=None)
    assert "--rollback-on-failure" in deploy_help.stdout and "--yes" not in deploy_help.stdout
