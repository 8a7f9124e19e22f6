"""`trimtab deploy`, `trimtab rollback`, `trimtab status`, `trimtab history`.

`deploy start` and `rollback` return from the server at once with a run id; the CLI then follows
the run by polling its status, drawing one progress bar per step and printing new output lines,
and exits non-zero if the run fails.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer

from trimtab.cli.client import ApiClient
from trimtab.cli.context import state
from trimtab.cli.errors import FAILED, REFUSED
from trimtab.cli.output import emit, print_json, progress_console, say, say_wrapped

deploy_app = typer.Typer(help="Deploy a release in dependency order.", no_args_is_help=True)
ProjectOpt = Annotated[str, typer.Option("--project", "-p", help="Project slug.")]
EnvOpt = Annotated[str, typer.Option("--env", "-e", help="Environment.")]
POLL_S = 0.3
FINISHED = ("success", "failed")
STEP_DONE = ("success", "failed", "skipped", "cancelled")


def _step_label(step: dict[str, Any]) -> str:
    kind = "rollback " if step.get("rollback_of") else ""
    return f"wave {step['wave'] + 1}  {kind}{step['service']} {step['version']}  [{step['result']}]"


def _numbered(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A run's steps with waves counted from 1, as `deploy plan` counts them; the run's JSON
    keeps the server's 0-based index."""
    return [{**step, "wave": step["wave"] + 1} for step in steps]


def waves_text(waves: list[list[str]]) -> str:
    return "; ".join(f"wave {n}: {', '.join(services)}" for n, services in enumerate(waves, 1))


def follow(client: ApiClient, project: str, run_id: int, *, as_json: bool) -> dict[str, Any]:
    """Poll the run until it ends; show progress and live output unless printing JSON."""
    path = f"/api/v1/projects/{project}/runs/{run_id}"
    if as_json:
        while (run := client.get(path))["state"] not in FINISHED:
            time.sleep(POLL_S)
        return dict(run)
    # Rich only here: the one command that draws live progress pays for importing it.
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    printed: dict[int, str] = {}
    hinted: set[int] = set()
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=progress_console(), transient=False) as progress:
        tasks: dict[int, Any] = {}
        while True:
            run = client.get(path)
            for step in run["steps"]:
                sid = step["id"]
                if sid not in tasks:
                    tasks[sid] = progress.add_task(_step_label(step), total=1)
                done = step["result"] in STEP_DONE
                progress.update(tasks[sid], description=_step_label(step), completed=int(done))
                text = step.get("output_tail") or ""
                old = printed.get(sid, "")
                new = text[len(old) :] if text.startswith(old) else text
                for line in new.splitlines():
                    progress.console.print(f"  {step['service']} | {line}")
                printed[sid] = text
                if step.get("waiting") and sid not in hinted:
                    hinted.add(sid)  # a step waits for an agent, then runs: one hint is enough
                    progress.console.print(f"  {step['service']}: {step['waiting']}")
                if step["result"] == "waiting_confirm" and sid not in hinted:
                    hinted.add(sid)
                    progress.console.print(
                        f"  {step['service']} is deployed by hand: when it is done, run\n"
                        f"    trimtab deploy confirm {run_id} --service {step['service']} "
                        f"--project {project}"
                    )
            if run["state"] in FINISHED:
                return dict(run)
            time.sleep(POLL_S)


def _finish(client: ApiClient, project: str, run: dict[str, Any], as_json: bool) -> None:
    """Report the end of a run; exit non-zero if it failed, naming the way back."""
    if as_json:
        print_json(run)
    if run["state"] == "success":
        if not as_json:
            say(f"run #{run['id']} succeeded")
        return
    if not as_json:
        say(f"run #{run['id']} failed: {run['error']}")
    undo = run.get("rollback_run_id")
    if undo:
        if not as_json:
            say(f"rolling back the finished steps: run #{undo}")
        follow(client, project, undo, as_json=as_json)
    elif run["kind"] == "release" and any(s["result"] == "success" for s in run["steps"]):
        say(
            "To roll back the finished steps:\n"
            f"  trimtab rollback --release {run['release']} --project {project} "
            f"--env {run['environment']}",
        )
    raise typer.Exit(FAILED)


