"""`trimtab dependency`: dependencies flags fall back on — create, list, show, status, set,
delete; and `trimtab flag guard` / `flag unguard`: guarded flags (auto-off rules)."""

from __future__ import annotations

import re
from typing import Annotated, Any

import typer

from trimtab.cli.context import state
from trimtab.cli.errors import UsageError
from trimtab.cli.output import emit, say

dependency_app = typer.Typer(
    help="Dependencies (billing-api, …): health, probes, and the flags bound to them.",
    no_args_is_help=True,
)

ProjectOpt = Annotated[str, typer.Option("--project", "-p", help="Project slug.")]
NameArg = Annotated[str, typer.Argument(help="Dependency name, e.g. billing-api.")]
COLUMNS = ["name", "state", "state_since", "state_reason", "probe_url", "interval_s", "flags"]
DURATION = re.compile(r"^(\d+)\s*(s|m|h|d)?$")
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> int:
    """ "90", "90s", "10m", "2h", "1d" -> seconds."""
    found = DURATION.match(text.strip().lower())
    if not found:
        raise UsageError(f"invalid duration {text!r}: use e.g. 30s, 10m, 2h")
    return int(found.group(1)) * UNITS[found.group(2) or "s"]


def _path(project: str, name: str | None = None) -> str:
    base = f"/api/v1/projects/{project}/dependencies"
    return f"{base}/{name}" if name else base


def _settings(
    probe_status: int | None,
    probe_timeout: float | None,
    interval: str | None,
    window: str | None,
    failure_rate: float | None,
    min_calls: int | None,
    max_errors: int | None,
    down_after: int | None,
    up_after: int | None,
) -> dict[str, Any]:
    values = {
        "probe_expected_status": probe_status,
        "probe_timeout_s": probe_timeout,
        "interval_s": parse_duration(interval) if interval else None,
        "window_s": parse_duration(window) if window else None,
        "failure_rate": failure_rate,
        "min_calls": min_calls,
        "max_errors": max_errors,
        "down_after": down_after,
        "up_after": up_after,
    }
    return {k: v for k, v in values.items() if v is not None}


ProbeUrl = Annotated[str | None, typer.Option("--probe-url", help="URL the server GETs.")]
ProbeStatus = Annotated[int | None, typer.Option("--probe-status", help="Expected status.")]
ProbeTimeout = Annotated[float | None, typer.Option("--probe-timeout", help="Seconds.")]
Interval = Annotated[str | None, typer.Option("--interval", help="Check every (10s, 1m).")]
Window = Annotated[str | None, typer.Option("--window", help="SDK report window (30s).")]
FailureRate = Annotated[float | None, typer.Option(help="SDK failure rate that is bad (0-1).")]
MinCalls = Annotated[int | None, typer.Option(help="Calls needed before the rate counts.")]
MaxErrors = Annotated[
    int | None, typer.Option(help="Error reports tagged with it in 5 min that are bad.")
]
DownAfter = Annotated[int | None, typer.Option(help="Bad checks in a row to go unhealthy.")]
UpAfter = Annotated[int | None, typer.Option(help="Good checks in a row to come back.")]


@dependency_app.command("create")
def dependency_create(
    ctx: typer.Context,
    name: NameArg,
    project: ProjectOpt,
    description: Annotated[str, typer.Option(help="What it is.")] = "",
    probe_url: ProbeUrl = None,
    probe_status: ProbeStatus = None,
    probe_timeout: ProbeTimeout = None,
    interval: Interval = None,
    window: Window = None,
    failure_rate: FailureRate = None,
    min_calls: MinCalls = None,
    max_errors: MaxErrors = None,
    down_after: DownAfter = None,
    up_after: UpAfter = None,
) -> None:
    """Define a dependency flags can be bound to (admin)."""
    s = state(ctx)
    body = {
        "name": name,
        "description": description,
        "probe_url": probe_url,
        **_settings(
            probe_status,
            probe_timeout,
            interval,
            window,
            failure_rate,
            min_calls,
            max_errors,
            down_after,
            up_after,
        ),
    }
    emit(s.client().post(_path(project), body), as_json=s.as_json, columns=COLUMNS)


