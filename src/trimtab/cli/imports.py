"""`trimtab import unleash SOURCE`: flags from Unleash, through the server's import API.

SOURCE is a file or an http(s) URL (an Unleash server's `/api/client/features`, with
`--source-token` sent as its Authorization header). The CLI only reads the document; the
server translates, validates and writes it in one transaction (or, with `--dry-run`, answers
what it would do) and lists what cannot be expressed.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Annotated, Any

import typer

from trimtab.cli.context import state
from trimtab.cli.errors import UsageError
from trimtab.cli.output import emit, say

MAX_DOCUMENT = 1024 * 1024  # the server's request body limit
import_app = typer.Typer(help="Import flags from another system.", no_args_is_help=True)


def read_source(source: str, token: str | None) -> Any:
    """The JSON document at a path or an http(s) URL, at most MAX_DOCUMENT bytes."""
    if source.startswith(("http://", "https://")):
        request = urllib.request.Request(source, headers={"Accept": "application/json"})
        if token:
            request.add_header("Authorization", token)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                data = response.read(MAX_DOCUMENT + 1)
        except OSError as exc:
            raise UsageError(f"{source}: cannot be read ({exc})") from exc
    else:
        path = Path(source)
        if not path.is_file():
            raise UsageError(f"{source}: no such file")
        with path.open("rb") as file:
            data = file.read(MAX_DOCUMENT + 1)
    if len(data) > MAX_DOCUMENT:
        raise UsageError(f"{source}: larger than {MAX_DOCUMENT // 1024} KiB")
    try:
        return json.loads(data)
    except ValueError as exc:
        raise UsageError(f"{source}: not valid JSON ({exc})") from exc


@import_app.command("unleash")
def import_unleash(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(help="File or URL of an Unleash document.")],
    project: Annotated[str, typer.Option("--project", "-p", help="Project slug.")],
    env: Annotated[str, typer.Option("--env", "-e", help="Environment to import into.")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would change; import nothing.")
    ] = False,
    source_env: Annotated[
        str | None,
        typer.Option("--source-env", help="The environment to read from a multi-env export."),
    ] = None,
    source_token: Annotated[
        str | None, typer.Option("--source-token", help="Authorization header for a URL.")
    ] = None,
) -> None:
    """Import an Unleash features document or export into one environment."""
    s = state(ctx)
    body: dict[str, Any] = {"document": read_source(source, source_token), "dry_run": dry_run}
    if source_env:
        body["source_environment"] = source_env
    report = s.client().post(f"/api/v1/projects/{project}/environments/{env}/import/unleash", body)
    if s.as_json:
        emit(report, as_json=True)
        return
    verb = "would" if dry_run else "did"
    for field, label in (("created", "create"), ("updated", "update"), ("segments", "write")):
        names = report[field]
        say(f"{verb} {label} {len(names)} {'segment' if field == 'segments' else 'flag'}(s)")
        for name in names:
            say(f"  {name}")
    problems = report["unsupported"]
    if problems:
        say(f"{len(problems)} thing(s) cannot be expressed exactly:")
        for problem in problems:
            where = ".".join(part for part in (problem["flag"], problem["path"]) if part)
            say(f"  {where}: {problem['message']}")
    if dry_run:
        say("dry run: nothing was imported")
