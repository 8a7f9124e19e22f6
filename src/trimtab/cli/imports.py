"""`trimtab import unleash|flagd|trimtab SOURCE` and `trimtab export`: flags in and out,
through the server's import and export API.

SOURCE is a file or an http(s) URL (an Unleash server's `/api/client/features`, with
`--source-token` sent as its Authorization header). The CLI only reads the document; the
server translates, validates and writes it in one transaction (or, with `--dry-run`, answers
what it would do) and lists what cannot be expressed.
"""

from __future__ import annotations

import json
import sys
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


ProjectOpt = Annotated[str, typer.Option("--project", "-p", help="Project slug.")]
EnvOpt = Annotated[str, typer.Option("--env", "-e", help="Environment to import into.")]
SourceEnvOpt = Annotated[
    str | None,
    typer.Option("--source-env", help="The environment to read from an export (default: -e)."),
]
DryRunOpt = Annotated[
    bool, typer.Option("--dry-run", help="Show what would change; import nothing.")
]


@import_app.command("unleash")
def import_unleash(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(help="File or URL of an Unleash document.")],
    project: ProjectOpt,
    env: EnvOpt,
    dry_run: DryRunOpt = False,
    source_env: SourceEnvOpt = None,
    source_token: Annotated[
        str | None, typer.Option("--source-token", help="Authorization header for a URL.")
    ] = None,
) -> None:
    """Import an Unleash features document, delta events or export into one environment."""
    document = read_source(source, source_token)
    _import(ctx, "unleash", document, project, env, dry_run, source_env)


@import_app.command("flagd")
def import_flagd(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(help="File or URL of a flagd flag definition.")],
    project: ProjectOpt,
    env: EnvOpt,
    dry_run: DryRunOpt = False,
) -> None:
    """Import a flagd flag definition document (JsonLogic targeting) into one environment."""
    _import(ctx, "flagd", read_source(source, None), project, env, dry_run, None)


@import_app.command("trimtab")
def import_trimtab(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(help="File written by `trimtab export`.")],
    project: ProjectOpt,
    env: EnvOpt,
    dry_run: DryRunOpt = False,
    source_env: SourceEnvOpt = None,
) -> None:
    """Import a trimtab export into one environment."""
    _import(ctx, "trimtab", read_source(source, None), project, env, dry_run, source_env)


def _import(
    ctx: typer.Context,
    kind: str,
    document: Any,
    project: str,
    env: str,
    dry_run: bool,
    source_env: str | None,
) -> None:
    s = state(ctx)
    body: dict[str, Any] = {"document": document, "dry_run": dry_run}
    if source_env:
        body["source_environment"] = source_env
    report = s.client().post(f"/api/v1/projects/{project}/environments/{env}/import/{kind}", body)
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


def export_command(
    ctx: typer.Context,
    project: ProjectOpt,
    env: Annotated[
        str | None, typer.Option("--env", "-e", help="Only this environment's configs.")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file, not stdout.")
    ] = None,
) -> None:
    """Write the project's flags and segments as trimtab JSON (read back by `import trimtab`)."""
    s = state(ctx)
    data = s.client().get(f"/api/v1/projects/{project}/export", env=env)
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text)
        say(f"wrote {len(data['flags'])} flag(s) to {output}")
