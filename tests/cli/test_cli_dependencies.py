"""`trimtab dependency …` and `trimtab flag guard` as a real process against a real server."""

from __future__ import annotations

import json

from tests.support import ADMIN_TOKEN, LiveServer, run_cli
from trimtab.cli.errors import USAGE


def cli(server: LiveServer, *args: str) -> str:
    result = run_cli(*args, url=server.url, token=ADMIN_TOKEN)
    assert result.exit_code == 0, result.stderr
    return result.stdout


def test_dependency_commands__create_list_status_set_delete(live_server: LiveServer) -> None:
    cli(live_server, "project", "create", "shop")
    cli(live_server, "flag", "create", "new-payment-page", "-p", "shop")
    fallback = json.dumps({"variant": "off", "dependencies": ["billing-api"]})
    cli(
        live_server,
        "flag",
        "set",
        "new-payment-page",
        "-p",
        "shop",
        "-e",
        "production",
        "--fallback",
        fallback,
    )
    created = json.loads(
        cli(
            live_server,
            "--json",
            "dependency",
            "create",
            "billing-api",
            "--project",
            "shop",
            "--probe-url",
            f"{live_server.url}/healthz",
            "--interval",
            "30s",
        )
    )
    assert created["probe_url"].endswith("/healthz") and created["interval_s"] == 30
    listed = json.loads(cli(live_server, "--json", "dependency", "list", "-p", "shop"))
    assert [(d["name"], d["flags"]) for d in listed] == [("billing-api", ["new-payment-page"])]
    status = cli(live_server, "dependency", "status", "billing-api", "-p", "shop")
    assert "billing-api: healthy" in status
    assert "new-payment-page (production):" in status
    changed = json.loads(
        cli(
            live_server,
            "--json",
            "dependency",
            "set",
            "billing-api",
            "-p",
            "shop",
            "--no-probe",
            "--down-after",
            "4",
        )
    )
    assert changed["probe_url"] is None and changed["down_after"] == 4
    shown = json.loads(
        cli(live_server, "--json", "dependency", "show", "billing-api", "-p", "shop")
    )
    assert shown["history"] == [] and shown["flags"][0]["serving"] in ("off", "normal")
    cli(live_server, "dependency", "delete", "billing-api", "-p", "shop")
    assert json.loads(cli(live_server, "--json", "dependency", "list", "-p", "shop")) == []


def test_dependency_create__bad_probe_url__one_line_error(live_server: LiveServer) -> None:
    cli(live_server, "project", "create", "shop")
    result = run_cli(
        "dependency",
        "create",
        "billing-api",
        "-p",
        "shop",
        "--probe-url",
        "ftp://x",
        url=live_server.url,
        token=ADMIN_TOKEN,
    )
    assert result.exit_code == 1
    assert "422" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_flag_guard__set_then_unguard(live_server: LiveServer) -> None:
    cli(live_server, "project", "create", "shop")
    cli(live_server, "flag", "create", "new-payment-page", "-p", "shop")
    guard = json.loads(
        cli(
            live_server,
            "--json",
            "flag",
            "guard",
            "new-payment-page",
            "-p",
            "shop",
            "-e",
            "production",
            "--max-errors",
            "100",
            "--window",
            "10m",
        )
    )
    assert (guard["max_errors"], guard["window_s"], guard["compare"]) == (100, 600, True)
    cli(live_server, "flag", "unguard", "new-payment-page", "-p", "shop", "-e", "production")
    bad = run_cli(
        "flag",
        "guard",
        "new-payment-page",
        "-p",
        "shop",
        "-e",
        "production",
        "--window",
        "soon",
        url=live_server.url,
        token=ADMIN_TOKEN,
    )
    assert bad.exit_code == USAGE and "invalid duration" in bad.stderr
