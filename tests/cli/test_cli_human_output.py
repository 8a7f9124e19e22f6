"""Human output reads cleanly: it fits 100 columns, shows no raw JSON or Python reprs, counts
waves from 1 and says durations and ratios as a person would — on the demo workspace."""

from __future__ import annotations

import json
import re

import pytest

from tests.support import ADMIN_TOKEN, LiveServer, run_cli

pytestmark = pytest.mark.live

READ_COMMANDS = [
    ("status", "-p", "shop"),
    ("history", "web-front", "-p", "shop"),
    ("release", "list", "-p", "shop"),
    ("release", "show", "shop@2.3.0", "-p", "shop"),
    ("service", "list", "-p", "shop"),
    ("service", "show", "web-front", "-p", "shop"),
    ("flag", "list", "-p", "shop"),
    ("flag", "show", "checkout-redesign", "-p", "shop"),
    ("deploy", "status", "-p", "shop"),
    ("deploy", "status", "-p", "shop", "3"),
    ("dora", "-p", "shop"),
    ("health", "-p", "shop"),
    ("issues", "list", "-p", "shop"),
    ("audit", "-p", "shop"),
    ("dependency", "list", "-p", "shop"),
    ("project", "list"),
    ("freeze", "status", "-p", "shop", "-e", "production"),
    ("deploy", "plan", "shop@2.3.0", "-p", "shop", "-e", "staging"),
]
# What leaks when a dict, a list or a float reaches the screen as Python or JSON writes it.
LEAKS = re.compile(r"\{['\"]|\[\[|\['|\d\.\d{5,}")


def _human(server: LiveServer, *args: str) -> str:
    result = run_cli(*args, url=server.url, token=ADMIN_TOKEN)
    assert result.exit_code == 0, f"{args}: {result.stderr}"
    return result.stdout


@pytest.mark.demo_workspace
def test_human_output__demo_workspace__fits_100_columns_and_leaks_no_reprs(
    live_server: LiveServer,
) -> None:
    for args in READ_COMMANDS:
        stdout = _human(live_server, *args)
        too_wide = [line for line in stdout.splitlines() if len(line) > 100]
        assert too_wide == [], f"{args} is wider than 100 columns"
        assert not LEAKS.search(stdout), f"{args} shows a raw value:\n{stdout}"


@pytest.mark.demo_workspace
def test_deploy_status__a_run__waves_counted_from_1_like_the_plan(live_server: LiveServer) -> None:
    run = json.loads(
        run_cli(
            "--json", "deploy", "status", "-p", "shop", "3", url=live_server.url, token=ADMIN_TOKEN
        ).stdout
    )
    first_waves = {step["wave"] for step in run["steps"]}
    assert min(first_waves) == 0  # the API's index: unchanged
    table = _human(live_server, "deploy", "status", "-p", "shop", "3").splitlines()
    header = next(i for i, line in enumerate(table) if line.startswith("wave"))
    waves = {int(line.split()[0]) for line in table[header + 2 :] if line.strip()}
    assert waves == {w + 1 for w in first_waves}


@pytest.mark.demo_workspace
def test_dora__human__durations_and_ratios_in_words(live_server: LiveServer) -> None:
    stdout = _human(live_server, "dora", "-p", "shop")
    assert re.search(r"change failure rate\s+\d+\.\d %", stdout)
    assert re.search(r"deployment frequency\s+\d+ changes", stdout)
    assert not re.search(r"\d\.\d{4,}", stdout)
