"""/api/v1/projects/{slug}/…: deploy plans and runs, confirms, rollbacks, the ledger."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request

from trimtab.domain.releases import deploys, ledger, rollbacks, runs
from trimtab.domain.releases.deploys import DeployPlan
from trimtab.domain.releases.ledger import LedgerEntry, ServiceStatus
from trimtab.domain.releases.runs import RunDetail, RunSummary
from trimtab.domain.spine.actors import Actor
from trimtab.server.api.deploy_schemas import RollbackStart, RunCancel, RunStart, StepConfirm
from trimtab.server.api.schemas import RowId
from trimtab.server.auth import agent_lease_of, current_actor, store_of

router = APIRouter(tags=["deploys"])
EnvQuery = Query(default=None, max_length=64)


def _wake_runner(request: Request) -> None:
    runner = getattr(request.app.state, "runner", None)
    if runner is not None:
        runner.wake()


@router.get("/projects/{slug}/releases/{version}/plan", response_model=DeployPlan)
def plan(
    slug: str,
    version: str,
    request: Request,
    environment: str = Query(max_length=64),
    actor: Actor = Depends(current_actor),
) -> DeployPlan:
    with store_of(request).read() as session:
        return deploys.plan(session, actor, slug, version, environment)


@router.post("/projects/{slug}/runs", status_code=202, response_model=RunDetail)
def start_run(
    slug: str, body: RunStart, request: Request, actor: Actor = Depends(current_actor)
) -> RunDetail:
    """Start deploying a release; returns at once, the runner does the work."""
    store = store_of(request)
    try:
        with store.write() as session:
            run = deploys.start(
                session,
                actor,
                slug,
                body.release,
                body.environment,
                override=body.override,
                reason=body.reason,
                auto_rollback=body.auto_rollback,
            )
            result = runs.run_detail(session, run, lease_s=agent_lease_of(request))
    except deploys.DeployRefused as refused:
        with store.write() as session:
            deploys.record_refusal(session, actor, slug, refused)
        raise
    _wake_runner(request)
    return result


@router.get("/projects/{slug}/runs", response_model=list[RunSummary])
def list_runs(
    slug: str,
    request: Request,
    environment: str | None = EnvQuery,
    limit: int = Query(default=20, ge=1, le=200),
    actor: Actor = Depends(current_actor),
) -> list[RunSummary]:
    with store_of(request).read() as session:
        return [
            runs.run_summary(session, r)
            for r in runs.list_runs(session, actor, slug, environment, limit)
        ]


@router.get("/projects/{slug}/runs/{run_id}", response_model=RunDetail)
def get_run(
    slug: str, run_id: RowId, request: Request, actor: Actor = Depends(current_actor)
) -> RunDetail:
    with store_of(request).read() as session:
        _, run = runs.get_run(session, actor, slug, run_id)
        return runs.run_detail(session, run, lease_s=agent_lease_of(request))


@router.post("/projects/{slug}/runs/{run_id}/confirm", response_model=RunDetail)
def confirm(
    slug: str,
    run_id: RowId,
    body: StepConfirm,
    request: Request,
    actor: Actor = Depends(current_actor),
) -> RunDetail:
    with store_of(request).write() as session:
        run = runs.confirm_step(
            session, actor, slug, run_id, body.service, ok=body.ok, note=body.note
        )
        result = runs.run_detail(session, run, lease_s=agent_lease_of(request))
    _wake_runner(request)
    return result


@router.post("/projects/{slug}/runs/{run_id}/cancel", response_model=RunDetail)
def cancel(
    slug: str,
    run_id: RowId,
    body: RunCancel,
    request: Request,
    actor: Actor = Depends(current_actor),
) -> RunDetail:
    with store_of(request).write() as session:
        run = runs.cancel_run(session, actor, slug, run_id, body.reason)
        return runs.run_detail(session, run, lease_s=agent_lease_of(request))


@router.post("/projects/{slug}/rollbacks", status_code=202, response_model=RunDetail)
def start_rollback(
    slug: str, body: RollbackStart, request: Request, actor: Actor = Depends(current_actor)
) -> RunDetail:
    with store_of(request).write() as session:
        run = rollbacks.rollback(
            session,
            actor,
            slug,
            body.environment,
            service=body.service,
            to_version=body.to,
            release=body.release,
            reason=body.reason,
        )
        result = runs.run_detail(session, run, lease_s=agent_lease_of(request))
    _wake_runner(request)
    return result


@router.get("/projects/{slug}/status", response_model=list[ServiceStatus])
def status(
    slug: str,
    request: Request,
    environment: str | None = EnvQuery,
    actor: Actor = Depends(current_actor),
) -> list[ServiceStatus]:
    with store_of(request).read() as session:
        return ledger.status(session, actor, slug, environment)


@router.get("/projects/{slug}/deploys", response_model=list[LedgerEntry])
def history(
    slug: str,
    request: Request,
    service: str | None = Query(default=None, max_length=64),
    environment: str | None = EnvQuery,
    limit: int = Query(default=100, ge=1, le=1000),
    actor: Actor = Depends(current_actor),
) -> list[LedgerEntry]:
    with store_of(request).read() as session:
        rows = ledger.history(
            session, actor, slug, service=service, environment=environment, limit=limit
        )
        return [ledger.ledger_entry(d) for d in rows]