@deploy_app.command("plan")
def deploy_plan(ctx: typer.Context, release: str, project: ProjectOpt, env: EnvOpt) -> None:
    """Show the waves a deploy of RELEASE would run, and whether it may go now."""
    s = state(ctx)
    plan = s.client().get(f"/api/v1/projects/{project}/releases/{release}/plan", environment=env)
    if s.as_json:
        print_json(plan)
    else:
        _print_plan(plan)
    if plan["refusals"]:
        raise typer.Exit(REFUSED)


def _print_plan(plan: dict[str, Any]) -> None:
    say(f"{plan['release']} → {plan['environment']}")
    for index, wave in enumerate(plan["waves"], 1):
        say(f"wave {index}: {', '.join(wave)}")
    emit(
        plan["steps"],  # the plan's waves already count from 1
        as_json=False,
        columns=["wave", "service", "version", "command", "manual", "downtime", "health_url"],
    )
    for refusal in plan["refusals"]:
        say_wrapped(refusal)


@deploy_app.command("start")
def deploy_start(
    ctx: typer.Context,
    release: str,
    project: ProjectOpt,
    env: EnvOpt,
    override: Annotated[
        bool, typer.Option(help="Deploy inside a stabilization window or freeze.")
    ] = False,
    reason: Annotated[str | None, typer.Option(help="Why (required with --override).")] = None,
    rollback_on_failure: Annotated[
        bool,
        typer.Option("--rollback-on-failure", help="Roll finished steps back if a step fails."),
    ] = False,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", hidden=True, help="Old name of --rollback-on-failure.")
    ] = False,
    follow_run: Annotated[
        bool, typer.Option("--follow/--no-follow", help="Follow progress until the end.")
    ] = True,
) -> None:
    """Deploy RELEASE wave by wave; stops at the first failed step."""
    s = state(ctx)
    client = s.client()
    body = {
        "release": release,
        "environment": env,
        "override": override,
        "reason": reason,
        "auto_rollback": rollback_on_failure or yes,
    }
    run = client.post(f"/api/v1/projects/{project}/runs", body)
    if not follow_run:
        emit(run if s.as_json else {"run": run["id"], "state": run["state"]}, as_json=s.as_json)
        return
    if not s.as_json:
        note = " (override: " + str(reason) + ")" if run["overridden"] else ""
        say(f"run #{run['id']}: {release} → {env}{note}")
    _finish(client, project, follow(client, project, run["id"], as_json=s.as_json), s.as_json)


@deploy_app.command("status")
def deploy_status(
    ctx: typer.Context,
    project: ProjectOpt,
    run_id: Annotated[int | None, typer.Argument(help="A run id; default: recent runs.")] = None,
    env: Annotated[str | None, typer.Option("--env", "-e")] = None,
) -> None:
    """Show a deploy run with its steps, or the recent runs."""
    s = state(ctx)
    client = s.client()
    if run_id is None:
        runs = client.get(f"/api/v1/projects/{project}/runs", environment=env)
        emit(
            runs,
            as_json=s.as_json,
            columns=["id", "kind", "release", "environment", "state", "actor", "created_at"],
        )
        return
    run = client.get(f"/api/v1/projects/{project}/runs/{run_id}")
    if s.as_json:
        print_json(run)
        return
    say(f"run #{run['id']} {run['kind']} {run['release'] or ''} → {run['environment']}")
    say(f"state: {run['state']}  by {run['actor']}")
    if run["overridden"]:
        say(f"overrode a window/freeze: {run['override_reason']}")
    # The agent column only where agents run steps: a server-run deploy reads as it always did.
    by_agents = any(step.get("agent") or step.get("waiting") for step in run["steps"])
    emit(
        _numbered(run["steps"]),
        as_json=False,
        columns=["wave", "service", "version", "result"]
        + (["agent"] if by_agents else [])
        + ["started_at", "finished_at"],
    )
    for step in run["steps"]:
        if step.get("waiting"):
            say(f"{step['service']}: {step['waiting']}")