@dependency_app.command("set")
def dependency_set(
    ctx: typer.Context,
    name: NameArg,
    project: ProjectOpt,
    description: Annotated[str | None, typer.Option(help="What it is.")] = None,
    probe_url: ProbeUrl = None,
    no_probe: Annotated[bool, typer.Option("--no-probe", help="Remove the probe.")] = False,
    probe_status: ProbeStatus = None,
    probe_timeout: ProbeTimeout = None,
    interval: Interval = None,
    window: Window = None,
    failure_rate: FailureRate = None,
    min_calls: MinCalls = None,
    max_errors: MaxErrors = None,
    down_after: DownAfter = None,
    up_after: UpAfter = None,
) -> None:
    """Change a dependency's probe or thresholds (admin)."""
    s = state(ctx)
    body = {
        "description": description,
        "probe_url": probe_url,
        "clear_probe": no_probe,
        **_settings(
            probe_status,
            probe_timeout,
            interval,
            window,
            failure_rate,
            min_calls,
            max_errors,
            down_after,
            up_after,
        ),
    }
    body = {k: v for k, v in body.items() if v is not None}
    result = s.client().request("PATCH", _path(project, name), json=body)
    emit(result, as_json=s.as_json, columns=COLUMNS)


@dependency_app.command("list")
def dependency_list(ctx: typer.Context, project: ProjectOpt) -> None:
    """Dependencies with their health and bound flags."""
    s = state(ctx)
    rows = s.client().get(_path(project))
    if not s.as_json:
        for row in rows:
            row["flags"] = ", ".join(row["flags"])
    emit(rows, as_json=s.as_json, columns=COLUMNS)


@dependency_app.command("show")
def dependency_show(ctx: typer.Context, name: NameArg, project: ProjectOpt) -> None:
    """Settings, last signals, bound flags and the history of transitions."""
    s = state(ctx)
    data = s.client().get(_path(project, name))
    if s.as_json:
        emit(data, as_json=True)
        return
    settings = {
        k: v for k, v in data.items() if k not in ("signals", "reports", "flags", "history")
    }
    emit(settings, as_json=False)
    _print_flags(data["flags"])
    say("\nhistory")
    emit(data["history"], as_json=False, columns=["at", "from", "to", "reason"])


@dependency_app.command("status")
def dependency_status(ctx: typer.Context, name: NameArg, project: ProjectOpt) -> None:
    """Is it healthy, why, and what its bound flags serve now."""
    s = state(ctx)
    data = s.client().get(_path(project, name))
    summary = {
        "name": data["name"],
        "state": data["state"],
        "since": data["state_since"],
        "reason": data["state_reason"],
        "last_checked_at": data["last_checked_at"],
        "signals": data["signals"],
        "sdk_reports": data["reports"],
        "flags": data["flags"],
    }
    if s.as_json:
        emit(summary, as_json=True)
        return
    say(
        f"{data['name']}: {data['state']} since {data['state_since']}"
        + (f" — {data['state_reason']}" if data["state_reason"] else ""),
    )
    _print_flags(data["flags"])


def _print_flags(flags: list[dict[str, Any]]) -> None:
    for item in flags:
        status = item.get("fallback_status")
        if item["serving"] == "fallback" and status:
            line = status["message"]
        elif item["serving"] == "off":
            line = "off"
        else:
            line = "serving its rules"
        say(f"  {item['flag']} ({item['environment']}): {line}")


@dependency_app.command("delete")
def dependency_delete(ctx: typer.Context, name: NameArg, project: ProjectOpt) -> None:
    """Delete a dependency (flags bound to it stop falling back on it)."""
    s = state(ctx)
    emit(s.client().delete(_path(project, name)), as_json=s.as_json)


GUARD_COLUMNS = ["flag", "environment", "active", "max_errors", "window_s", "compare"]


def flag_guard(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="Flag key.")],
    project: ProjectOpt,
    env: Annotated[str, typer.Option("--env", "-e", help="Environment name.")],
    max_errors: Annotated[
        int | None, typer.Option(help="Turn off at this many errors with it on in the window.")
    ] = None,
    window: Annotated[str, typer.Option(help="Window (10m, 1h).")] = "10m",
    compare: Annotated[
        bool, typer.Option(help="Also turn off when errors with it on clearly exceed off.")
    ] = True,
    min_errors: Annotated[int, typer.Option(help="Errors needed before comparing.")] = 10,
    min_ratio: Annotated[float, typer.Option(help="How many times the off rate.")] = 2.0,
) -> None:
    """Guard a flag: turn it off by itself when its errors spike."""
    s = state(ctx)
    body = {
        "environment": env,
        "max_errors": max_errors,
        "window_s": parse_duration(window),
        "compare": compare,
        "min_errors": min_errors,
        "min_ratio": min_ratio,
    }
    result = s.client().request("PUT", f"/api/v1/projects/{project}/flags/{key}/guard", json=body)
    emit(result, as_json=s.as_json, columns=GUARD_COLUMNS)


def flag_unguard(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="Flag key.")],
    project: ProjectOpt,
    env: Annotated[str, typer.Option("--env", "-e", help="Environment name.")],
) -> None:
    """Remove a flag's auto-off guard."""
    s = state(ctx)
    path = f"/api/v1/projects/{project}/flags/{key}/guard"
    emit(s.client().delete(path, environment=env), as_json=s.as_json)
