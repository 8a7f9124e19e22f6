"""`trimtab release`: a named set of service versions, and its window's verdict."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from trimtab.cli.context import state
from trimtab.cli.errors import UsageError
from trimtab.cli.output import emit, say, say_wrapped

release_app = typer.Typer(help="Releases: service versions shipped together.", no_args_is_help=True)
ProjectOpt = Annotated[str, typer.Option("--project", "-p", help="Project slug.")]


@release_app.command("create")
def release_create(
    ctx: typer.Context,
    version: Annotated[str, typer.Argument(help="e.g. shop@2.3.0")],
    project: ProjectOpt,
    service: Annotated[
        list[str] | None, typer.Option(help="NAME=VERSION, e.g. billing-api=1.8.0 (repeatable).")
    ] = None,
) -> None:
    """Create a release naming the version of each service it ships."""
    s = state(ctx)
    versions: dict[str, str] = {}
    for item in service or []:
        name, sep, value = item.partition("=")
        if not sep or not name or not value:
            raise UsageError(f"--service takes NAME=VERSION, got {item!r}")
        versions[name.strip()] = value.strip()
    body = {"version": version, "services": versions}
    emit(s.client().post(f"/api/v1/projects/{project}/releases", body), as_json=s.as_json)


@release_app.command("list")
def release_list(ctx: typer.Context, project: ProjectOpt) -> None:
    """List releases, newest first."""
    s = state(ctx)
    emit(
        s.client().get(f"/api/v1/projects/{project}/releases"),
        as_json=s.as_json,
        columns=["version", "services", "commits", "created_by", "created_at", "finalized_at"],
    )


def _print_window(window: dict[str, Any]) -> None:
    state_text = "open" if window["open"] else "closed"
    say(
        f"\nStabilization window in {window['environment']}: {state_text}, "
        f"{window['opened_at'][:16]} → {window['ends_at'][:16]} UTC"
    )
    verdict = window.get("verdict")
    if not verdict:
        say("  verdict: not computed yet")
        return
    final = " (final)" if verdict.get("final") else ""
    say(f"  verdict: {verdict['status']}{final}")
    for reason in verdict.get("reasons", []):
        say_wrapped(reason, indent="   - ")


@release_app.command("show")
def release_show(ctx: typer.Context, version: str, project: ProjectOpt) -> None:
    """Show a release: services, where it was deployed, its window and verdict."""
    s = state(ctx)
    detail = s.client().get(f"/api/v1/projects/{project}/releases/{version}")
    if s.as_json:
        emit(detail, as_json=True)
        return
    summary = {k: detail[k] for k in ("version", "services", "created_by", "created_at")}
    summary["commits"] = len(detail["commits"])
    emit(summary, as_json=False)
    if detail["deploys"]:
        emit(
            detail["deploys"],
            as_json=False,
            columns=["environment", "service", "version", "result", "actor", "finished_at"],
            title="Deploys",
        )
    for window in detail["windows"]:
        _print_window(window)
