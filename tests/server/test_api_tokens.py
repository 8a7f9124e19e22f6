"""API tokens: scoped, bound, hashed at rest, revocable."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from trimtab.domain.spine import tokens
from trimtab.store.db import Store
from trimtab.store.models import ApiToken, utcnow


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


def _listed(client: TestClient, token_id: int) -> dict[str, object]:
    found = [t for t in client.get("/api/v1/tokens").json() if t["id"] == token_id]
    assert len(found) == 1
    return dict(found[0])


def test_token__used__last_used_listed__not_rewritten_within_the_minute(
    client: TestClient, store: Store
) -> None:
    created = client.post("/api/v1/tokens", json={"name": "cron", "scopes": ["read"]}).json()
    assert _listed(client, created["id"])["last_used_at"] is None
    headers = {"Authorization": f"Bearer {created['token']}"}
    assert client.get("/api/v1/projects", headers=headers).status_code == 200
    first = _listed(client, created["id"])["last_used_at"]
    assert isinstance(first, str)
    for _ in range(5):  # a hot token: the stamp stays as it was
        assert client.get("/api/v1/projects", headers=headers).status_code == 200
    assert _listed(client, created["id"])["last_used_at"] == first


def test_sdk_token__flag_fetch__last_used_stamped(client: TestClient) -> None:
    client.post("/api/v1/projects", json={"slug": "shop"})
    body = {"name": "web", "scopes": ["sdk-server"], "project": "shop", "environment": "production"}
    created = client.post("/api/v1/tokens", json=body).json()
    headers = {"Authorization": f"Bearer {created['token']}"}
    assert client.get("/api/v1/sdk/flags", headers=headers).status_code == 200
    assert _listed(client, created["id"])["last_used_at"] is not None


def test_record_use__at_most_once_a_minute_per_token(store: Store) -> None:
    with store.write() as session:
        row = ApiToken(
            name="hot", prefix="tt_x", secret_sha256="0" * 64, scopes=["read"], created_by="t"
        )
        session.add(row)
        session.flush()
        token_id = row.id
    start = utcnow().replace(microsecond=0)
    steps = [(start, True), (start + timedelta(seconds=59), False)]
    steps += [(start + tokens.LAST_USED_EVERY, True), (start + timedelta(seconds=61), False)]
    for at, written in steps:
        with store.write() as session:
            assert tokens.record_use(session, token_id, at) is written, at
    with store.read() as session:
        stamped = session.get(ApiToken, token_id)
        assert stamped is not None and stamped.last_used_at == start + tokens.LAST_USED_EVERY
