"""/api/v1/projects/{slug}/…: deploy agents (claim, heartbeat, finish), the agents seen, and
which runner an environment uses. The rules live in `trimtab.domain.releases.agents`."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from pydantic import Field

from trimtab.domain.releases import agents
from trimtab.domain.releases.agents import AgentView, Lease, RunnerView
from trimtab.domain.releases.runs import StepTicket
from trimtab.domain.spine.actors import Actor
from trimtab.server.api.schemas import BigRowId, Body
from trimtab.server.auth import agent_actor, agent_lease_of, current_actor, store_of
from trimtab.store.models.deploys import OUTPUT_TAIL_BYTES

router = APIRouter(tags=["agents"])
AgentName = Field(min_length=1, max_length=200)
# The output an agent sends at once: the step keeps OUTPUT_TAIL_BYTES; more is refused.
OutputText = Field(default="", max_length=OUTPUT_TAIL_BYTES)


class ClaimBody(Body):
    agent: str = AgentName
    services: list[str] = Field(default_factory=list, max_length=agents.MAX_SERVICES)


class HeartbeatBody(Body):
    agent: str = AgentName
    # The output after byte `offset` of the step's (the offset the last answer gave).
    offset: int = Field(ge=0, le=2**62)
    output: str = OutputText

    def chunk(self) -> agents.Output:
        return agents.Output(self.offset, self.output)


class FinishBody(HeartbeatBody):
    ok: bool


class RunnerBody(Body):
    runner: str = Field(min_length=1, max_length=16)


@router.post(
    "/projects/{slug}/agents/{environment}/claim",
    response_model=StepTicket,
    responses={204: {"description": "Nothing to run now"}},
)
def claim(
    slug: str,
    environment: str,
    body: ClaimBody,
    request: Request,
    actor: Actor = Depends(agent_actor),
) -> StepTicket | Response:
    lease = agent_lease_of(request)
    with store_of(request).write() as session:
        ticket = agents.claim(session, actor, slug, environment, body.agent, body.services, lease)
    if ticket is None:
        return Response(status_code=204)
    return ticket


@router.post("/projects/{slug}/agents/{environment}/steps/{deploy_id}/heartbeat")
def heartbeat(
    slug: str,
    environment: str,
    deploy_id: BigRowId,
    body: HeartbeatBody,
    request: Request,
    actor: Actor = Depends(agent_actor),
) -> Lease:
    with store_of(request).write() as session:
        return agents.heartbeat(
            session,
            actor,
            slug,
            environment,
            body.agent,
            deploy_id,
            body.chunk(),
            agent_lease_of(request),
        )


@router.post("/projects/{slug}/agents/{environment}/steps/{deploy_id}/finish", status_code=204)
def finish(
    slug: str,
    environment: str,
    deploy_id: BigRowId,
    body: FinishBody,
    request: Request,
    actor: Actor = Depends(agent_actor),
) -> Response:
    with store_of(request).write() as session:
        agents.finish(
            session, actor, slug, environment, body.agent, deploy_id, body.ok, body.chunk()
        )
    return Response(status_code=204)


@router.get("/projects/{slug}/agents")
def list_agents(
    slug: str, request: Request, actor: Actor = Depends(current_actor)
) -> list[AgentView]:
    with store_of(request).read() as session:
        return agents.list_agents(session, actor, slug, agent_lease_of(request))


@router.put("/projects/{slug}/environments/{environment}/runner")
def set_runner(
    slug: str,
    environment: str,
    body: RunnerBody,
    request: Request,
    actor: Actor = Depends(current_actor),
) -> RunnerView:
    with store_of(request).write() as session:
        return agents.set_runner(session, actor, slug, environment, body.runner)
