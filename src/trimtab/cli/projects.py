"""`trimtab project`, `trimtab env` and `trimtab key`: tenancy and DSN keys."""

from __future__ import annotations

from typing import Annotated

import typer

from trimtab.cli.context import state
from trimtab.cli.errors import CliError, UsageError
from trimtab.cli.output import emit, say

project_app = typer.Typer(
    help="Projects: create and list them, change their settings, show their DSN.",
    no_args_is_help=True,
)
env_app = typer.Typer(help="Environments of a project.", no_args_is_help=True)
key_app = typer.Typer(
    help="DSN keys that Sentry SDKs send error reports with.", no_args_is_help=True
)

ProjectOpt = Annotated[str, typer.Option("--project", "-p", help="Project slug.")]


@project_app.command("create")
def project_create(
    ctx: typer.Context,
    slug: Annotated[str, typer.Argument(help="Project slug: lowercase letters, digits, - _ .")],
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
    env: Annotated[
        list[str] | None, typer.Option("--env", help="Environment to create (repeatable).")
    ] = None,
) -> None:
    """Create a project (with development, staging and production unless --env is given)."""
    s = state(ctx)
    body: dict[str, object] = {"slug": slug, "name": name}
    if env:
        body["environments"] = env
    project = s.client().post("/api/v1/projects", body)
    emit(project, as_json=s.as_json, columns=["slug", "name", "environments", "dsn"])
    if not s.as_json and project.get("dsn"):
        say(f"\nPoint your Sentry SDK at: {project['dsn']}")


@project_app.command("list")
def project_list(ctx: typer.Context) -> None:
    """List the projects this token reaches."""
    s = state(ctx)
    emit(
        s.client().get("/api/v1/projects"),
        as_json=s.as_json,
        columns=["slug", "name", "environments", "created_at"],
    )


@project_app.command("set")
def project_set(
    ctx: typer.Context,
    slug: str,
    unleash_strict: Annotated[
        bool | None,
        typer.Option(
            "--unleash-strict/--no-unleash-strict",
            help="Refuse flags Unleash SDKs cannot be served identically (422 naming the rule).",
        ),
    ] = None,
) -> None:
    """Change a project's settings."""
    s = state(ctx)
    if unleash_strict is None:
        raise UsageError("nothing to change: give --unleash-strict or --no-unleash-strict")
    body = {"unleash_strict": unleash_strict}
    project = s.client().request("PATCH", f"/api/v1/projects/{slug}", json=body)
    emit(project, as_json=s.as_json, columns=["slug", "name", "environments", "unleash_strict"])


@project_app.command("dsn")
def project_dsn(ctx: typer.Context, slug: str) -> None:
    """Print the project's DSN (its first active key)."""
    s = state(ctx)
    project = s.client().get(f"/api/v1/projects/{slug}")
    if s.as_json:
        emit({"project": slug, "dsn": project.get("dsn")}, as_json=True)
    elif project.get("dsn"):
        typer.echo(project["dsn"])
    else:
        raise CliError(f"project {slug!r} has no active key: trimtab key create -p {slug}")


@project_app.command("usage")
def project_usage(
    ctx: typer.Context,
    slug: str,
    days: Annotated[int, typer.Option(min=1, max=400, help="Days to sum, today included.")] = 30,
) -> None:
    """What the project's SDKs sent that trimtab did not store (transactions, spans, replays…,
    per data category and outcome), and the log lines it stored."""
    s = state(ctx)
    emit(
        s.client().get(f"/api/v1/projects/{slug}/usage", days=days),
        as_json=s.as_json,
        columns=["category", "outcome", "count", "first_day", "last_day"],
    )


@env_app.command("create")
def env_create(ctx: typer.Context, name: str, project: ProjectOpt) -> None:
    """Add an environment to a project."""
    s = state(ctx)
    emit(
        s.client().post(f"/api/v1/projects/{project}/environments", {"name": name}),
        as_json=s.as_json,
    )


@env_app.command("list")
def env_list(ctx: typer.Context, project: ProjectOpt) -> None:
    """List a project's environments."""
    s = state(ctx)
    emit(s.client().get(f"/api/v1/projects/{project}/environments"), as_json=s.as_json)


@env_app.command("runner")
def env_runner(
    ctx: typer.Context,
    name: str,
    runner: Annotated[str, typer.Argument(help="local (the server runs steps) or agent.")],
    project: ProjectOpt,
) -> None:
    """Choose who runs an environment's deploy steps: the server or `trimtab agent`."""
    s = state(ctx)
    path = f"/api/v1/projects/{project}/environments/{name}/runner"
    emit(s.client().request("PUT", path, json={"runner": runner}), as_json=s.as_json)


@key_app.command("create")
def key_create(
    ctx: typer.Context,
    project: ProjectOpt,
    name: Annotated[str, typer.Option(help="A name to tell keys apart.")] = "default",
    rate_limit: Annotated[
        int | None, typer.Option(help="Events per minute this key may send.")
    ] = None,
) -> None:
    """Create a DSN key; prints the DSN."""
    s = state(ctx)
    body = {"name": name, "rate_limit_per_minute": rate_limit}
    emit(s.client().post(f"/api/v1/projects/{project}/keys", body), as_json=s.as_json)


@key_app.command("list")
def key_list(ctx: typer.Context, project: ProjectOpt) -> None:
    """List a project's DSN keys."""
    s = state(ctx)
    emit(
        s.client().get(f"/api/v1/projects/{project}/keys"),
        as_json=s.as_json,
        columns=["name", "public_key", "dsn", "revoked_at"],
    )


@key_app.command("revoke")
def key_revoke(ctx: typer.Context, public_key: str, project: ProjectOpt) -> None:
    """Revoke a DSN key: events sent with it are refused from now on."""
    s = state(ctx)
    emit(s.client().delete(f"/api/v1/projects/{project}/keys/{public_key}"), as_json=s.as_json)
