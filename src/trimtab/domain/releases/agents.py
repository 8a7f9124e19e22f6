"""Deploy agents: `trimtab agent` processes that run an environment's deploy steps on its hosts.

An environment's `runner` is `local` (the server's runner, the default for one machine) or
`agent`: then the local runner passes over its steps and an agent claims them through the API,
following the step protocol of `trimtab.domain.releases.runs` with a lease. The agent's token
has the `agent` scope, bound to one project and environment; it reaches these operations and
nothing else (every other route authenticates with server/auth.py's `current_actor`, which
refuses the scope; and `agent` is not on the read/deploy/admin ladder).

- `claim`: records the agent's heartbeat and hands out at most one step, leased until
  now + the lease. What to run is the step's stored command (rendered from the service the
  admins defined); the agent sends only its name and which services it runs (none: all), and
  gets only steps of those. Who is live and what a step waits for: agent_presence.py.
- `heartbeat`: renews the lease and appends the output since the offset the server last
  acknowledged (runs.append_output: a resend is not appended twice; the tail stays bounded).
- `finish`: the result. A step that was cancelled, or whose lease ran out, is no longer the
  agent's: each call answers 409 and the agent kills the command. The same result sent again
  by the agent that finished the step (its first answer was lost) is accepted as the first.

`expire_leases` (a background job, jobs/agents.py) fails as interrupted every step whose lease
ran out: its agent vanished. The step is never handed out again, so nothing runs twice.
`forget_silent_agents` (another job) drops agents silent for a week; `list_agents` is what the
CLI, the API and the dashboard show.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from trimtab.core.config_file import RUNNERS
from trimtab.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from trimtab.domain.releases import runs
from trimtab.domain.releases.agent_presence import claim_label, is_stale
from trimtab.domain.releases.runs import AgentScope, StepTicket
from trimtab.domain.results import IsoTime, Result
from trimtab.domain.spine import audit, projects
from trimtab.domain.spine.actors import AGENT_SCOPE, Actor
from trimtab.store.models import Deploy, DeployAgent, Environment, Project, utcnow

MAX_SERVICES = 50
# Agents are named by whoever starts them (default host:pid, so restarts add rows): a list shows
# this many.
MAX_LISTED = 500
# An agent silent this long is forgotten (jobs/agents.py), so the list stays bounded too.
FORGET_AFTER = timedelta(days=7)


class AgentView(Result):
    """An agent the server has seen: what it serves (`services`, empty: all), the step it runs
    (`step`, of run `run_id`), when it last called in, and whether that is longer ago than the
    lease (`stale`: it stopped, or cannot reach the server)."""

    name: str
    environment: str
    services: list[str]
    step: int | None
    run_id: int | None
    last_heartbeat_at: IsoTime
    stale: bool
    created_at: IsoTime


class RunnerView(Result):
    project: str
    environment: str
    runner: str


def _agent_place(
    session: Session, actor: Actor, slug: str, environment: str
) -> tuple[Project, Environment]:
    """The project and environment an agent token acts in, or Forbidden / NotFound."""
    if AGENT_SCOPE not in actor.scopes:
        raise Forbidden("this endpoint takes an agent token (scope `agent`)")
    project = session.scalars(select(Project).where(Project.slug == slug)).first()
    if project is None or actor.project_id != project.id:
        raise NotFound(f"no project {slug!r}")
    env = projects.get_environment(session, project, environment)
    if actor.environment_id != env.id:
        raise Forbidden("this token is not valid for this environment")
    if env.runner != "agent":
        raise Conflict(
            f"{slug}/{environment} is run by the server's local runner; an admin turns agents "
            f"on with `trimtab env runner {environment} agent --project {slug}`"
        )
    return project, env


def _valid_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 200 or any(ord(c) < 32 for c in name):
        raise InvalidInput("an agent needs a name of 1-200 printable characters")
    return name


def _seen(
    session: Session,
    actor: Actor,
    project: Project,
    env: Environment,
    name: str,
    services: list[str] | None = None,
) -> DeployAgent:
    agent = session.scalars(
        select(DeployAgent).where(
            DeployAgent.project_id == project.id,
            DeployAgent.environment == env.name,
            DeployAgent.name == name,
        )
    ).first()
    if agent is None:
        agent = DeployAgent(project_id=project.id, environment=env.name, name=name, services=[])
        session.add(agent)
    agent.last_heartbeat_at = utcnow()
    agent.token_id = actor.token_id
    if services is not None:
        agent.services = services
    session.flush()
    return agent


def claim(
    session: Session,
    actor: Actor,
    slug: str,
    environment: str,
    name: str,
    services: list[str],
    lease_s: float,
) -> StepTicket | None:
    project, env = _agent_place(session, actor, slug, environment)
    name = _valid_name(name)
    if len(services) > MAX_SERVICES:
        raise InvalidInput(f"an agent runs at most {MAX_SERVICES} named services")
    agent = _seen(session, actor, project, env, name, sorted(set(services)))
    scope = AgentScope(project.id, env.name, tuple(agent.services))
    until = utcnow() + timedelta(seconds=lease_s)
    ticket = runs.claim_next_step(
        session, claim_label(project.slug, env.name, name), agent=scope, lease_until=until
    )
    if ticket is None:
        agent.current_deploy_id = None
        return None
    agent.current_deploy_id = ticket.deploy_id
    return replace(ticket, lease_s=lease_s)


def _held(
    session: Session, actor: Actor, slug: str, environment: str, name: str, deploy_id: int
) -> tuple[DeployAgent, Deploy, str]:
    project, env = _agent_place(session, actor, slug, environment)
    name = _valid_name(name)
    agent = _seen(session, actor, project, env, name)
    label = claim_label(project.slug, env.name, name)
    step = session.get(Deploy, deploy_id)
    if step is None or step.project_id != project.id or step.environment != env.name:
        raise NotFound(f"{slug}/{environment} has no deploy step {deploy_id}")
    return agent, step, label


@dataclass(frozen=True)
class Output:
    """Output an agent sends: the bytes after `offset` of the step's output (runs.append_output)."""

    offset: int
    text: str


