"""Stored and user text is printed verbatim by every command's human output: brackets, slashes
and colons that a markup printer would read as styles (or choke on) come out as they went in."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from tests.cli.events import send_event
from tests.support import ADMIN_TOKEN, LiveServer, run_cli

pytestmark = pytest.mark.live

CLOSING_TAG = "[/seats]"
STYLE_TAGS = "[bold]x[/bold]"
SELECTOR = "div.seat[data-seat='F7']"
EMOJI_CODE = ":smile:"
MARKUP = f"{CLOSING_TAG} {STYLE_TAGS} {SELECTOR} {EMOJI_CODE}"
FRAGMENTS = (CLOSING_TAG, STYLE_TAGS, SELECTOR, EMOJI_CODE)


def _human(server: LiveServer, *args: str) -> str:
    """Run a command for people; it succeeds and prints every fragment as it was stored."""
    result = run_cli(*args, url=server.url, token=ADMIN_TOKEN)
    assert result.exit_code == 0, f"{args}: {result.stderr}"
    assert "Traceback" not in result.stderr
    return result.stdout


def _shows_markup(server: LiveServer, *args: str) -> None:
    stdout = _human(server, *args)
    missing = [f for f in FRAGMENTS if f not in stdout]
    assert missing == [], f"{args} lost {missing}:\n{stdout}"


def _json(server: LiveServer, *args: str) -> Any:
    result = run_cli("--json", *args, url=server.url, token=ADMIN_TOKEN)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def _send_event(server: LiveServer, project: dict[str, Any]) -> str:
    event = {
        "event_id": uuid.uuid4().hex,
        "release": "shop@1.0.0",
        "environment": "production",
        "exception": {"values": [{"type": "SeatTaken", "value": MARKUP}]},
        "breadcrumbs": {"values": [{"category": "ui.click", "message": MARKUP}]},
    }
    return send_event(server, project, event)


def test_human_output__markup_like_stored_text__printed_verbatim_everywhere(
    live_server: LiveServer,
) -> None:
    server = live_server
    project = _json(server, "project", "create", "shop", "--name", MARKUP)
    _shows_markup(server, "project", "list")

    flag = ("flag", "create", "checkout", "-p", "shop", "--description", MARKUP)
    _shows_markup(server, *flag, "--owner", MARKUP)
    _shows_markup(server, "flag", "list", "-p", "shop")
    _human(server, "flag", "off", "checkout", "-p", "shop", "-e", "production", "-r", MARKUP)
    _shows_markup(server, "flag", "show", "checkout", "-p", "shop")
    _shows_markup(server, "audit", "-p", "shop")

    event_id = _send_event(server, project)
    _shows_markup(server, "issues", "list")
    _shows_markup(server, "issues", "list", "-p", "shop")
    issue = _json(server, "issues", "list", "-p", "shop")[0]
    _shows_markup(server, "issues", "show", str(issue["id"]))
    _shows_markup(server, "issues", "ignore", str(issue["id"]), "--reason", MARKUP)
    _shows_markup(server, "events", "show", event_id)

    command = f"echo '{MARKUP}' {{version}}"
    _shows_markup(server, "service", "create", "web", "-p", "shop", "--command", command)
    _shows_markup(server, "service", "list", "-p", "shop")
    _shows_markup(server, "service", "show", "web", "-p", "shop")

    _human(server, "dependency", "create", "billing", "-p", "shop", "--description", MARKUP)
    _shows_markup(server, "dependency", "show", "billing", "-p", "shop")

    where = ("-p", "shop", "-e", "production")
    _shows_markup(server, "maintenance", "on", *where, "--message", MARKUP)
    _shows_markup(server, "maintenance", "status", *where)

    _human(server, "release", "create", "shop@1.0.0", "-p", "shop", "--service", "web=1.0.0")
    freeze = ("freeze", "add", "launch", "-p", "shop", "--reason", MARKUP)
    _shows_markup(server, *freeze, "--start", "2020-01-01T00:00Z", "--end", "2099-01-01T00:00Z")
    _shows_markup(server, "freeze", "status", "-p", "shop", "-e", "production")


def test_errors__markup_like_text_in_an_error__one_verbatim_line(live_server: LiveServer) -> None:
    result = run_cli("issues", "show", "999", url=live_server.url, token=ADMIN_TOKEN)
    assert result.exit_code == 1
    token = ("token", "create", MARKUP, "--scope", STYLE_TAGS)
    refused = run_cli(*token, url=live_server.url, token=ADMIN_TOKEN)
    assert refused.exit_code == 1 and "Traceback" not in refused.stderr
    assert STYLE_TAGS in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
