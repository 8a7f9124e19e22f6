"""`trimtab init` (server → trimtab.toml), `trimtab apply` (trimtab.toml → server),
`trimtab window` (the stabilization window's length) and `trimtab dora`.

`apply` reads and checks the file here first (core.config_file), so a missing or broken file
is reported with its path and every problem before anything is sent. docs/trimtab-toml.md is
the reference of the format.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from trimtab.cli.context import state
from trimtab.cli.errors import CliError, UsageError
from trimtab.cli.output import duration, emit, percent, print_json, record, say
from trimtab.core.config_file import ConfigError, parse_config
from trimtab.core.windows import MAX_WINDOW_DAYS, MIN_WINDOW_DAYS

DEFAULT_FILE = Path("trimtab.toml")
MAX_FILE_BYTES = 256 * 1024  # what the server takes
REFERENCE = "the format is described in docs/trimtab-toml.md"

FileOption = Annotated[
    Path, typer.Option("--file", "-f", help="The config file (default: trimtab.toml here).")
]
ProjectOption = Annotated[str, typer.Option("--project", "-p", help="Project slug.")]


def read_config(file: Path) -> str:
    """The text of a trimtab.toml, checked; a CliError naming the file and every problem."""
    where = f"{file} ({file.absolute()})" if not file.is_absolute() else str(file)
    if not file.exists():
        raise CliError(
            f"no config file at {where}: write one from the server's state with "
            f"`trimtab init -p PROJECT`, or name another with --file ({REFERENCE})"
        )
    if file.is_dir():
        raise CliError(f"{where} is a directory; --file names the trimtab.toml to read")
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read {where}: {exc.strerror or exc}") from exc
    if len(data) > MAX_FILE_BYTES:
        raise CliError(f"{where} is {len(data)} bytes; a trimtab.toml is at most 256 KiB")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CliError(f"{where} is not UTF-8 text (byte {exc.start} cannot be read)") from exc
    try:
        parse_config(text)
    except ConfigError as exc:
        count = len(exc.problems)
        lines = "\n".join(f"  {problem}" for problem in exc.problems)
        raise CliError(
            f"{where} is not valid ({count} problem{'s' if count != 1 else ''}):\n{lines}\n"
            f"({REFERENCE})"
        ) from exc
    return text


def apply_command(
    ctx: typer.Context,
    file: FileOption = DEFAULT_FILE,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Apply without asking.")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only show what would change; change nothing.")
    ] = False,
) -> None:
    """Show what trimtab.toml changes on the server, then apply it (admin token).

    The file is the whole truth for what it declares: services and freezes it leaves out are
    removed, and so are dependencies and flag fallbacks when it has a [dependencies] table.
    """
    s = state(ctx)
    text = read_config(file)
    client = s.client()
    plan = client.post("/api/v1/config/diff", {"toml": text})
    if not plan["changes"] or dry_run:
        if s.as_json:
            emit(plan, as_json=True)
        elif not plan["changes"]:
            say("up to date: nothing to apply")
        else:
            for line in plan["changes"]:
                say(line)
            say(f"(dry run: {len(plan['changes'])} change(s) not applied)")
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


def init_command(
    ctx: typer.Context,
    project: ProjectOption,
    file: FileOption = DEFAULT_FILE,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite the file if it exists.")
    ] = False,
) -> None:
    """Write a commented trimtab.toml describing the project as the server has it: services,
    requirements, commands, health checks, window lengths, freezes, dependencies and the flags
    that fall back on them. `trimtab apply` then reads it back as no change."""
    s = state(ctx)
    if file.is_dir():
        raise UsageError(f"{file} is a directory; --file names the trimtab.toml to write")
    if file.exists() and not force:
        raise CliError(
            f"{file} already exists: pass --force to overwrite it, or --file to write another"
        )
    data = s.client().get(f"/api/v1/projects/{project}/config")
    _write(file, data["toml"])
    summary = {
        "file": str(file),
        "project": data["project"],
        "services": len(data["services"]),
        "freezes": len(data["freezes"]),
        "dependencies": len(data["dependencies"]),
    }
    if s.as_json:
        print_json(summary)
    else:
        say(
            f"wrote {file}: project {data['project']}, {summary['services']} service(s), "
            f"{summary['freezes']} freeze(s), {summary['dependencies']} dependency(ies); "
            "edit it, then `trimtab apply`"
        )


def _write(file: Path, text: str) -> None:
    # Next to the target, then renamed: an interrupted write never leaves half a file.
    partial = file.with_name(f".{file.name}.partial")
    try:
        partial.write_text(text, encoding="utf-8", newline="\n")
        os.replace(partial, file)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise CliError(f"cannot write {file}: {exc.strerror or exc}") from exc


window_app = typer.Typer(
    help="The stabilization window's length: after a deploy, how many days a new deploy of "
    "the same services is refused.",
    no_args_is_help=True,
)

EnvOption = Annotated[
    str | None,
    typer.Option("--env", "-e", help="One environment's own length (default: the project's)."),
]


def _show_lengths(data: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(data)
        return
    lengths = {"project (production)": _days(data["days"])}
    lengths.update({env: _days(days) for env, days in sorted(data["environments"].items())})
    record(lengths)


def _days(days: int) -> str:
    return f"{days} day{'s' if days != 1 else ''}"


@window_app.command("show")
def window_show(ctx: typer.Context, project: ProjectOption) -> None:
    """Show the window lengths: the project's, and each environment's own."""
    s = state(ctx)
    _show_lengths(s.client().get(f"/api/v1/projects/{project}/stabilization"), s.as_json)


@window_app.command("set")
def window_set(
    ctx: typer.Context,
    project: ProjectOption,
    days: Annotated[
        int,
        typer.Option(min=MIN_WINDOW_DAYS, max=MAX_WINDOW_DAYS, help="Length in days (1-14)."),
    ],
    env: EnvOption = None,
) -> None:
    """Set how many days a window lasts: the project's (production uses it unless it has its
    own), or with --env one environment's own, which makes that environment open windows too
    (admin token; audited)."""
    s = state(ctx)
    body = {"days": days, "environment": env}
    data = s.client().request("PUT", f"/api/v1/projects/{project}/stabilization", json=body)
    _show_lengths(data, s.as_json)


@window_app.command("unset")
def window_unset(
    ctx: typer.Context,
    project: ProjectOption,
    env: Annotated[str, typer.Option("--env", "-e", help="The environment.")],
) -> None:
    """Remove an environment's own length: production then uses the project's, any other
    environment opens no window (admin token; audited)."""
    s = state(ctx)
    body = {"days": None, "environment": env}
    data = s.client().request("PUT", f"/api/v1/projects/{project}/stabilization", json=body)
    _show_lengths(data, s.as_json)


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
