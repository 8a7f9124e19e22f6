"""`trimtab flag`: feature flags — create, list, show, on/off, set, rollout, kill, archive,
schedule, stale."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from trimtab.cli.context import state
from trimtab.cli.errors import UsageError
from trimtab.cli.output import emit, say, say_wrapped

flag_app = typer.Typer(
    help="Feature flags: kill switch, rollouts, rules, schedules.", no_args_is_help=True
)

ProjectOpt = Annotated[str, typer.Option("--project", "-p", help="Project slug.")]
EnvOpt = Annotated[str, typer.Option("--env", "-e", help="Environment name.")]
ReasonOpt = Annotated[str | None, typer.Option("--reason", "-r", help="Why (audit log).")]
MAX_JSON_ARG = 1024 * 1024
DETAIL_COLUMNS = ["key", "type", "description", "owner", "tags", "variants", "archived"]
ENV_COLUMNS = [
    "environment",
    "enabled",
    "rollout",
    "default_variant",
    "off_variant",
    "rules",
    "fallback",
    "serving_fallback",
    "fallback_status",
    "off_reason",
    "last_evaluated_at",
]


def _flag_path(project: str, key: str, env: str | None = None) -> str:
    path = f"/api/v1/projects/{project}/flags/{key}"
    return f"{path}/environments/{env}" if env else path


def _json_arg(value: str, what: str) -> Any:
    """A JSON option: inline text, or @path to read it from a file."""
    if value.startswith("@"):
        path = Path(value[1:])
        if not path.is_file() or path.stat().st_size > MAX_JSON_ARG:
            raise UsageError(f"{what}: {path} is not a readable file under 1 MiB")
        value = path.read_text()
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{what}: not valid JSON ({exc})") from exc


def _show(data: dict[str, Any], as_json: bool, env: str | None = None) -> None:
    if as_json:
        emit(data, as_json=True)
        return
    emit({k: data.get(k) for k in DETAIL_COLUMNS}, as_json=False)
    rows = [
        {"environment": name, **config}
        for name, config in data.get("environments", {}).items()
        if env is None or name == env
    ]
    for row in rows:
        row["rules"] = len(row.get("rules") or [])
    emit(rows, as_json=False, columns=ENV_COLUMNS)
    warnings = [w for w in data.get("warnings") or [] if env is None or w.startswith(f"{env}: ")]
    for warning in warnings:  # rules Unleash SDKs cannot evaluate like trimtab
        say_wrapped(f"warning: {warning}", indent="  ")


@flag_app.command("create")
def flag_create(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="Flag key: lowercase letters, digits, - _ .")],
    project: ProjectOpt,
    flag_type: Annotated[
        str, typer.Option("--type", "-t", help="boolean, string, number or json.")
    ] = "boolean",
    description: Annotated[str, typer.Option(help="What the flag is for.")] = "",
    owner: Annotated[str, typer.Option(help="Who owns it (team or person).")] = "",
    tag: Annotated[list[str] | None, typer.Option(help="A tag (repeatable).")] = None,
    variants: Annotated[
        str | None, typer.Option(help='Variants as JSON {"name": value} or @file.')
    ] = None,
    default: Annotated[str | None, typer.Option(help="Default variant (served when on).")] = None,
    off: Annotated[str | None, typer.Option(help="Off variant (served when off).")] = None,
) -> None:
    """Create a flag; it starts off in every environment."""
    s = state(ctx)
    body: dict[str, Any] = {
        "key": key,
        "type": flag_type,
        "description": description,
        "owner": owner,
        "tags": tag or [],
    }
    if variants is not None:
        body["variants"] = _json_arg(variants, "--variants")
    if default is not None:
        body["default_variant"] = default
    if off is not None:
        body["off_variant"] = off
    _show(s.client().post(f"/api/v1/projects/{project}/flags", body), s.as_json)


@flag_app.command("list")
def flag_list(
    ctx: typer.Context,
    project: ProjectOpt,
    tag: Annotated[str | None, typer.Option(help="Only flags with this tag.")] = None,
    archived: Annotated[bool, typer.Option(help="Include archived flags.")] = False,
) -> None:
    """List flags with their state in each environment."""
    s = state(ctx)
    data = s.client().get(f"/api/v1/projects/{project}/flags", tag=tag, archived=archived)
    if s.as_json:
        emit(data, as_json=True)
        return
    rows = []
    for flag in data:
        states = []
        for env, config in flag["environments"].items():
            state_text = "on" if config["enabled"] else "off"
            if config["enabled"] and config["rollout"] is not None:
                state_text += f" {config['rollout']:g}%"
            states.append(f"{env}: {state_text}")
        rows.append({**flag, "state": "\n".join(states)})
    emit(rows, as_json=False, columns=["key", "type", "owner", "tags", "state", "archived"])


@flag_app.command("show")
def flag_show(
    ctx: typer.Context,
    key: str,
    project: ProjectOpt,
    env: Annotated[str | None, typer.Option("--env", "-e", help="Only this environment.")] = None,
) -> None:
    """Show a flag: definition, each environment's config, last evaluation, fallback state."""
    s = state(ctx)
    _show(s.client().get(_flag_path(project, key)), s.as_json, env)


