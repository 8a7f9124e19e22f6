"""`trimtab token` and `trimtab audit`."""

from __future__ import annotations

from typing import Annotated

import typer

from trimtab.cli.context import state
from trimtab.cli.output import emit, say

token_app = typer.Typer(help="API tokens: scoped, project-bound, shown once.", no_args_is_help=True)


@token_app.command("create")
def token_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="What the token is for, e.g. 'ci-deploy'.")],
    scope: Annotated[
        list[str],
        typer.Option(help="admin, deploy, read, sdk-server, sdk-client or agent (repeatable)."),
    ],
    project: Annotated[str | None, typer.Option("--project", "-p")] = None,
    env: Annotated[str | None, typer.Option("--env", "-e")] = None,
) -> None:
    """Create a token. Its secret is printed once and never again."""
    s = state(ctx)
    body = {"name": name, "scopes": scope, "project": project, "environment": env}
    token = s.client().post("/api/v1/tokens", body)
    emit(
        token,
        as_json=s.as_json,
        columns=["id", "name", "scopes", "project", "environment", "token"],
    )
    if not s.as_json:
        say("Copy the token now: trimtab keeps only its hash.")


@token_app.command("list")
def token_list(
    ctx: typer.Context, project: Annotated[str | None, typer.Option("--project", "-p")] = None
) -> None:
    """List tokens (never their secrets)."""
    s = state(ctx)
    emit(
        s.client().get("/api/v1/tokens", project=project),
        as_json=s.as_json,
        columns=[
            "id",
            "name",
            "prefix",
            "scopes",
            "project",
            "environment",
            "created_by",
            "last_used_at",
            "revoked_at",
        ],
    )


@token_app.command("revoke")
def token_revoke(ctx: typer.Context, token_id: int) -> None:
    """Revoke a token: it is refused from the next request on."""
    s = state(ctx)
    emit(s.client().delete(f"/api/v1/tokens/{token_id}"), as_json=s.as_json)


def audit_command(
    ctx: typer.Context,
    project: Annotated[str | None, typer.Option("--project", "-p")] = None,
    action: Annotated[str | None, typer.Option(help="Only actions starting with this.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
) -> None:
    """Show the audit log, newest first."""
    s = state(ctx)
    entries = s.client().get("/api/v1/audit", project=project, action=action, limit=limit)
    emit(
        entries,
        as_json=s.as_json,
        columns=["at", "actor", "action", "target_type", "target_id", "environment", "reason"],
    )
