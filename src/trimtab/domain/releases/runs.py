"""Deploy runs and the step protocol a runner follows.

A run is waves of steps; each step is a ledger row (`Deploy`) created `pending` with the run.
Step states: `pending` → `running` (a runner claimed it) → `success` | `failed`; a manual step
goes `pending` → `waiting_confirm` (its wave came up) → `success` | `failed` (someone confirmed);
steps left behind a failure become `skipped`. Only the current wave — the first with a step not
yet successful — may be claimed, so a wave starts only once the one before fully succeeded.

The runner protocol (the local runner uses it in-process; a remote agent will call the same
functions through the API):

1. `claim_next_step(session, runner)` — atomically moves one claimable step to `running` and
   returns a `StepTicket` (what to run, the health check, the TRIMTAB_* environment). A
   conditional UPDATE (`WHERE result = 'pending'`) makes the claim safe with many runners.
2. `report_output(session, runner, deploy_id, tail)` — as often as useful, the output so far;
   an agent sends only the new bytes at their offset instead (`append_output`).
3. `finish_step(session, runner, deploy_id, ok, tail)` — the result; the run advances (next
   wave, or failed / success; success opens the stabilization window).

A run can be cancelled (`cancel_run`): its open steps become `cancelled`; a runner that holds a
cancelled step finds out at its next report (the step is no longer its) and kills the command.
A step whose runner process died (the server restarted mid-step) is failed as interrupted by the
next runner that starts on that host (`fail_orphaned_steps`), so the environment is not blocked.

Maintenance goes on in the transaction that claims (or starts waiting for) a downtime step and
off in the one that finishes it, so the notice never outlives the step by more than a commit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from trimtab.domain.errors import Conflict, InvalidInput, NotFound
from trimtab.domain.releases import (
    agent_presence,
    ledger,
    maintenance,
    run_plans,
    services,
    stabilization,
    verdicts,
)
from trimtab.domain.releases.ledger import LedgerEntry
from trimtab.domain.results import IsoTime, Result
from trimtab.domain.spine import audit, notifications, projects
from trimtab.domain.spine.actors import Actor
from trimtab.store.db import get_row
from trimtab.store.models import (
    Deploy,
    DeployRun,
    Environment,
    Project,
    Release,
    Service,
    utcnow,
)
from trimtab.store.models.deploys import OUTPUT_TAIL_BYTES
from trimtab.store.notify import Change, announce

ACTIVE_RUN_STATES = ("running", "waiting_confirm")
OPEN_STEP_RESULTS = ("pending", "running", "waiting_confirm")


def tail(text: str, limit: int = OUTPUT_TAIL_BYTES) -> str:
    """The last `limit` bytes of `text` (UTF-8), cut on a character boundary."""
    raw = text.encode("utf-8", errors="replace")
    if len(raw) <= limit:
        return text
    return raw[-limit:].decode("utf-8", errors="ignore")


@dataclass(frozen=True)
class StepTicket:
    """What a runner needs to run one claimed step."""

    deploy_id: int
    run_id: int
    project: str
    environment: str
    service: str
    version: str
    release: str | None
    command: str
    downtime: bool
    health: dict[str, Any] | None = None
    environ: dict[str, str] = field(default_factory=dict)
    # An agent's claim holds this long without a heartbeat (0: the local runner, no lease).
    lease_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class StepView(LedgerEntry):
    """A step of a run: its ledger row, the tail of its command's output, the deploy agent that
    holds or held it (`agent`; None for the server's local runner), and, for a step that could
    start but that no live agent serves, what it waits for (`waiting`)."""

    output_tail: str
    agent: str | None = None
    waiting: str | None = None


class RunSummary(Result):
    """A deploy or rollback run (`kind`), its waves of services and where it stands."""

    id: int
    environment: str
    kind: str
    release: str | None
    state: str
    waves: list[list[str]]
    actor: str
    overridden: bool
    override_reason: str | None
    auto_rollback: bool
    rollback_run_id: int | None
    error: str | None
    created_at: IsoTime
    finished_at: IsoTime | None


class RunDetail(RunSummary):
    """A run with its steps, in wave order."""

    steps: list[StepView]


def steps_of(session: Session, run: DeployRun) -> list[Deploy]:
    return list(
        session.scalars(
            select(Deploy).where(Deploy.run_id == run.id).order_by(Deploy.wave, Deploy.service)
        )
    )


def active_run(session: Session, project_id: int, environment: str) -> DeployRun | None:
    return session.scalars(
        select(DeployRun).where(
            DeployRun.project_id == project_id,
            DeployRun.environment == environment,
            DeployRun.state.in_(ACTIVE_RUN_STATES),
        )
    ).first()


def _service(session: Session, project_id: int, name: str) -> Service | None:
    return session.scalars(
        select(Service).where(Service.project_id == project_id, Service.name == name)
    ).first()


def _announce_run(session: Session, run: DeployRun) -> None:
    data = {"run_id": run.id, "state": run.state, "kind": run.kind}
    announce(session, Change("deploy.changed", run.project_id, run.environment, data))


def create_run(
    session: Session,
    project: Project,
    environment: str,
    *,
    kind: str,
    release: Release | None,
    waves: list[list[str]],
    steps: list[run_plans.StepSpec],
    actor_label: str,
    overridden: bool = False,
    reason: str | None = None,
    auto_rollback: bool = False,
) -> DeployRun:
    busy = active_run(session, project.id, environment)
    if busy is not None:
        raise Conflict(
            f"deploy run #{busy.id} is still {busy.state} in {project.slug}/{environment}; "
            f"see `trimtab deploy status {busy.id} --project {project.slug}`"
        )
    run = DeployRun(
        project_id=project.id,
        environment=environment,
        kind=kind,
        release_id=release.id if release else None,
        state="running",
        waves=waves,
        actor=actor_label,
        overridden=overridden,
        override_reason=reason,
        auto_rollback=auto_rollback,
    )
    session.add(run)
    session.flush()
    for spec in steps:
        session.add(
            Deploy(
                project_id=project.id,
                environment=environment,
                service=spec.service,
                version=spec.version,
                commit=spec.commit,
                command=spec.command,
                actor=actor_label,
                result="pending",
                release_id=spec.release_id,
                release_version=spec.release_version,
                rollback_of_id=spec.rollback_of_id,
                run_id=run.id,
                wave=spec.wave,
            )
        )
    session.flush()
    advance_run(session, run)
    return run


def _start_waiting(session: Session, run: DeployRun, step: Deploy, now: datetime) -> None:
    step.result = "waiting_confirm"
    step.started_at = now
    service = _service(session, run.project_id, step.service)
    if service is not None and service.downtime:
        session.flush()
        maintenance.auto_on(
            session,
            run.project_id,
            run.environment,
            step.id,
            f"{maintenance.DEFAULT_MESSAGE} ({step.service} is being updated.)",
        )


def advance_run(session: Session, run: DeployRun) -> None:
    """Move the run on after a step changed: next wave, or its end."""
    if run.state not in ACTIVE_RUN_STATES:
        return
    now = utcnow()
    steps = steps_of(session, run)
    failed = [s for s in steps if s.result == "failed"]
    if failed:
        for step in steps:
            if step.result in ("pending", "waiting_confirm"):
                step.result = "skipped"
                step.finished_at = now
                maintenance.auto_off(session, step.id)
        if any(s.result == "running" for s in steps):
            return  # a parallel step still runs; the run ends when it reports
        _fail(session, run, failed[0], steps, now)
    elif all(s.result == "success" for s in steps):
        run.state = "success"
        run.finished_at = now
        if run.kind == "rollback":
            ended = stabilization.end_windows_of_undone_releases(
                session, run.project_id, run.environment, now
            )
            for window in ended:
                # Its window ended now, so its final verdict is due now (and its webhook),
                # not at the verdict job's next tick minutes later.
                verdicts.update_window(session, window, now)
        if run.kind == "release" and run.release_id is not None:
            release = session.get(Release, run.release_id)
            assert release is not None
            stabilization.open_window(
                session,
                run.project_id,
                run.environment,
                release_version=release.version,
                release_id=release.id,
                services=[s.service for s in steps],
                run_id=run.id,
                at=now,
            )
    else:
        wave = min(s.wave for s in steps if s.result != "success")
        current = [s for s in steps if s.wave == wave and s.result != "success"]
        for step in current:
            if step.result == "pending" and step.command is None:
                _start_waiting(session, run, step, now)
        waiting = all(s.result == "waiting_confirm" for s in current)
        run.state = "waiting_confirm" if waiting else "running"
    session.flush()
    _announce_run(session, run)


def _fail(
    session: Session, run: DeployRun, failed: Deploy, steps: list[Deploy], now: datetime
) -> None:
    run.state = "failed"
    run.finished_at = now
    run.error = f"{failed.service} {failed.version} failed in wave {failed.wave + 1}"
    done = [s for s in steps if s.result == "success"]
    project = session.get(Project, run.project_id)
    assert project is not None
    notifications.notify(
        session,
        run.project_id,
        "deploy.failed",
        f"{project.slug}: deploy run #{run.id} failed ({run.error})",
        {"run_id": run.id, "error": run.error, "finished": [s.service for s in done]},
        environment=run.environment,
    )
    if run.auto_rollback and run.kind == "release" and done:
        # The run that failed starts its own rollback, in the transaction that records the
        # failure, so no failed run is ever left without the rollback it asked for.
        session.flush()
        undo = start_rollback_run(
            session,
            project,
            run.environment,
            [s.service for s in done],
            actor_label=f"{run.actor} (auto-rollback of run #{run.id})",
        )
        run.rollback_run_id = undo.id


def start_rollback_run(
    session: Session,
    project: Project,
    environment: str,
    names: list[str],
    *,
    actor_label: str,
    to_version: str | None = None,
) -> DeployRun:
    """A rollback run restoring the previous good version of each named service."""
    waves, steps, skipped = run_plans.plan_rollback(
        session, project, environment, names, to_version
    )
    if not steps:
        what = f"version {to_version} of " if to_version else "earlier version of "
        raise InvalidInput(
            f"nothing to roll back in {project.slug}/{environment}: the ledger has no "
            f"{what}{', '.join(skipped) or 'these services'} to restore"
        )
    return create_run(
        session,
        project,
        environment,
        kind="rollback",
        release=None,
        waves=waves,
        steps=steps,
        actor_label=actor_label,
    )


def agent_environments(session: Session) -> set[tuple[int, str]]:
    """(project id, environment name) of every environment whose steps `trimtab agent` runs."""
    rows = session.execute(
        select(Environment.project_id, Environment.name).where(Environment.runner == "agent")
    )
    return {(int(p), str(n)) for p, n in rows}


def claimable(session: Session) -> bool:
    """Cheap check (a read) before the local runner opens a write transaction to claim."""
    query = (
        select(DeployRun.project_id, DeployRun.environment)
        .select_from(Deploy)
        .join(DeployRun, DeployRun.id == Deploy.run_id)
        .where(
            DeployRun.state.in_(ACTIVE_RUN_STATES),
            Deploy.result == "pending",
            Deploy.command.is_not(None),
        )
        .distinct()
        .limit(100)
    )
    skip = agent_environments(session)
    return any((p, e) not in skip for p, e in session.execute(query))


def _ticket(session: Session, run: DeployRun, step: Deploy, service: Service | None) -> StepTicket:
    project = session.get(Project, run.project_id)
    assert project is not None and step.command is not None
    check = services.health_check(service) if service is not None else None
    environ = {
        "TRIMTAB_PROJECT": project.slug,
        "TRIMTAB_ENV": run.environment,
        "TRIMTAB_SERVICE": step.service,
        "TRIMTAB_VERSION": step.version,
        "TRIMTAB_RELEASE": step.release_version or "",
        "TRIMTAB_RUN_ID": str(run.id),
        "TRIMTAB_DEPLOY_ID": str(step.id),
        "TRIMTAB_ROLLBACK": "1" if step.rollback_of_id else "0",
    }
    return StepTicket(
        deploy_id=step.id,
        run_id=run.id,
        project=project.slug,
        environment=run.environment,
        service=step.service,
        version=step.version,
        release=step.release_version,
        command=step.command,
        downtime=bool(service and service.downtime),
        health=check.model_dump() if check is not None else None,
        environ=environ,
    )


@dataclass(frozen=True)
class AgentScope:
    """Where an agent claims: its project and environment, and the services it runs (all when
    empty)."""

    project_id: int
    environment: str
    services: tuple[str, ...] = ()


def claim_next_step(
    session: Session,
    runner: str,
    *,
    agent: AgentScope | None = None,
    lease_until: datetime | None = None,
) -> StepTicket | None:
    """Claim one step of the current wave of some active run, or None if nothing is ready.

    The local runner (`agent` None) claims in every environment not run by agents; an agent only
    in its own, with a lease (`lease_until`) its heartbeats renew. On PostgreSQL the candidate
    step is locked with FOR UPDATE SKIP LOCKED, so concurrent claimers pass over each other's;
    SQLite's write transactions are BEGIN IMMEDIATE (store.db), one claimer at a time. The
    conditional UPDATE makes a claim exclusive either way.
    """
    query = select(DeployRun).where(DeployRun.state.in_(ACTIVE_RUN_STATES)).order_by(DeployRun.id)
    if agent is not None:
        query = query.where(
            DeployRun.project_id == agent.project_id, DeployRun.environment == agent.environment
        )
        skip: set[tuple[int, str]] = set()
    else:
        skip = agent_environments(session)
    for run in list(session.scalars(query)):
        if (run.project_id, run.environment) in skip:
            continue
        for step in _claimable_now(run, steps_of(session, run)):
            if agent is not None and agent.services and step.service not in agent.services:
                continue
            if session.get_bind().dialect.name == "postgresql":
                locked = session.scalars(
                    select(Deploy.id)
                    .where(Deploy.id == step.id, Deploy.result == "pending")
                    .with_for_update(skip_locked=True)
                ).first()
                if locked is None:
                    continue  # another claimer holds it
            now = utcnow()
            claimed = session.execute(
                update(Deploy)
                .where(Deploy.id == step.id, Deploy.result == "pending")
                .values(
                    result="running",
                    claimed_by=runner[:200],
                    started_at=now,
                    lease_expires_at=lease_until,
                )
                .execution_options(synchronize_session=False)
            )
            if claimed.rowcount != 1:  # type: ignore[attr-defined]
                continue  # another runner was first
            session.refresh(step)
            service = _service(session, run.project_id, step.service)
            if service is not None and service.downtime:
                maintenance.auto_on(
                    session,
                    run.project_id,
                    run.environment,
                    step.id,
                    f"{maintenance.DEFAULT_MESSAGE} ({step.service} is being updated.)",
                )
            run.state = "running"
            session.flush()
            _announce_run(session, run)
            return _ticket(session, run, step, service)
    return None


def _claimed(session: Session, runner: str, deploy_id: int) -> Deploy:
    step = session.get(Deploy, deploy_id)
    if step is None or step.result != "running" or step.claimed_by != runner[:200]:
        raise Conflict(f"step {deploy_id} is not running under runner {runner!r}")
    return step


def finished_by(session: Session, runner: str, deploy_id: int, ok: bool) -> bool:
    """Whether `runner` already finished the step with this result (a resend of its finish)."""
    step = session.get(Deploy, deploy_id)
    return step is not None and step.claimed_by == runner[:200] and step.result == _result(ok)


def _result(ok: bool) -> str:
    return "success" if ok else "failed"


def check_claim(session: Session, runner: str, deploy_id: int) -> None:
    """Raise Conflict unless `runner` still holds the step (it may have been cancelled)."""
    _claimed(session, runner, deploy_id)


def report_output(session: Session, runner: str, deploy_id: int, output: str) -> None:
    """Store the whole output tail so far (the local runner, which holds it in memory)."""
    _claimed(session, runner, deploy_id).output_tail = tail(output)


def append_output(session: Session, runner: str, deploy_id: int, offset: int, chunk: str) -> int:
    """Append output that starts at byte `offset` of the step's output; the bytes received.

    A runner on another host (an agent) sends only what follows the offset the server last
    acknowledged. A chunk that starts before the stored offset is a resend after a lost answer:
    the bytes the step already has are skipped, so a retry never shows output twice. One that
    starts after it follows output the agent dropped while it could not report (more than the
    tail keeps piled up): a line marks the gap. The stored tail stays OUTPUT_TAIL_BYTES.
    """
    step = _claimed(session, runner, deploy_id)
    raw = chunk.encode("utf-8", errors="replace")
    have = step.output_offset
    if offset < have:
        # Chunks are whole lines, so the skip ends on a character boundary.
        raw = raw[have - offset :]
    elif offset > have:
        gap = f"[trimtab] ... {offset - have} bytes of output not received\n"
        raw = gap.encode() + raw
    if raw:
        step.output_tail = tail(step.output_tail + raw.decode("utf-8", errors="ignore"))
    step.output_offset = max(have, offset + len(chunk.encode("utf-8", errors="replace")))
    return step.output_offset


def finish_step(
    session: Session, runner: str, deploy_id: int, ok: bool, output: str | None
) -> DeployRun:
    """The step's result; `output` the whole tail, or None to keep what was appended."""
    step = _claimed(session, runner, deploy_id)
    step.result = _result(ok)
    step.finished_at = utcnow()
    if output is not None:
        step.output_tail = tail(output)
    maintenance.auto_off(session, step.id)
    run = session.get(DeployRun, step.run_id)
    assert run is not None
    advance_run(session, run)
    return run


def get_run(session: Session, actor: Actor, slug: str, run_id: int) -> tuple[Project, DeployRun]:
    project = projects.get_project(session, actor, slug)
    run = get_row(session, DeployRun, run_id)
    bound = projects.bound_environment(session, actor)
    # A run in another environment than the actor's is not found, as one of another project.
    if run is None or run.project_id != project.id or bound not in (None, run.environment):
        raise NotFound(f"project {slug!r} has no deploy run {run_id}")
    return project, run


def confirm_step(
    session: Session,
    actor: Actor,
    slug: str,
    run_id: int,
    service: str | None,
    *,
    ok: bool = True,
    note: str | None = None,
) -> DeployRun:
    """Someone deployed a manual step by hand: record its result and move the run on."""
    project, run = get_run(session, actor, slug, run_id)
    projects.get_environment(session, project, run.environment, actor=actor, scope="deploy")
    waiting = [s for s in steps_of(session, run) if s.result == "waiting_confirm"]
    if service is not None:
        waiting = [s for s in waiting if s.service == service]
    if not waiting:
        raise Conflict(
            f"run #{run_id} has no step waiting for a confirm"
            + (f" for {service}" if service else "")
        )
    if len(waiting) > 1:
        names = ", ".join(s.service for s in waiting)
        raise InvalidInput(f"several steps wait for a confirm ({names}): name one with --service")
    step = waiting[0]
    step.result = "success" if ok else "failed"
    step.finished_at = utcnow()
    step.confirmed_by = actor.label
    if note:
        step.output_tail = tail(f"{step.output_tail}{note}\n")
    maintenance.auto_off(session, step.id)
    audit.record(
        session,
        actor,
        "deploy.confirm",
        target_type="deploy",
        target_id=step.id,
        project_id=project.id,
        environment=run.environment,
        after={"run_id": run.id, "service": step.service, "version": step.version, "ok": ok},
        reason=note,
    )
    advance_run(session, run)
    return run


def run_summary(session: Session, run: DeployRun) -> RunSummary:
    release = session.get(Release, run.release_id) if run.release_id else None
    return RunSummary(
        id=run.id,
        environment=run.environment,
        kind=run.kind,
        release=release.version if release else None,
        state=run.state,
        waves=run.waves,
        actor=run.actor,
        overridden=run.overridden,
        override_reason=run.override_reason,
        auto_rollback=run.auto_rollback,
        rollback_run_id=run.rollback_run_id,
        error=run.error,
        created_at=run.created_at,
        finished_at=run.finished_at,
    )


def run_detail(session: Session, run: DeployRun, *, lease_s: float) -> RunDetail:
    """The run with its steps; `lease_s` (TRIMTAB_AGENT_LEASE) tells which agents are live."""
    rows = steps_of(session, run)
    project = session.get(Project, run.project_id)
    assert project is not None
    ready = _claimable_now(run, rows)
    present = None
    if ready:
        present = agent_presence.presence(
            session, run.project_id, run.environment, lease_s, utcnow()
        )
    steps = [
        StepView(
            **dict(ledger.ledger_entry(s)),
            output_tail=s.output_tail,
            agent=agent_presence.agent_name(s.claimed_by, project.slug, run.environment),
            waiting=agent_presence.waiting_for(s.service, present) if s in ready else None,
        )
        for s in rows
    ]
    return RunDetail(**dict(run_summary(session, run)), steps=steps)


def _claimable_now(run: DeployRun, steps: list[Deploy]) -> list[Deploy]:
    """The steps a runner could claim now: pending, with a command, in the current wave of an
    active run without a failed step."""
    open_steps = [s for s in steps if s.result != "success"]
    if run.state not in ACTIVE_RUN_STATES or not open_steps:
        return []
    if any(s.result == "failed" for s in steps):
        return []
    wave = min(s.wave for s in open_steps)
    return [
        s for s in open_steps if s.wave == wave and s.result == "pending" and s.command is not None
    ]


def list_runs(
    session: Session, actor: Actor, slug: str, environment: str | None, limit: int = 20
) -> list[DeployRun]:
    project = projects.get_project(session, actor, slug)
    environment = projects.environment_view(session, actor, project, environment)
    query = (
        select(DeployRun)
        .where(DeployRun.project_id == project.id)
        .order_by(DeployRun.id.desc())
        .limit(min(max(limit, 1), 200))
    )
    if environment is not None:
        query = query.where(DeployRun.environment == environment)
    return list(session.scalars(query))


def cancel_run(session: Session, actor: Actor, slug: str, run_id: int, reason: str) -> DeployRun:
    """Stop a run: every step not yet finished becomes `cancelled`. Audited with the reason."""
    project, run = get_run(session, actor, slug, run_id)
    projects.get_environment(session, project, run.environment, actor=actor, scope="deploy")
    reason = reason.strip()
    if not reason:
        raise InvalidInput("cancelling a deploy run needs a reason")
    if run.state not in ACTIVE_RUN_STATES:
        raise Conflict(f"run #{run_id} is {run.state}, not running: nothing to cancel")
    now = utcnow()
    cancelled = []
    for step in steps_of(session, run):
        if step.result in OPEN_STEP_RESULTS:
            was = step.result
            step.result = "cancelled"
            step.finished_at = now
            note = f"[trimtab] cancelled by {actor.label}: {reason}"
            if was == "running":
                note += f" (the runner {step.claimed_by} stops the command)"
            step.output_tail = tail(f"{step.output_tail or ''}{note}\n")
            maintenance.auto_off(session, step.id)
            cancelled.append(step.service)
    run.state = "cancelled"
    run.finished_at = now
    run.error = f"cancelled by {actor.label}: {reason}"[:1000]
    audit.record(
        session,
        actor,
        "deploy.cancel",
        target_type="deploy_run",
        target_id=run.id,
        project_id=project.id,
        environment=run.environment,
        after={"run_id": run.id, "cancelled_steps": cancelled},
        reason=reason,
    )
    session.flush()
    _announce_run(session, run)
    return run


def fail_orphaned_steps(session: Session, is_orphan: Callable[[str], bool]) -> list[int]:
    """Fail the `running` steps whose runner is gone (`is_orphan(claimed_by)`); returns their ids.

    The runner that starts after a crash calls this, so a run does not wait forever on a step
    nobody runs any more. The step counts as failed: whether its command finished is unknown.
    """
    steps = session.scalars(
        select(Deploy).where(Deploy.result == "running", Deploy.claimed_by.is_not(None))
    ).all()
    return [
        step.id
        for step in steps
        if step.claimed_by is not None and is_orphan(step.claimed_by)
        if fail_interrupted(session, step)
    ]


def fail_interrupted(session: Session, step: Deploy, why: str = "stopped") -> bool:
    """Fail a `running` step whose runner is gone (`why` says how); the run moves on."""
    if step.result != "running":
        return False
    step.result = "failed"
    step.finished_at = utcnow()
    step.lease_expires_at = None
    step.output_tail = tail(
        f"{step.output_tail or ''}[trimtab] interrupted: the process running this step "
        f"({step.claimed_by}) {why} before it finished\n"
    )
    maintenance.auto_off(session, step.id)
    run = session.get(DeployRun, step.run_id)
    if run is not None:
        advance_run(session, run)
    return True
