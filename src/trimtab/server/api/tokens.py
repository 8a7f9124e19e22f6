"""/api/v1/tokens and /api/v1/whoami."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request

from trimtab.domain.spine import tokens
from trimtab.domain.spine.actors import Actor
from trimtab.server.api.schemas import TokenCreate
from trimtab.server.auth import current_actor, store_of

router = APIRouter(tags=["tokens"])


@router.get("/whoami")
def whoami(actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    return {
        "actor": actor.label,
        "scopes": sorted(actor.scopes),
        "project_id": actor.project_id,
        "environment_id": actor.environment_id,
    }


@router.get("/tokens")
def list_tokens(
    request: Request,
    project: str | None = Query(default=None, max_length=64),
    actor: Actor = Depends(current_actor),
) -> list[dict[str, Any]]:
    with store_of(request).read() as session:
        return tokens.list_tokens(session, actor, project_slug=project)


@router.post("/tokens", status_code=201)
def create_token(
    body: TokenCreate, request: Request, actor: Actor = Depends(current_actor)
) -> dict[str, Any]:
    with store_of(request).write() as session:
        token, secret = tokens.create_token(
            session,
            actor,
            body.name,
            body.scopes,
            project_slug=body.project,
            environment=body.environment,
        )
        result = tokens.token_to_dict(token)
        result.update(project=body.project, environment=body.environment, token=secret)
        return result


@router.delete("/tokens/{token_id}")
def revoke_token(token_id: int, request: Request, actor: Actor = Depends(current_actor)) -> Any:
    with store_of(request).write() as session:
        return tokens.token_to_dict(tokens.revoke_token(session, actor, token_id))
