"""/api/v1/tokens and /api/v1/whoami."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request

from trimtab.domain.spine import tokens
from trimtab.domain.spine.actors import Actor, ActorSummary
from trimtab.domain.spine.tokens import TokenCreated, TokenSummary
from trimtab.server.api.schemas import RowId, TokenCreate
from trimtab.server.auth import current_actor, store_of

router = APIRouter(tags=["tokens"])


@router.get("/whoami", status_code=200)
def whoami(actor: Actor = Depends(current_actor)) -> ActorSummary:
    return ActorSummary.of(actor)


@router.get("/tokens", status_code=200)
def list_tokens(
    request: Request,
    project: str | None = Query(default=None, max_length=64),
    actor: Actor = Depends(current_actor),
) -> list[TokenSummary]:
    with store_of(request).read() as session:
        return tokens.list_tokens(session, actor, project_slug=project)


@router.post("/tokens", status_code=201)
def create_token(
    body: TokenCreate, request: Request, actor: Actor = Depends(current_actor)
) -> TokenCreated:
    with store_of(request).write() as session:
        return tokens.create_token(
            session,
            actor,
            body.name,
            body.scopes,
            project_slug=body.project,
            environment=body.environment,
        )


@router.delete("/tokens/{token_id}", status_code=200)
def revoke_token(
    token_id: RowId, request: Request, actor: Actor = Depends(current_actor)
) -> TokenSummary:
    with store_of(request).write() as session:
        # Shown without its project and environment, as the API always has.
        return TokenSummary.of(tokens.revoke_token(session, actor, token_id))
