"""`trimtab alert`: webhook targets, the rules that feed them, and what was delivered."""

from __future__ import annotations

from typing import Annotated

import typer

from trimtab.cli.context import state
from trimtab.cli.errors import FAILED
from trimtab.cli.output import emit, say

alert_app = typer.Typer(
    help="Alerts: webhook targets (JSON or Slack), rules, the delivery log.",
    no_args_is_help=True,
)
rule_app = typer.Typer(help="Which notifications go to which target.", no_args_is_help=True)
target_app = typer.Typer(help="Webhook targets (admin scope).", no_args_is_help=True)
alert_app.add_typer(rule_app, name="rule")
alert_app.add_typer(target_app, name="target")

ProjectOpt = Annotated[str, typer.Option("--project", "-p", help="Project slug.")]
RULE_COLUMNS = [
    "id",
    "name",
    "kind",
    "environment",
    "target",
    "spike_count",
    "spike_minutes",
    "enabled",
]
TARGET_COLUMNS = ["id", "name", "format", "url", "signed", "created_by"]
DELIVERY_COLUMNS = [
    "id",
    "created_at",
    "target",
    "kind",
    "status",
    "attempts",
    "status_code",
    "error",
    "next_attempt_at",
    "title",
]


@target_app.command("create")
def target_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A name for the target, e.g. team-chat.")],
    project: ProjectOpt,
    url: Annotated[str, typer.Option(help="The webhook URL (http or https).")],
    format: Annotated[
        str, typer.Option("--format", help="json (generic) or slack (Slack-compatible).")
    ] = "json",
    secret: Annotated[
        str | None,
        typer.Option(help="Signing secret (16+ characters); generated if not given."),
    ] = None,
) -> None:
    """Create a webhook target; prints its signing secret once."""
    s = state(ctx)
    body = {"name": name, "url": url, "format": format, "secret": secret}
    target = s.client().post(f"/api/v1/projects/{project}/alerts/targets", body)
    emit(target, as_json=s.as_json)
    if not s.as_json:
        say(
            "\nDeliveries carry X-Trimtab-Signature: sha256=HMAC(secret, timestamp + '.' + body)."
            " Keep the secret: it is not shown again.",
        )


@target_app.command("list")
def target_list(ctx: typer.Context, project: ProjectOpt) -> None:
    """List a project's webhook targets."""
    s = state(ctx)
    data = s.client().get(f"/api/v1/projects/{project}/alerts/targets")
    emit(data, as_json=s.as_json, columns=TARGET_COLUMNS)


@target_app.command("delete")
def target_delete(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(help="Target name or id.")],
    project: ProjectOpt,
) -> None:
    """Delete a target, with its rules and its delivery log."""
    s = state(ctx)
    emit(
        s.client().delete(f"/api/v1/projects/{project}/alerts/targets/{target}"),
        as_json=s.as_json,
    )


@target_app.command("test")
def target_test(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(help="Target name or id.")],
    project: ProjectOpt,
) -> None:
    """Send a test message now and show what the target answered."""
    s = state(ctx)
    result = s.client().post(f"/api/v1/projects/{project}/alerts/targets/{target}/test")
    emit(result, as_json=s.as_json, columns=DELIVERY_COLUMNS)
    if result.get("status") != "delivered":
        raise typer.Exit(FAILED)


@rule_app.command("create")
def rule_create(
    ctx: typer.Context,
    project: ProjectOpt,
    kind: Annotated[
        str,
        typer.Option(
            help="issue.new, issue.regressed, issue.spike, release.verdict, flag.auto_off, "
            "flag.fallback, deploy.refused, deploy.failed, or a family: issue.*, flag.*, "
            "deploy.*, *"
        ),
    ],
    target: Annotated[str, typer.Option(help="Target name.")],
    name: Annotated[str | None, typer.Option(help="Rule name; derived if not given.")] = None,
    env: Annotated[
        str | None, typer.Option("--env", help="Only this environment.", show_default=False)
    ] = None,
    count: Annotated[
        int | None, typer.Option(help="Spike: at least N events of one issue…", min=1)
    ] = None,
    minutes: Annotated[int | None, typer.Option(help="…within M minutes.", min=1)] = None,
    cooldown: Annotated[
        int, typer.Option(help="Spike: minutes before the same issue alerts again.", min=0)
    ] = 60,
) -> None:
    """Send notifications of a kind to a target (spikes: --count N --minutes M)."""
    s = state(ctx)
    body = {
        "kind": kind,
        "target": target,
        "name": name,
        "environment": env,
        "count": count,
        "minutes": minutes,
        "cooldown_minutes": cooldown,
    }
    emit(s.client().post(f"/api/v1/projects/{project}/alerts/rules", body), as_json=s.as_json)


@rule_app.command("set")
def rule_set(
    ctx: typer.Context,
    rule: Annotated[str, typer.Argument(help="Rule name or id.")],
    project: ProjectOpt,
    kind: Annotated[str | None, typer.Option(help="A new kind (as for create).")] = None,
    target: Annotated[str | None, typer.Option(help="Send to this target instead.")] = None,
    env: Annotated[
        str | None, typer.Option("--env", help="Only this environment.", show_default=False)
    ] = None,
    all_envs: Annotated[
        bool, typer.Option("--all-envs", help="Every environment (drops --env's limit).")
    ] = False,
    count: Annotated[int | None, typer.Option(help="Spike: at least N events…", min=1)] = None,
    minutes: Annotated[int | None, typer.Option(help="…within M minutes.", min=1)] = None,
    cooldown: Annotated[
        int | None, typer.Option(help="Spike: minutes before the same issue alerts again.", min=0)
    ] = None,
    enabled: Annotated[
        bool | None, typer.Option("--enable/--disable", help="Turn the rule on or off.")
    ] = None,
) -> None:
    """Change a rule: only the options given change."""
    s = state(ctx)
    given = {
        "kind": kind,
        "target": target,
        "environment": env,
        "count": count,
        "minutes": minutes,
        "cooldown_minutes": cooldown,
        "enabled": enabled,
    }
    body: dict[str, object] = {k: v for k, v in given.items() if v is not None}
    if all_envs:
        body["every_environment"] = True
    path = f"/api/v1/projects/{project}/alerts/rules/{rule}"
    emit(s.client().request("PATCH", path, json=body), as_json=s.as_json)


@rule_app.command("list")
def rule_list(ctx: typer.Context, project: ProjectOpt) -> None:
    """List a project's alert rules."""
    s = state(ctx)
    data = s.client().get(f"/api/v1/projects/{project}/alerts/rules")
    emit(data, as_json=s.as_json, columns=RULE_COLUMNS)


@rule_app.command("delete")
def rule_delete(
    ctx: typer.Context,
    rule: Annotated[str, typer.Argument(help="Rule name or id.")],
    project: ProjectOpt,
) -> None:
    """Delete an alert rule (its past deliveries stay in the log)."""
    s = state(ctx)
    emit(s.client().delete(f"/api/v1/projects/{project}/alerts/rules/{rule}"), as_json=s.as_json)


@alert_app.command("deliveries")
def deliveries(
    ctx: typer.Context,
    project: ProjectOpt,
    status: Annotated[
        str | None, typer.Option(help="pending, delivered or failed.", show_default=False)
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.", min=1)] = 50,
) -> None:
    """The delivery log: status code, error, attempts and next retry of each webhook call."""
    s = state(ctx)
    data = s.client().get(
        f"/api/v1/projects/{project}/alerts/deliveries", status=status, limit=limit
    )
    emit(data, as_json=s.as_json, columns=DELIVERY_COLUMNS)
