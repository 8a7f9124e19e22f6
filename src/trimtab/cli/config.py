"""`trimtab apply` (trimtab.toml → server) and `trimtab dora`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from trimtab.cli.context import state
from trimtab.cli.errors import CliError
from trimtab.cli.output import duration, emit, percent, print_json, record, say


def apply_command(
    ctx: typer.Context,
    file: Annotated[Path, typer.Option("--file", "-f", help="The config file.")] = Path(
        "trimtab.toml"
    ),
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Apply without asking.")] = False,
) -> None:
    """Show what trimtab.toml changes on the server, then apply it (admin token)."""
    s = state(ctx)
    try:
        text = file.read_text()
    except OSError as exc:
        raise CliError(f"cannot read {file}: {exc}") from exc
    client = s.client()
    plan = client.post("/api/v1/config/diff", {"toml": text})
    if not plan["changes"]:
        emit(plan, as_json=True) if s.as_json else say("up to date: nothing to apply")
        return
    if not s.as_json:
        for line in plan["changes"]:
            say(line)
    if not yes and not typer.confirm("Apply these changes?"):
        raise typer.Exit(1)
    result = client.post("/api/v1/config/apply", {"toml": text})
    if s.as_json:
        emit(result, as_json=True)
    else:
        say(f"applied {len(result['changes'])} change(s) to {result['project']}")


def dora_command(
    ctx: typer.Context,
    project: Annotated[str, typer.Option("--project", "-p", help="Project slug.")],
    env: Annotated[str, typer.Option("--env", "-e")] = "production",
    days: Annotated[int, typer.Option(min=1, max=365)] = 30,
) -> None:
    """DORA figures from the ledger: frequency, lead time, failure rate, time to restore."""
    s = state(ctx)
    data = s.client().get(f"/api/v1/projects/{project}/dora", environment=env, days=days)
    if s.as_json:
        print_json(data)
        return
    record(
        {
            "project": data["project"],
            "environment": data["environment"],
            "period": f"the last {data['days']} days",
            "deployment frequency": f"{data['changes']} changes, "
            f"{data['deploys_per_day']:g} a day, {data['deploys_per_week']:g} a week",
            "lead time for changes": f"{duration(data['lead_time_s'])} "
            f"(median, {data['lead_time_commits']} commits)",
            "change failure rate": f"{percent(data['change_failure_rate'])} "
            f"({data['failed_changes']} of {data['changes']} changes)",
            "time to restore": f"{duration(data['time_to_restore_s'])} "
            f"(median; {data['restored']} restored, {data['unrestored']} not yet)",
        }
    )