class Lease(Result):
    """A renewed lease, and how many bytes of the step's output the server holds: the agent
    sends what follows next time."""

    lease_expires_at: IsoTime
    offset: int


def heartbeat(
    session: Session,
    actor: Actor,
    slug: str,
    environment: str,
    name: str,
    deploy_id: int,
    output: Output,
    lease_s: float,
) -> Lease:
    """Renew the lease of a step the agent holds and append its new output."""
    agent, step, label = _held(session, actor, slug, environment, name, deploy_id)
    received = runs.append_output(session, label, deploy_id, output.offset, output.text)
    until = utcnow() + timedelta(seconds=lease_s)
    step.lease_expires_at = until
    agent.current_deploy_id = deploy_id
    return Lease(lease_expires_at=until, offset=received)


def finish(
    session: Session,
    actor: Actor,
    slug: str,
    environment: str,
    name: str,
    deploy_id: int,
    ok: bool,
    output: Output,
) -> None:
    agent, step, label = _held(session, actor, slug, environment, name, deploy_id)
    if runs.finished_by(session, label, deploy_id, ok):
        # A resend after a lost answer: the step already has this agent's result (and its
        # output, sent with it). Answered as the first time; nothing is recorded twice.
        return
    runs.append_output(session, label, deploy_id, output.offset, output.text)
    runs.finish_step(session, label, deploy_id, ok, None)
    step.lease_expires_at = None
    agent.current_deploy_id = None


def _expired(now: datetime) -> Select[Deploy]:
    return (
        select(Deploy)
        .where(
            Deploy.result == "running",
            Deploy.lease_expires_at.is_not(None),
            Deploy.lease_expires_at < now,
        )
        .order_by(Deploy.id)
    )


def any_lease_expired(session: Session, now: datetime | None = None) -> bool:
    """Cheap check (a read) before the job opens a write transaction."""
    return session.scalars(_expired(now or utcnow()).limit(1)).first() is not None


def expire_leases(session: Session, now: datetime | None = None) -> list[int]:
    """Fail as interrupted every agent-held step whose lease ran out; their ids."""
    steps = session.scalars(_expired(now or utcnow())).all()
    return [
        step.id
        for step in steps
        if runs.fail_interrupted(session, step, "stopped calling in (its lease ran out)")
    ]


def forget_silent_agents(session: Session, now: datetime | None = None) -> int:
    """Delete the agents not heard from for FORGET_AFTER (none holds a step: its lease ran out
    long ago); how many. The default name is host:pid, so every start of an agent adds a row."""
    cutoff = (now or utcnow()) - FORGET_AFTER
    gone = session.scalars(
        select(DeployAgent).where(DeployAgent.last_heartbeat_at < cutoff).limit(1000)
    ).all()
    for agent in gone:
        session.delete(agent)
    return len(gone)


def list_agents(session: Session, actor: Actor, slug: str, lease_s: float) -> list[AgentView]:
    """The agents of a project (of the actor's environment, for a bound actor): `trimtab agent
    list`, the API and the dashboard's agents page."""
    project = projects.get_project(session, actor, slug)
    query = (
        select(DeployAgent, Deploy.run_id)
        .outerjoin(Deploy, Deploy.id == DeployAgent.current_deploy_id)
        .where(DeployAgent.project_id == project.id)
        .order_by(DeployAgent.environment, DeployAgent.name)
        .limit(MAX_LISTED)
    )
    bound = projects.bound_environment(session, actor)
    if bound is not None:
        query = query.where(DeployAgent.environment == bound)
    now = utcnow()
    return [
        AgentView(
            name=a.name,
            environment=a.environment,
            services=list(a.services),
            step=a.current_deploy_id,
            run_id=run_id if a.current_deploy_id is not None else None,
            last_heartbeat_at=a.last_heartbeat_at,
            stale=is_stale(a.last_heartbeat_at, lease_s, now),
            created_at=a.created_at,
        )
        for a, run_id in session.execute(query)
    ]


def set_runner(
    session: Session, actor: Actor, slug: str, environment: str, runner: str
) -> RunnerView:
    """Choose who runs an environment's deploy steps: the server (`local`) or agents."""
    if runner not in RUNNERS:
        raise InvalidInput(f"runner must be one of {', '.join(RUNNERS)}")
    project = projects.get_project(session, actor, slug)
    env = projects.get_environment(session, project, environment, actor=actor, scope="admin")
    before = env.runner
    if before != runner:
        busy = runs.active_run(session, project.id, env.name)
        if busy is not None:
            raise Conflict(f"deploy run #{busy.id} is still {busy.state}: change the runner after")
        env.runner = runner
        audit.record(
            session,
            actor,
            "environment.runner",
            target_type="environment",
            target_id=f"{project.slug}/{env.name}",
            project_id=project.id,
            environment=env.name,
            before={"runner": before},
            after={"runner": runner},
        )
    return RunnerView(project=project.slug, environment=env.name, runner=runner)
