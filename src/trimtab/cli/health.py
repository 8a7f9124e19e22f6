"""`trimtab health`: crash-free sessions and users per release and environment.

A top-level command rather than a `release` subcommand: `trimtab release` manages releases and
deploys, while this reads what the SDKs' sessions say about them.
"""

from __future__ import annotations

from typing import Annotated

import typer

from trimtab.cli.context import state
from trimtab.cli.output import emit

COLUMNS = [
    "release",
    "environment",
    "sessions",
    "crashed_sessions",
    "crash_free_sessions",
    "users",
    "crashed_users",
    "crash_free_users",
    "last_session",
]
HOURLY_COLUMNS = [
    "hour",
    "sessions",
    "errored_sessions",
    "crashed_sessions",
    "crash_free_sessions",
    "users",
    "crash_free_users",
]


def health_command(
    ctx: typer.Context,
    project: Annotated[str, typer.Option("--project", "-p", help="Project slug.")],
    env: Annotated[
        str | None, typer.Option("--env", help="Only this environment.", show_default=False)
    ] = None,
    release: Annotated[
        str | None,
        typer.Option(help="Only this release, e.g. shop@2.3.0.", show_default=False),
    ] = None,
    hourly: Annotated[
        int | None,
        typer.Option(
            help="With --release: a series of the last N hours.", min=1, show_default=False
        ),
    ] = None,
) -> None:
    """Release health: crash-free sessions % and crash-free users % per release."""
    s = state(ctx)
    client = s.client()
    base = f"/api/v1/projects/{project}/releases/health"
    if hourly is not None:
        if release is None:
            raise typer.BadParameter("--hourly needs --release")
        data = client.get(f"{base}/hourly", release=release, environment=env, hours=hourly)
        if s.as_json:
            emit(data, as_json=True)
        else:
            emit(data["hours"], as_json=False, columns=HOURLY_COLUMNS, title=release)
        return
    emit(
        client.get(base, environment=env, release=release),
        as_json=s.as_json,
        columns=COLUMNS,
    )
