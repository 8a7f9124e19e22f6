"""`trimtab maintenance` and `trimtab freeze`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer

from trimtab.cli.context import state
from trimtab.cli.errors import UsageError
from trimtab.cli.output import emit, say, say_wrapped

maintenance_app = typer.Typer(
    help="The notice users see while a service is down.", no_args_is_help=True
)
freeze_app = typer.Typer(help="Calendar freezes: periods without deploys.", no_args_is_help=True)
ProjectOpt = Annotated[str, typer.Option("--project", "-p", help="Project slug.")]
EnvOpt = Annotated[str, typer.Option("--env", "-e", help="Environment.")]
Message = Annotated[str | None, typer.Option(help="What users read.")]
Until = Annotated[
    str | None,
    typer.Option("--until", help="Expected end, ISO 8601, e.g. 2026-11-27T15:00+09:00."),
]


def _moment(text: str | None, option: str) -> str | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise UsageError(f"{option}: {text!r} is not an ISO 8601 date and time") from exc
    if value.tzinfo is None:
        value = value.astimezone()  # the user's local time, as they typed it
    return value.isoformat()


def _show(state_: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit(state_, as_json=True)
        return
    if state_["active"]:
        end = state_.get("expected_end") or "unknown"
        say(f"maintenance ON: {state_['message']} (until {end})")
    else:
        say("maintenance off")
    for notice in state_.get("scheduled", []):
        say(
            f"scheduled #{notice['id']}: {notice['starts_at']} → {notice['expected_end']}: "
            f"{notice['message']}",
        )


@maintenance_app.command("on")
def maintenance_on(
    ctx: typer.Context,
    project: ProjectOpt,
    env: EnvOpt,
    message: Message = None,
    until: Until = None,
) -> None:
    """Show the maintenance notice now."""
    s = state(ctx)
    body = {"message": message, "expected_end": _moment(until, "--until")}
    _show(s.client().post(f"/api/v1/projects/{project}/maintenance/{env}", body), s.as_json)


@maintenance_app.command("schedule")
def maintenance_schedule(
    ctx: typer.Context,
    project: ProjectOpt,
    env: EnvOpt,
    start: Annotated[str, typer.Option("--start", help="When it starts, ISO 8601.")],
    message: Message = None,
    until: Until = None,
) -> None:
    """Announce maintenance ahead: the JSON shows it before it starts."""
    s = state(ctx)
    body = {
        "message": message,
        "starts_at": _moment(start, "--start"),
        "expected_end": _moment(until, "--until"),
    }
    _show(s.client().post(f"/api/v1/projects/{project}/maintenance/{env}", body), s.as_json)


@maintenance_app.command("off")
def maintenance_off(
    ctx: typer.Context,
    project: ProjectOpt,
    env: EnvOpt,
    notice_id: Annotated[int | None, typer.Option("--id", help="End/cancel this notice.")] = None,
) -> None:
    """End the active notice (or cancel a scheduled one with --id)."""
    s = state(ctx)
    path = f"/api/v1/projects/{project}/maintenance/{env}"
    _show(s.client().delete(path, id=notice_id), s.as_json)


@maintenance_app.command("status")
def maintenance_status(ctx: typer.Context, project: ProjectOpt, env: EnvOpt) -> None:
    """Whether the notice is on, and what is scheduled."""
    s = state(ctx)
    _show(s.client().get(f"/api/v1/projects/{project}/maintenance/{env}"), s.as_json)


@freeze_app.command("status")
def freeze_status(
    ctx: typer.Context,
    project: ProjectOpt,
    env: Annotated[str | None, typer.Option("--env", "-e")] = None,
) -> None:
    """Freezes, open stabilization windows, and whether a deploy may go now."""
    s = state(ctx)
    found = s.client().get(f"/api/v1/projects/{project}/freezes", environment=env)
    if s.as_json:
        emit(found, as_json=True)
        return
    allowed = "yes" if found["deploy_allowed"] else "no"
    say(f"deploy to {found['environment']} allowed now: {allowed}")
    for refusal in found["refusals"]:
        say_wrapped(refusal, indent="  ")
    emit(
        found["freezes"],
        as_json=False,
        columns=["name", "reason", "cron", "duration", "start", "end", "active", "next_start"],
        title="Freezes",
    )
    emit(
        found["windows"],
        as_json=False,
        columns=["release", "environment", "opened_at", "ends_at", "verdict_status"],
        title="Stabilization windows",
    )


@freeze_app.command("add")
def freeze_add(
    ctx: typer.Context,
    name: str,
    project: ProjectOpt,
    cron: Annotated[
        str | None, typer.Option(help="Start as cron ('0 18 * * 5') or 'weekends', 'nights'…")
    ] = None,
    duration: Annotated[str | None, typer.Option(help="With --cron, e.g. 62h.")] = None,
    start: Annotated[str | None, typer.Option(help="One-off start, ISO 8601.")] = None,
    end: Annotated[str | None, typer.Option(help="One-off end, ISO 8601.")] = None,
    timezone: Annotated[str, typer.Option(help="IANA zone for cron and dates.")] = "UTC",
    reason: Annotated[str, typer.Option(help="Shown in refusals.")] = "",
    env: Annotated[list[str] | None, typer.Option("--env", "-e", help="Only these.")] = None,
) -> None:
    """Add a freeze: recurring (--cron, --duration) or one-off (--start, --end)."""
    s = state(ctx)
    body = {
        "name": name,
        "reason": reason,
        "cron": cron,
        "duration": duration,
        "start": _moment(start, "--start"),
        "end": _moment(end, "--end"),
        "timezone": timezone,
        "environments": env or [],
    }
    emit(s.client().post(f"/api/v1/projects/{project}/freezes", body), as_json=s.as_json)


@freeze_app.command("remove")
def freeze_remove(ctx: typer.Context, name: str, project: ProjectOpt) -> None:
    """Remove a freeze."""
    s = state(ctx)
    emit(s.client().delete(f"/api/v1/projects/{project}/freezes/{name}"), as_json=s.as_json)