@deploy_app.command("confirm")
def deploy_confirm(
    ctx: typer.Context,
    run_id: int,
    project: ProjectOpt,
    service: Annotated[str | None, typer.Option(help="Which waiting step.")] = None,
    failed: Annotated[bool, typer.Option(help="It did not work: fail the step.")] = False,
    note: Annotated[str | None, typer.Option(help="Recorded with the step.")] = None,
) -> None:
    """Confirm a manual step was deployed (or --failed); the run goes on."""
    s = state(ctx)
    body = {"service": service, "ok": not failed, "note": note}
    run = s.client().post(f"/api/v1/projects/{project}/runs/{run_id}/confirm", body)
    emit(run if s.as_json else {"run": run["id"], "state": run["state"]}, as_json=s.as_json)


@deploy_app.command("cancel")
def deploy_cancel(
    ctx: typer.Context,
    run_id: int,
    project: ProjectOpt,
    reason: Annotated[str, typer.Option(help="Why (recorded in the audit log).")],
) -> None:
    """Cancel a run: steps not finished are cancelled; a running command is killed."""
    s = state(ctx)
    body = {"reason": reason}
    run = s.client().post(f"/api/v1/projects/{project}/runs/{run_id}/cancel", body)
    emit(run if s.as_json else {"run": run["id"], "state": run["state"]}, as_json=s.as_json)


def rollback_command(
    ctx: typer.Context,
    project: ProjectOpt,
    env: EnvOpt,
    service: Annotated[str | None, typer.Argument(help="The service to roll back.")] = None,
    to: Annotated[str | None, typer.Option("--to", help="Version to restore.")] = None,
    release: Annotated[str | None, typer.Option(help="Undo this whole release.")] = None,
    reason: Annotated[str | None, typer.Option(help="Why (recorded in the audit log).")] = None,
    follow_run: Annotated[bool, typer.Option("--follow/--no-follow")] = True,
) -> None:
    """Redeploy the previous version of SERVICE (or --to V), or undo --release R in reverse
    dependency order."""
    s = state(ctx)
    client = s.client()
    body = {"environment": env, "service": service, "to": to, "release": release, "reason": reason}
    run = client.post(f"/api/v1/projects/{project}/rollbacks", body)
    if not follow_run:
        emit(run if s.as_json else {"run": run["id"], "state": run["state"]}, as_json=s.as_json)
        return
    if not s.as_json:
        say(f"rollback run #{run['id']}: {waves_text(run['waves'])}")
    _finish(client, project, follow(client, project, run["id"], as_json=s.as_json), s.as_json)


def status_command(
    ctx: typer.Context,
    project: ProjectOpt,
    env: Annotated[str | None, typer.Option("--env", "-e")] = None,
) -> None:
    """What runs where: version, release, who deployed it and when."""
    s = state(ctx)
    emit(
        s.client().get(f"/api/v1/projects/{project}/status", environment=env),
        as_json=s.as_json,
        columns=[
            "environment",
            "service",
            "version",
            "release",
            "deployed_by",
            "deployed_at",
            "in_flight",
        ],
    )


def history_command(
    ctx: typer.Context,
    service: str,
    project: ProjectOpt,
    env: Annotated[str | None, typer.Option("--env", "-e")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
) -> None:
    """A service's ledger, newest first."""
    s = state(ctx)
    rows = s.client().get(
        f"/api/v1/projects/{project}/deploys", service=service, environment=env, limit=limit
    )
    emit(
        rows,
        as_json=s.as_json,
        columns=[
            "id",
            "environment",
            "version",
            "release",
            "result",
            "actor",
            "finished_at",
            "rollback_of",
        ],
    )
