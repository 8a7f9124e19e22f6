"""`trimtab sourcemaps`: the source map bundles sentry-cli uploaded."""

from __future__ import annotations

from typing import Annotated

import typer

from trimtab.cli.context import state
from trimtab.cli.output import emit

sourcemaps_app = typer.Typer(
    help="Source maps uploaded by sentry-cli (artifact bundles).", no_args_is_help=True
)


@sourcemaps_app.command("list")
def sourcemaps_list(
    ctx: typer.Context,
    project: Annotated[str, typer.Option("--project", "-p", help="Project slug.")],
    release: Annotated[
        str | None, typer.Option("--release", "-r", help="Only this release's bundles.")
    ] = None,
) -> None:
    """List artifact bundles, newest first: release, dist, debug IDs, files, size."""
    s = state(ctx)
    params = {"release": release} if release is not None else {}
    emit(
        s.client().get(f"/api/v1/projects/{project}/sourcemaps", **params),
        as_json=s.as_json,
        columns=["id", "release", "dist", "debug_ids", "file_count", "size", "created_at"],
    )
