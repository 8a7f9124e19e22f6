"""The `trimtab` Typer app, assembled from one module per noun — only the modules a command
line needs.

A CLI call spends most of its time importing Python modules, so `build` registers just the
command the command line names (`trimtab status …` imports deploys.py, never the server or the
flag commands); `--help`, no command or an unknown one get every command. `NOUNS` is the one
list of top-level commands, in the order help shows them.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Annotated, Any

import typer
import typer.main

import trimtab
from trimtab.cli.context import state
from trimtab.cli.errors import OK, CliError
from trimtab.cli.output import say

Entry = tuple[str, Any]  # (name, a Typer group or a command function)


def _projects() -> list[Entry]:
    from trimtab.cli import projects

    return [("project", projects.project_app), ("env", projects.env_app), ("key", projects.key_app)]


def _tokens() -> list[Entry]:
    from trimtab.cli import tokens

    return [("token", tokens.token_app), ("audit", tokens.audit_command)]


def _flags() -> list[Entry]:
    from trimtab.cli import dependencies, flags

    # Guards live with dependencies (both turn flags off by themselves) but read as flag verbs.
    flags.flag_app.command("guard")(dependencies.flag_guard)
    flags.flag_app.command("unguard")(dependencies.flag_unguard)
    return [("flag", flags.flag_app)]


def _dependencies() -> list[Entry]:
    from trimtab.cli import dependencies

    return [("dependency", dependencies.dependency_app)]


def _services() -> list[Entry]:
    from trimtab.cli import services

    return [("service", services.service_app)]


def _releases() -> list[Entry]:
    from trimtab.cli import releases

    return [("release", releases.release_app)]


def _deploys() -> list[Entry]:
    from trimtab.cli import deploys

    return [
        ("deploy", deploys.deploy_app),
        ("rollback", deploys.rollback_command),
        ("status", deploys.status_command),
        ("history", deploys.history_command),
    ]


def _maintenance() -> list[Entry]:
    from trimtab.cli import maintenance

    return [("maintenance", maintenance.maintenance_app), ("freeze", maintenance.freeze_app)]


def _config() -> list[Entry]:
    from trimtab.cli import config

    return [
        ("init", config.init_command),
        ("apply", config.apply_command),
        ("window", config.window_app),
        ("dora", config.dora_command),
    ]


def _issues() -> list[Entry]:
    from trimtab.cli import issues

    return [("issues", issues.issues_app), ("events", issues.events_app)]


def _health() -> list[Entry]:
    from trimtab.cli import health

    return [("health", health.health_command)]


def _sourcemaps() -> list[Entry]:
    from trimtab.cli import sourcemaps

    return [("sourcemaps", sourcemaps.sourcemaps_app)]


def _alerts() -> list[Entry]:
    from trimtab.cli import alerts

    return [("alert", alerts.alert_app)]


def _imports() -> list[Entry]:
    from trimtab.cli import imports

    return [("import", imports.import_app), ("export", imports.export_command)]


def _agents() -> list[Entry]:
    from trimtab.cli import agents

    return [("agent", agents.agent_app)]


def _server() -> list[Entry]:
    from trimtab.cli import server_cmds

    return [
        ("serve", server_cmds.serve),
        ("db", server_cmds.db_app),
        ("demo", server_cmds.demo_app),
    ]


Loader = Callable[[], list[Entry]]
NOUNS: dict[str, Loader] = {
    "project": _projects,
    "env": _projects,
    "key": _projects,
    "token": _tokens,
    "audit": _tokens,
    "service": _services,
    "release": _releases,
    "sourcemaps": _sourcemaps,
    "deploy": _deploys,
    "rollback": _deploys,
    "status": _deploys,
    "history": _deploys,
    "agent": _agents,
    "freeze": _maintenance,
    "maintenance": _maintenance,
    "init": _config,
    "apply": _config,
    "window": _config,
    "dora": _config,
    "flag": _flags,
    "import": _imports,
    "export": _imports,
    "dependency": _dependencies,
    "issues": _issues,
    "events": _issues,
    "health": _health,
    "alert": _alerts,
    "serve": _server,
    "db": _server,
    "demo": _server,
}
# Root options that take a value: skipped when looking for the command's name.
_VALUE_OPTIONS = ("--url", "--token")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"trimtab {trimtab.__version__}")
        raise typer.Exit


def root(
    ctx: typer.Context,
    url: Annotated[
        str | None,
        typer.Option(help="Server URL; default TRIMTAB_URL, else http://127.0.0.1:8000."),
    ] = None,
    token: Annotated[str | None, typer.Option(help="API token; default TRIMTAB_TOKEN.")] = None,
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


def command_name(argv: Sequence[str]) -> str | None:
    """The top-level command a command line names (`trimtab --json status -p shop` → status)."""
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in _VALUE_OPTIONS:
            skip = True
        elif not arg.startswith("-"):
            return arg
    return None


def build(argv: Sequence[str] | None = None) -> typer.Typer:
    """The app with the command `argv` names, or with every command when `argv` is None or
    names none that exists."""
    app = typer.Typer(
        name="trimtab",
        help="trimtab: keep a release safe — deploys, rollback, feature toggles, error reports.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=True,
    )
    app.callback()(root)
    name = command_name(argv) if argv is not None else None
    loaders = [NOUNS[name]] if name in NOUNS else list(dict.fromkeys(NOUNS.values()))
    for loader in loaders:
        for entry_name, entry in loader():
            if name in NOUNS and entry_name != name:
                continue  # its module-mates (`deploy` beside `status`) are not needed either
            if isinstance(entry, typer.Typer):
                app.add_typer(entry, name=entry_name)
            else:
                app.command(entry_name)(entry)
    return app


def readable_metavars(command: Any) -> Any:
    """Name every value in help after what it is (`--project PROJECT`, `RELEASE`) instead of
    Typer's type placeholders (`<str>`, `<bool>`); flags show no value at all."""
    for param in command.params:
        if param.param_type_name == "argument":
            # The name says what it is; Typer would add its type (`<str>`) in a column of its
            # own. A copy of the type: click shares one STRING type among all parameters.
            param.type = copy.copy(param.type)
            param.type.get_metavar = _no_metavar
        if param.metavar is not None:
            continue
        if getattr(param, "is_flag", False) or getattr(param, "count", False):
            param.metavar = ""
        else:
            param.metavar = (param.name or "value").upper()
    help_option = command.get_help_option

    def plain_help_option(ctx: Any) -> Any:
        option = help_option(ctx)
        if option is not None:
            option.metavar = ""
        return option

    command.get_help_option = plain_help_option
    for sub in getattr(command, "commands", {}).values():
        readable_metavars(sub)
    return command


def _no_metavar(param: Any, ctx: Any) -> str:
    return ""


def click_command(argv: Sequence[str] | None = None) -> Any:
    """The click command behind the app `build(argv)` makes, as `trimtab` runs it."""
    return readable_metavars(typer.main.get_command(build(argv)))


def run(argv: Sequence[str]) -> int:
    """Run one command line; our own failures end as one line on stderr and their exit code
    (cli/errors.py), Typer's usage errors as Typer reports them (exit 2)."""
    try:
        click_command(argv).main(args=list(argv), prog_name="trimtab")
    except CliError as exc:
        say(f"trimtab: {exc}", err=True)
        return exc.exit_code
    return OK
