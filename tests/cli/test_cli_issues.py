"""`trimtab issues` and `trimtab events` as a process against a live server."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from tests.cli.events import send_event
from tests.support import ADMIN_TOKEN, LiveServer, run_cli

pytestmark = pytest.mark.live


def _send(server: LiveServer, project: dict[str, Any], release: str, error: str) -> str:
    event = {
        "event_id": uuid.uuid4().hex,
        "release": release,
        "environment": "production",
        "exception": {"values": [{"type": error, "value": "seat taken"}]},
        "breadcrumbs": {"values": [{"category": "navigation", "message": "/checkout"}]},
        "tags": {"screen": "checkout"},
    }
    return send_event(server, project, event)


def test_cli_issues__list_show_resolve_regress_ignore_reopen_and_event_show(
    live_server: LiveServer,
) -> None:
    url = live_server.url

    def cli(*args: str) -> Any:
        result = run_cli("--json", *args, url=url, token=ADMIN_TOKEN)
        assert result.exit_code == 0, result.stderr
        return json.loads(result.stdout)

    project = cli("project", "create", "shop")
    event_id = _send(live_server, project, "shop@1.0.0", "SeatTaken")
    _send(live_server, project, "shop@1.0.0", "OtherError")

    listed = cli("issues", "list", "--project", "shop", "--env", "production")
    assert len(listed) == 2
    issue = next(i for i in listed if i["title"] == "SeatTaken: seat taken")
    shown = cli("issues", "show", str(issue["id"]))
    assert shown["releases"][0]["value"] == "shop@1.0.0"
    assert shown["latest_event_id"] == event_id

    resolved = cli("issues", "resolve", str(issue["id"]), "--in-next-release")
    assert resolved["status"] == "resolved_in_next_release"
    assert (
        cli("issues", "list", "--project", "shop", "--status", "unresolved")[0]["id"]
        != (issue["id"])
    )
    _send(live_server, project, "shop@1.1.0", "SeatTaken")
    regressed = cli("issues", "show", str(issue["id"]))
    assert regressed["status"] == "unresolved"
    assert regressed["regressed_in_release"] == "shop@1.1.0"

    ignored = cli("issues", "ignore", str(issue["id"]), "--count", "5")
    assert ignored["status"] == "ignored" and ignored["status_detail"]["until_count"] == 5
    assert cli("issues", "reopen", str(issue["id"]))["status"] == "unresolved"

    event = cli("events", "show", event_id)
    assert event["breadcrumbs"][0]["message"] == "/checkout"
    assert {"key": "screen", "value": "checkout"} in event["tags"]
    human = run_cli("events", "show", event_id, url=url, token=ADMIN_TOKEN)
    assert human.exit_code == 0 and "SeatTaken" in human.stdout

    audit = cli("audit", "--project", "shop", "--action", "issue.")
    assert {entry["action"] for entry in audit} >= {"issue.resolve", "issue.ignore", "issue.reopen"}


def test_cli_issues__unknown_issue__one_line_error(live_server: LiveServer) -> None:
    result = run_cli("issues", "show", "999", url=live_server.url, token=ADMIN_TOKEN)
    assert result.exit_code == 1
    assert "no issue 999" in result.stderr
