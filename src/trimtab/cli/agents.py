"""`trimtab agent`: run an environment's deploy steps on this host, or list the agents seen."""

from __future__ import annotations

import logging
import signal
import sys
from types import FrameType
from typing import Annotated

import typer

from trimtab.cli.context import state
from trimtab.cli.errors import USAGE, CliError
from trimtab.cli.output import emit, say

agent_app = typer.Typer(
    help="Deploy agents: run an environment's deploy steps on the host the agent runs on.",
    invoke_without_command=True,
)
ProjectOpt = Annotated[str | None, typer.Option("--project", "-p", help="Project slug.")]


@agent_app.callback()
def agent_run(
    ctx: typer.Context,
    project: ProjectOpt = None,
    env: Annotated[str | None, typer.Option("--env", "-e", help="Environment.")] = None,
    service: Annotated[
        list[str] | None,
        typer.Option("--service", "-s", help="Run only this service's steps (repeatable)."),
    ] = None,
    name: Annotated[
        str | None, typer.Option(help="How the agent is listed; default host:pid.")
    ] = None,
    poll: Annotated[float, typer.Option(help="Seconds between claims when idle.")] = 2.0,
) -> None:
    """Claim and run the deploy steps of one environment (its runner must be `agent`).

    Needs a token with the `agent` scope bound to that project and environment. The commands
    come from the server's service definitions; output goes back as it runs.
    """
    if ctx.invoked_subcommand is not None:
        return
    if not project or not env:
        raise CliError("trimtab agent needs --project and --env", USAGE)
    if not 0.1 <= poll <= 600:
        raise CliError("--poll must be 0.1-600 seconds", USAGE)
    s = state(ctx)
    if not s.token:
        raise CliError("trimtab agent needs an agent token (--token or TRIMTAB_TOKEN)", USAGE)
    from trimtab.runner.agent import Agent, AgentError

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    agent = Agent(s.url, s.token, project, env, service or (), name=name, poll_s=poll)

    def stop(signum: int, frame: FrameType | None) -> None:
        agent.stop.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    say(f"agent {agent.name} runs the deploy steps of {project}/{env}", err=True)
    try:
        agent.run()
    except AgentError as exc:
        raise CliError(str(exc)) from exc
    finally:
        agent.close()
    sys.stderr.write("agent stopped\n")


@agent_app.command("list")
def agent_list(
    ctx: typer.Context, project: Annotated[str, typer.Option("--project", "-p")]
) -> None:
    """List the agents of a project: the services each runs (none listed: all), the step it
    runs, when it last called in, and whether that is longer ago than the lease (stale)."""
    s = state(ctx)
    emit(
        s.client().get(f"/api/v1/projects/{project}/agents"),
        as_json=s.as_json,
        columns=["name", "environment", "services", "run_id", "step", "last_heartbeat_at", "stale"],
    )