def _flip(ctx: typer.Context, key: str, project: str, env: str, action: str, body: Any) -> None:
    s = state(ctx)
    data = s.client().post(f"{_flag_path(project, key, env)}/{action}", body)
    _show(data, s.as_json, env)


@flag_app.command("on")
def flag_on(
    ctx: typer.Context, key: str, project: ProjectOpt, env: EnvOpt, reason: ReasonOpt = None
) -> None:
    """Turn a flag on in one environment (pushed to every SDK at once)."""
    _flip(ctx, key, project, env, "on", {"reason": reason})


@flag_app.command("off")
def flag_off(
    ctx: typer.Context, key: str, project: ProjectOpt, env: EnvOpt, reason: ReasonOpt = None
) -> None:
    """Turn a flag off in one environment."""
    _flip(ctx, key, project, env, "off", {"reason": reason})


@flag_app.command("kill")
def flag_kill(
    ctx: typer.Context,
    key: str,
    project: ProjectOpt,
    env: EnvOpt,
    reason: Annotated[str, typer.Option("--reason", "-r", help="Why (required).")],
) -> None:
    """Kill switch: off now, with a reason; pending schedules for it are cancelled."""
    if not reason.strip():
        raise UsageError("--reason must say why the flag is killed")
    _flip(ctx, key, project, env, "kill", {"reason": reason})


@flag_app.command("rollout")
def flag_rollout(
    ctx: typer.Context,
    key: str,
    percent: Annotated[float, typer.Argument(min=0, max=100, help="Percentage 0-100.")],
    project: ProjectOpt,
    env: EnvOpt,
    variant: Annotated[str | None, typer.Option(help="Variant to roll out (boolean: on).")] = None,
    rule: Annotated[str, typer.Option(help="Id of the rollout rule.")] = "rollout",
    stickiness: Annotated[
        str | None, typer.Option(help="Context attribute to bucket by (targetingKey).")
    ] = None,
    reason: ReasonOpt = None,
) -> None:
    """Set the percentage of users a flag is rolled out to (sticky per user)."""
    body = {
        "percentage": percent,
        "rule_id": rule,
        "variant": variant,
        "stickiness": stickiness,
        "reason": reason,
    }
    s = state(ctx)
    data = s.client().post(f"{_flag_path(project, key, env)}/rollout", body)
    _show(data, s.as_json, env)
    if not s.as_json and not data["environments"][env]["enabled"]:
        say(f"{key} is off in {env}: turn it on to start the rollout.")


@flag_app.command("set")
def flag_set(
    ctx: typer.Context,
    key: str,
    project: ProjectOpt,
    env: Annotated[
        str | None, typer.Option("--env", "-e", help="Environment (for config fields).")
    ] = None,
    rules: Annotated[str | None, typer.Option(help="Rules as a JSON list or @file.")] = None,
    default: Annotated[str | None, typer.Option(help="Default variant.")] = None,
    off: Annotated[str | None, typer.Option(help="Off variant.")] = None,
    fallback: Annotated[
        str | None,
        typer.Option(help='Fallback JSON {"variant", "dependencies": [...]}, or "null".'),
    ] = None,
    prerequisites: Annotated[
        str | None, typer.Option(help='Prerequisites JSON [{"flag", "variants"}].')
    ] = None,
    salt: Annotated[str | None, typer.Option(help="Bucketing salt (reshuffles users!).")] = None,
    variants: Annotated[str | None, typer.Option(help="Variants JSON (all envs).")] = None,
    description: Annotated[str | None, typer.Option(help="Description.")] = None,
    owner: Annotated[str | None, typer.Option(help="Owner.")] = None,
    tag: Annotated[list[str] | None, typer.Option(help="Replace tags (repeatable).")] = None,
    reason: ReasonOpt = None,
) -> None:
    """Change a flag: its definition (variants, description, owner, tags) and/or one
    environment's config (rules, default / off variant, fallback, prerequisites, salt)."""
    s = state(ctx)
    client = s.client()
    definition: dict[str, Any] = {}
    if variants is not None:
        definition["variants"] = _json_arg(variants, "--variants")
    if description is not None:
        definition["description"] = description
    if owner is not None:
        definition["owner"] = owner
    if tag is not None:
        definition["tags"] = tag
    config: dict[str, Any] = {}
    if rules is not None:
        config["rules"] = _json_arg(rules, "--rules")
    if default is not None:
        config["default_variant"] = default
    if off is not None:
        config["off_variant"] = off
    if fallback is not None:
        config["fallback"] = _json_arg(fallback, "--fallback")
    if prerequisites is not None:
        config["prerequisites"] = _json_arg(prerequisites, "--prerequisites")
    if salt is not None:
        config["salt"] = salt
    if not definition and not config:
        raise UsageError("nothing to change: give --rules, --default, --variants, …")
    if config and env is None:
        raise UsageError(
            "--env is needed for rules, variants served, fallback, prerequisites, salt"
        )
    data: Any = None
    if definition:
        data = client.request("PATCH", _flag_path(project, key), json=definition)
    if config:
        config["reason"] = reason
        data = client.request("PUT", _flag_path(project, key, env), json=config)
    _show(data, s.as_json, env)


