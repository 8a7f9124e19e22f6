"""`trimtab init` writes the project as a commented trimtab.toml that `trimtab apply` reads back
as no change; `trimtab window` changes the stabilization window without a file; `apply` names
the file and every problem when it cannot use it."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest

from tests.support import ADMIN_TOKEN, LiveServer, run_cli
from trimtab.cli.errors import FAILED, USAGE

pytestmark = pytest.mark.live

# Port 9 answers nothing: a command that exits without "cannot reach" sent nothing.
NOWHERE = "http://127.0.0.1:9"


def _cli(server: LiveServer, *args: str, token: str | None = ADMIN_TOKEN) -> str:
    result = run_cli(*args, url=server.url, token=token)
    assert result.exit_code == 0, f"{args}: {result.stderr}"
    return result.stdout


def _json(server: LiveServer, *args: str) -> object:
    return json.loads(_cli(server, "--json", *args))


@pytest.mark.demo_workspace
def test_init_then_apply__demo_workspace__no_change_then_edited_days_change_the_window(
    live_server: LiveServer, tmp_path: Path
) -> None:
    config = tmp_path / "trimtab.toml"
    written = _cli(live_server, "init", "-p", "shop", "--file", str(config))
    assert f"wrote {config}" in written
    text = config.read_text()
    data = tomllib.loads(text)
    # What the demo has, and a comment for every section.
    assert data["project"]["name"] == "shop"
    front = next(s for s in data["services"] if s["name"] == "web-front")
    assert front["depends_on"] == ["billing-api", "pay-library"]
    assert any(s.get("manual") for s in data["services"])
    bound = data["dependencies"]["billing-api"]["flags"]
    assert {"flag": "new-payment-page", "environment": "production", "variant": "off"} in bound
    for section in ("[project]", "[stabilization]", "[[services]]", "[dependencies."):
        before = text[: text.index(section)].rstrip().splitlines()[-1]
        assert before.startswith("#"), f"{section} has no comment above it"

    assert _cli(live_server, "apply", "--dry-run", "--file", str(config)).strip() == (
        "up to date: nothing to apply"
    )

    days = data["stabilization"]["days"]
    new_days = 3 if days != 3 else 4
    config.write_text(re.sub(r"(?m)^days = \d+$", f"days = {new_days}", text))
    dry = _cli(live_server, "apply", "--dry-run", "--file", str(config))
    assert f"~ stabilization: days: {days} -> {new_days}" in dry and "dry run" in dry
    assert _json(live_server, "window", "show", "-p", "shop")["days"] == days  # type: ignore[index]
    applied = _cli(live_server, "apply", "--yes", "--file", str(config))
    assert "applied 1 change(s) to shop" in applied
    assert _json(live_server, "window", "show", "-p", "shop")["days"] == new_days  # type: ignore[index]
    audit = _json(live_server, "audit", "-p", "shop")
    assert any(e["action"] == "stabilization.update" for e in audit)  # type: ignore[attr-defined]


@pytest.mark.demo_workspace
def test_init_then_apply__fallback_dropped_from_one_dependency__flag_falls_back_on_the_other(
    live_server: LiveServer, tmp_path: Path
) -> None:
    config = tmp_path / "trimtab.toml"
    _cli(live_server, "init", "-p", "shop", "--file", str(config))
    text = config.read_text()
    section = text.index("[dependencies.pay-library]")
    head, tail = text[:section], text[section:]
    tail = re.sub(r"flags = \[\n(  \{.*\},\n)+\]\n", "", tail)
    config.write_text(head + tail)
    dry = _cli(live_server, "apply", "--dry-run", "--file", str(config))
    assert "~ fallback new-payment-page in production: dependencies:" in dry
    _cli(live_server, "apply", "--yes", "--file", str(config))
    flag = _json(live_server, "flag", "show", "new-payment-page", "-p", "shop")
    production = flag["environments"]["production"]  # type: ignore[index]
    assert production["fallback"] == {"variant": "off", "dependencies": ["billing-api"]}
    assert _cli(live_server, "apply", "--dry-run", "--file", str(config)).startswith("up to date")


# Stored text is data: quotes, backslashes, brackets, a newline, a tab, braces written literally.
AWKWARD_COMMAND = 'echo "it\'s" \\\\ [x] [/y] $HOME\n\tdeploy {service}@{version} {{literal}}'


def test_init__stored_text_with_quotes_backslashes_brackets_newlines__written_as_toml_data(
    live_server: LiveServer, tmp_path: Path
) -> None:
    _cli(live_server, "project", "create", "acme")
    _cli(live_server, "service", "create", "api", "-p", "acme", "--command", AWKWARD_COMMAND)
    _cli(
        live_server,
        "freeze",
        "add",
        "holidays",
        "-p",
        "acme",
        "--cron",
        "0 18 * * 5",
        "--duration",
        "62h",
        "--reason",
        'no "deploys" [on-call] \\ here',
    )
    config = tmp_path / "acme.toml"
    _cli(live_server, "init", "-p", "acme", "--file", str(config))
    data = tomllib.loads(config.read_text())
    assert data["services"][0]["command"] == AWKWARD_COMMAND
    assert data["freezes"][0]["reason"] == 'no "deploys" [on-call] \\ here'
    assert "dependencies" in data and data["dependencies"] == {}
    assert _cli(live_server, "apply", "--dry-run", "-f", str(config)).startswith("up to date")


def test_init__file_exists__refused_without_force_and_overwritten_with_it(
    live_server: LiveServer, tmp_path: Path
) -> None:
    _cli(live_server, "project", "create", "acme")
    config = tmp_path / "trimtab.toml"
    config.write_text("# mine\n")
    refused = run_cli("init", "-p", "acme", "-f", str(config), url=live_server.url, token=None)
    assert refused.exit_code == FAILED
    assert "already exists" in refused.stderr and "--force" in refused.stderr
    assert config.read_text() == "# mine\n"
    _cli(live_server, "init", "-p", "acme", "-f", str(config), "--force")
    assert tomllib.loads(config.read_text())["project"]["name"] == "acme"
    missing = run_cli(
        "init", "-p", "nope", "-f", str(tmp_path / "x.toml"), url=live_server.url, token=ADMIN_TOKEN
    )
    assert missing.exit_code == FAILED and "no project 'nope'" in missing.stderr
    assert not (tmp_path / "x.toml").exists()


def test_apply__missing_file__names_the_path_and_how_to_write_one(tmp_path: Path) -> None:
    missing = tmp_path / "trimtab.toml"
    result = run_cli("apply", "--file", str(missing), url=NOWHERE, token="x")
    assert result.exit_code == FAILED
    assert str(missing) in result.stderr and "trimtab init -p PROJECT" in result.stderr
    assert "docs/trimtab-toml.md" in result.stderr and "cannot reach" not in result.stderr


def test_apply__invalid_file__every_problem_with_its_path_and_nothing_sent(tmp_path: Path) -> None:
    config = tmp_path / "trimtab.toml"
    config.write_text(
        '[project]\nname = "shop"\n[stabilization]\ndays = 40\n'
        '[[services]]\nname = "api"\ncomand = "x"\n'
    )
    result = run_cli("apply", "--file", str(config), url=NOWHERE, token="x")
    assert result.exit_code == FAILED and "cannot reach" not in result.stderr
    assert f"{config} is not valid (3 problems)" in result.stderr
    assert "stabilization.days: must be from 1 to 14, got 40" in result.stderr
    assert "services[0].comand: unknown key; did you mean 'command'?" in result.stderr
    broken = tmp_path / "broken.toml"
    broken.write_text('[project\nname = "shop"\n')
    result = run_cli("apply", "--file", str(broken), url=NOWHERE, token="x")
    assert result.exit_code == FAILED and "not valid TOML" in result.stderr
    assert "(at line 1, column 9)" in result.stderr


def test_window_set__project_and_environment__bounded_audited_and_refused_to_readers(
    live_server: LiveServer,
) -> None:
    _cli(live_server, "project", "create", "acme")
    shown = _cli(live_server, "window", "show", "-p", "acme")
    assert "7 days" in shown
    _cli(live_server, "window", "set", "-p", "acme", "--days", "3")
    lengths = _json(live_server, "window", "set", "-p", "acme", "--env", "staging", "--days", "1")
    assert lengths == {"project": "acme", "days": 3, "environments": {"staging": 1}}
    assert "staging" in _cli(live_server, "window", "show", "-p", "acme")

    too_long = run_cli(
        "window", "set", "-p", "acme", "--days", "30", url=live_server.url, token=ADMIN_TOKEN
    )
    assert too_long.exit_code == USAGE and "1<=x<=14" in too_long.stderr
    unknown_env = run_cli(
        "window", "set", "-p", "acme", "-e", "nope", "--days", "2",
        url=live_server.url, token=ADMIN_TOKEN,
    )  # fmt: skip
    assert unknown_env.exit_code == FAILED and "nope" in unknown_env.stderr

    reader = json.loads(_cli(live_server, "--json", "token", "create", "r", "--scope", "read"))[
        "token"
    ]
    assert _json(live_server, "window", "show", "-p", "acme")["days"] == 3  # type: ignore[index]
    refused = run_cli(
        "window", "set", "-p", "acme", "--days", "5", url=live_server.url, token=reader
    )
    assert refused.exit_code == FAILED and "403" in refused.stderr
    assert "3 days" in _cli(live_server, "window", "show", "-p", "acme", token=reader)

    _cli(live_server, "window", "unset", "-p", "acme", "--env", "staging")
    assert _json(live_server, "window", "show", "-p", "acme")["environments"] == {}  # type: ignore[index]
    audit = _json(live_server, "audit", "-p", "acme")
    updates = [e for e in audit if e["action"] == "stabilization.update"]  # type: ignore[attr-defined]
    assert len(updates) == 3  # set days, set staging, unset staging; the refused one is absent
