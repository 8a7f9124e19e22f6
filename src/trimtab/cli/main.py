"""The `trimtab` command. Each noun has its own module; this file only assembles them.

Every command except `serve`, `db` and `demo` is an HTTP client of a trimtab server, so a CI
pipeline can drive a remote install with TRIMTAB_URL and TRIMTAB_TOKEN.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

import trimtab
from trimtab.cli import (
    alerts,
    config,
    dependencies,
    deploys,
    flags,
    health,
    issues,
    maintenance,
    projects,
    releases,
    server_cmds,
    services,
    tokens,
)
from trimtab.cli.context import state
from trimtab.cli.errors import CliError
from trimtab.cli.output import say

app = typer.Typer(
    name="trimtab",
    help="trimtab: keep a release safe — deploys, rollback, feature toggles, error reports.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"trimtab {trimtab.__version__}")
        raise typer.Exit


@app.callback()
def root(
    ctx: typer.Context,
    url: Annotated[
        str | None, typer.Option(help="Server URL [env: TRIMTAB_URL].", show_default=False)
    ] = None,
    token: Annotated[
        str | None, typer.Option(help="API token [env: TRIMTAB_TOKEN].", show_default=False)
    ] = None,
    json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    s = state(ctx)
    if url:
        s.url = url
    if token:
        s.token = token
    s.as_json = json


app.add_typer(projects.project_app, name="project")
app.add_typer(projects.env_app, name="env")
app.add_typer(projects.key_app, name="key")
app.add_typer(tokens.token_app, name="token")
app.add_typer(flags.flag_app, name="flag")
flags.flag_app.command("guard")(dependencies.flag_guard)
flags.flag_app.command("unguard")(dependencies.flag_unguard)
app.add_typer(dependencies.dependency_app, name="dependency")
app.command("audit")(tokens.audit_command)
app.add_typer(services.service_app, name="service")
app.add_typer(releases.release_app, name="release")
app.add_typer(deploys.deploy_app, name="deploy")
app.command("rollback")(deploys.rollback_command)
app.command("status")(deploys.status_command)
app.command("history")(deploys.history_command)
app.add_typer(maintenance.maintenance_app, name="maintenance")
app.add_typer(maintenance.freeze_app, name="freeze")
app.command("apply")(config.apply_command)
app.command("dora")(config.dora_command)
app.add_typer(issues.issues_app, name="issues")
app.add_typer(issues.events_app, name="events")
app.command("health")(health.health_command)
app.add_typer(alerts.alert_app, name="alert")
app.command("serve")(server_cmds.serve)
app.add_typer(server_cmds.db_app, name="db")
app.add_typer(server_cmds.demo_app, name="demo")


def main() -> None:
    # Typer reports its own usage errors; ours (HTTP failures, refusals) are one line each.
    try:
        app()
    except CliError as exc:
        say(f"trimtab: {exc}", err=True)
        sys.exit(exc.exit_code)
