"""`trimtab service`: services, their deploy commands, health checks and requirements."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from trimtab.cli.context import state
from trimtab.cli.output import emit

service_app = typer.Typer(
    help="Services: how each is deployed and checked, what it depends on.", no_args_is_help=True
)
ProjectOpt = Annotated[str, typer.Option("--project", "-p", help="Project slug.")]
COLUMNS = ["name", "command", "manual", "depends_on", "downtime", "health"]


def _health(
    body: dict[str, Any],
    url: str | None,
    expect: int | None,
    retries: int | None,
    interval: float | None,
    timeout: float | None,
) -> None:
    for key, value in (
        ("health_url", url),
        ("health_expect_status", expect),
        ("health_retries", retries),
        ("health_interval_s", interval),
        ("health_timeout_s", timeout),
    ):
        if value is not None:
            body[key] = value


HealthUrl = Annotated[str | None, typer.Option("--health-url", help="GET after deploying.")]
Expect = Annotated[int | None, typer.Option("--health-status", help="Expected status (200).")]
Retries = Annotated[int | None, typer.Option("--health-retries", help="Tries after the first.")]
Interval = Annotated[float | None, typer.Option("--health-interval", help="Seconds between.")]
Timeout = Annotated[float | None, typer.Option("--health-timeout", help="Seconds per try.")]


@service_app.command("create")
def service_create(
    ctx: typer.Context,
    name: str,
    project: ProjectOpt,
    command: Annotated[
        str | None,
        typer.Option(help="Shell template with {service} {version} {env}. Admin tokens only."),
    ] = None,
    manual: Annotated[bool, typer.Option(help="Deployed by hand, confirmed in trimtab.")] = False,
    depends_on: Annotated[
        list[str] | None, typer.Option("--depends-on", help="Deploy after this one (repeatable).")
    ] = None,
    downtime: Annotated[bool, typer.Option(help="Deploying takes the service down.")] = False,
    health_url: HealthUrl = None,
    health_status: Expect = None,
    health_retries: Retries = None,
    health_interval: Interval = None,
    health_timeout: Timeout = None,
) -> None:
    """Create a service deployed by COMMAND (or --manual)."""
    s = state(ctx)
    body: dict[str, Any] = {
        "name": name,
        "command": command,
        "manual": manual,
        "depends_on": depends_on or [],
        "downtime": downtime,
    }
    _health(body, health_url, health_status, health_retries, health_interval, health_timeout)
    emit(s.client().post(f"/api/v1/projects/{project}/services", body), as_json=s.as_json)


@service_app.command("list")
def service_list(ctx: typer.Context, project: ProjectOpt) -> None:
    """List the project's services."""
    s = state(ctx)
    emit(s.client().get(f"/api/v1/projects/{project}/services"), as_json=s.as_json, columns=COLUMNS)


@service_app.command("show")
def service_show(ctx: typer.Context, name: str, project: ProjectOpt) -> None:
    """Show one service."""
    s = state(ctx)
    emit(s.client().get(f"/api/v1/projects/{project}/services/{name}"), as_json=s.as_json)


@service_app.command("update")
def service_update(
    ctx: typer.Context,
    name: str,
    project: ProjectOpt,
    command: Annotated[str | None, typer.Option(help="New template. Admin tokens only.")] = None,
    manual: Annotated[bool, typer.Option(help="Make it manual (drops the command).")] = False,
    depends_on: Annotated[
        list[str] | None, typer.Option("--depends-on", help="The full new list (repeatable).")
    ] = None,
    no_depends: Annotated[bool, typer.Option("--no-depends", help="Depend on nothing.")] = False,
    downtime: Annotated[
        bool | None, typer.Option("--downtime/--no-downtime", show_default=False)
    ] = None,
    health_url: HealthUrl = None,
    no_health: Annotated[bool, typer.Option("--no-health", help="Remove the check.")] = False,
    health_status: Expect = None,
    health_retries: Retries = None,
    health_interval: Interval = None,
    health_timeout: Timeout = None,
) -> None:
    """Change a service; only the options given change."""
    s = state(ctx)
    body: dict[str, Any] = {}
    if command is not None:
        body["command"] = command
    if manual:
        body["manual"] = True
    if depends_on is not None or no_depends:
        body["depends_on"] = depends_on or []
    if downtime is not None:
        body["downtime"] = downtime
    if no_health:
        body["health_url"] = None
    _health(body, health_url, health_status, health_retries, health_interval, health_timeout)
    result = s.client().request("PATCH", f"/api/v1/projects/{project}/services/{name}", json=body)
    emit(result, as_json=s.as_json)
