"""A token bound to one environment acts in that environment only, on flag routes too
(issue 9, item 2: a deploy token bound to staging flipped and killed production flags)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

FLAGS = "/api/v1/projects/shop/flags"


@pytest.fixture
def staging_deployer(client: TestClient) -> dict[str, str]:
    assert client.post("/api/v1/projects", json={"slug": "shop"}).status_code == 201
    body = {"key": "new-payment-page", "type": "boolean"}
    assert client.post(FLAGS, json=body).status_code == 201
    token = {"name": "ci", "scopes": ["deploy"], "project": "shop", "environment": "staging"}
    secret = client.post("/api/v1/tokens", json=token).json()["token"]
    return {"Authorization": f"Bearer {secret}"}


FLAG = f"{FLAGS}/new-payment-page/environments"
OPERATIONS: dict[str, Callable[[TestClient, str, dict[str, str]], int]] = {
    "on": lambda c, env, h: c.post(f"{FLAG}/{env}/on", headers=h).status_code,
    "kill": lambda c, env, h: (
        c.post(f"{FLAG}/{env}/kill", json={"reason": "INC-1"}, headers=h).status_code
    ),
    "rollout": lambda c, env, h: (
        c.post(f"{FLAG}/{env}/rollout", json={"percentage": 50}, headers=h).status_code
    ),
}


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_flag_operation__token_bound_to_staging__refused_in_production_allowed_in_staging(
    client: TestClient, staging_deployer: dict[str, str], operation: str
) -> None:
    act = OPERATIONS[operation]
    assert act(client, "production", staging_deployer) == 403
    assert act(client, "staging", staging_deployer) == 200
