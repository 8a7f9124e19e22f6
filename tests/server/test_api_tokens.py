"""API tokens: scoped, bound, hashed at rest, revocable."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from trimtab.store.db import Store
from trimtab.store.models import ApiToken


def test_token__created__secret_shown_once_and_stored_hashed(
    client: TestClient, store: Store
) -> None:
    created = client.post("/api/v1/tokens", json={"name": "ci", "scopes": ["deploy"]}).json()
    secret = created["token"]
    assert secret.startswith("tt_")
    listed = client.get("/api/v1/tokens").json()
    assert all("token" not in t for t in listed)
    with store.read() as session:
        for row in session.scalars(select(ApiToken)):
            assert secret not in (row.secret_sha256, row.prefix, row.name)
            assert len(row.secret_sha256) == 64


def test_token__revoked__401_from_next_request(client: TestClient) -> None:
    created = client.post("/api/v1/tokens", json={"name": "tmp", "scopes": ["read"]}).json()
    headers = {"Authorization": f"Bearer {created['token']}"}
    assert client.get("/api/v1/projects", headers=headers).status_code == 200
    assert client.delete(f"/api/v1/tokens/{created['id']}").status_code == 200
    assert client.get("/api/v1/projects", headers=headers).status_code == 401
    assert client.get("/api/v1/audit", params={"action": "token.revoke"}).json()[0][
        "target_id"
    ] == str(created["id"])


def test_token__unknown_scope__422(client: TestClient) -> None:
    response = client.post("/api/v1/tokens", json={"name": "x", "scopes": ["root"]})
    assert response.status_code == 422
    assert "root" in response.json()["detail"]


def test_sdk_token__unbound__422(client: TestClient) -> None:
    response = client.post("/api/v1/tokens", json={"name": "x", "scopes": ["sdk-client"]})
    assert response.status_code == 422
    assert "bound" in response.json()["detail"]


def test_sdk_token__mixed_with_api_scope__422(client: TestClient) -> None:
    client.post("/api/v1/projects", json={"slug": "shop"})
    body = {
        "name": "x",
        "scopes": ["sdk-server", "admin"],
        "project": "shop",
        "environment": "production",
    }
    assert client.post("/api/v1/tokens", json=body).status_code == 422


def test_project_admin__cannot_mint_install_wide_token(client: TestClient) -> None:
    client.post("/api/v1/projects", json={"slug": "shop"})
    bound = client.post(
        "/api/v1/tokens", json={"name": "shop-admin", "scopes": ["admin"], "project": "shop"}
    ).json()
    headers = {"Authorization": f"Bearer {bound['token']}"}
    unbound = client.post(
        "/api/v1/tokens", json={"name": "esc", "scopes": ["admin"]}, headers=headers
    )
    assert unbound.status_code == 403
    scoped = client.post(
        "/api/v1/tokens",
        json={"name": "ok", "scopes": ["read"], "project": "shop"},
        headers=headers,
    )
    assert scoped.status_code == 201


def test_whoami__reports_scopes(client: TestClient) -> None:
    assert client.get("/api/v1/whoami").json()["scopes"] == ["admin"]