@flag_app.command("archive")
def flag_archive(
    ctx: typer.Context,
    key: str,
    project: ProjectOpt,
    restore: Annotated[bool, typer.Option(help="Bring an archived flag back.")] = False,
) -> None:
    """Archive a flag (SDKs stop seeing it), or --restore it."""
    s = state(ctx)
    action = "restore" if restore else "archive"
    _show(s.client().post(f"{_flag_path(project, key)}/{action}", {}), s.as_json)


def _ramp_steps(text: str) -> list[dict[str, Any]]:
    steps = []
    for part in text.split(","):
        percentage, sep, at = part.strip().partition("@")
        if not sep:
            raise UsageError(f"--ramp step {part!r}: write PERCENT@TIME, e.g. 5@2026-05-01T09:00Z")
        try:
            steps.append({"percentage": float(percentage), "at": at.strip()})
        except ValueError as exc:
            raise UsageError(f"--ramp step {part!r}: {percentage!r} is not a number") from exc
    return steps


@flag_app.command("schedule")
def flag_schedule(
    ctx: typer.Context,
    key: str,
    project: ProjectOpt,
    env: Annotated[str | None, typer.Option("--env", "-e", help="Environment name.")] = None,
    on: Annotated[str | None, typer.Option("--on", help="Turn on at this ISO time.")] = None,
    off: Annotated[str | None, typer.Option("--off", help="Turn off at this ISO time.")] = None,
    rollout: Annotated[
        float | None, typer.Option(min=0, max=100, help="Set the rollout % (with --at).")
    ] = None,
    at: Annotated[str | None, typer.Option(help="When, for --rollout.")] = None,
    ramp: Annotated[
        str | None,
        typer.Option(help="Ramp steps: 5@2026-05-01T09:00Z,25@2026-05-03T09:00Z,100@…"),
    ] = None,
    rule: Annotated[str, typer.Option(help="Id of the rollout rule.")] = "rollout",
    cancel: Annotated[int | None, typer.Option(help="Cancel the schedule with this id.")] = None,
    reason: ReasonOpt = None,
) -> None:
    """Schedule a change (on / off / rollout at a time, or a ramp); no action lists them."""
    s = state(ctx)
    client = s.client()
    path = f"{_flag_path(project, key)}/schedules"
    columns = ["id", "environment", "kind", "at", "percentage", "steps", "status", "next_at"]
    if cancel is not None:
        emit(client.delete(f"{path}/{cancel}"), as_json=s.as_json, columns=columns)
        return
    chosen = [
        name
        for name, value in (("on", on), ("off", off), ("rollout", rollout), ("ramp", ramp))
        if value is not None
    ]
    if not chosen:
        emit(client.get(path), as_json=s.as_json, columns=columns)
        return
    if len(chosen) > 1:
        raise UsageError("give one of --on, --off, --rollout, --ramp")
    if env is None:
        raise UsageError("--env is needed to schedule a change")
    body: dict[str, Any] = {
        "environment": env,
        "kind": chosen[0],
        "rule_id": rule,
        "reason": reason,
    }
    if on is not None or off is not None:
        body["at"] = on or off
    elif rollout is not None:
        if at is None:
            raise UsageError("--rollout needs --at")
        body.update(percentage=rollout, at=at)
    else:
        body["steps"] = _ramp_steps(ramp or "")
    emit(client.post(path, body), as_json=s.as_json, columns=columns)


@flag_app.command("stale")
def flag_stale(
    ctx: typer.Context,
    project: ProjectOpt,
    days: Annotated[int, typer.Option(min=1, max=3650, help="Idle / fully-on days.")] = 30,
    env: Annotated[str | None, typer.Option("--env", "-e", help="Only this environment.")] = None,
) -> None:
    """Flags not evaluated for N days, or fully on for N days: candidates for removal."""
    s = state(ctx)
    data = s.client().get(f"/api/v1/projects/{project}/stale-flags", days=days, env=env)
    emit(
        data,
        as_json=s.as_json,
        columns=["key", "environment", "owner", "reasons", "enabled", "last_evaluated_at"],
    )
