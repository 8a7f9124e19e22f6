"""Projects, environments and keys over /api/v1, with auth and the audit trail."""

from __future__ import annotations

from fastapi.testclient import TestClient


def _token(
    client: TestClient, *scopes: str, project: str | None = None, env: str | None = None
) -> str:
    body = {
        "name": "t-" + "-".join(scopes),
        "scopes": list(scopes),
        "project": project,
        "environment": env,
    }
    response = client.post("/api/v1/tokens", json=body)
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    return token


def test_create_project__admin__returns_project_with_environments_and_dsn(
    client: TestClient,
) -> None:
    response = client.post("/api/v1/projects", json={"slug": "shop", "name": "Shop"})
    assert response.status_code == 201
    body = response.json()
    assert body["slug"] == "shop"
    assert body["environments"] == ["development", "staging", "production"]
    assert body["dsn"].startswith("http://") and body["dsn"].endswith(f"@testserver/{body['id']}")


def test_create_project__duplicate__409_json_error(client: TestClient) -> None:
    client.post("/api/v1/projects", json={"slug": "shop"})
    response = client.post("/api/v1/projects", json={"slug": "shop"})
    assert response.status_code == 409
    assert response.json() == {"error": "conflict", "detail": "project 'shop' already exists"}


def test_create_project__bad_slug__422_and_nothing_written(client: TestClient) -> None:
    response = client.post("/api/v1/projects", json={"slug": "Bad Slug!"})
    assert response.status_code == 422
    assert response.json()["error"] == "invalid"
    assert client.get("/api/v1/projects").json() == []
    assert client.get("/api/v1/audit").json() == []


def test_create_project__unknown_field__422(client: TestClient) -> None:
    response = client.post("/api/v1/projects", json={"slug": "x", "owner": "me"})
    assert response.status_code == 422
    assert "owner" in response.json()["detail"]


def test_api__no_token__401(anon_client: TestClient) -> None:
    response = anon_client.get("/api/v1/projects")
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"


def test_api__wrong_token__401(anon_client: TestClient) -> None:
    response = anon_client.get("/api/v1/projects", headers={"Authorization": "Bearer tt_nope"})
    assert response.status_code == 401


def test_create_project__read_token__403_and_no_audit_entry(client: TestClient) -> None:
    client.post("/api/v1/projects", json={"slug": "first"})
    reader = _token(client, "read")
    response = client.post(
        "/api/v1/projects", json={"slug": "second"}, headers={"Authorization": f"Bearer {reader}"}
    )
    assert response.status_code == 403
    actions = [(e["action"], e["target_id"]) for e in client.get("/api/v1/audit").json()]
    assert ("project.create", "first") in actions
    assert ("project.create", "second") not in actions


def test_project_bound_token__other_project__404_not_403(client: TestClient) -> None:
    client.post("/api/v1/projects", json={"slug": "mine"})
    client.post("/api/v1/projects", json={"slug": "theirs"})
    bound = _token(client, "read", project="mine")
    headers = {"Authorization": f"Bearer {bound}"}
    assert client.get("/api/v1/projects/mine", headers=headers).status_code == 200
    assert client.get("/api/v1/projects/theirs", headers=headers).status_code == 404
    listed = client.get("/api/v1/projects", headers=headers).json()
    assert [p["slug"] for p in listed] == ["mine"]


def test_sdk_token__api__403(client: TestClient) -> None:
    client.post("/api/v1/projects", json={"slug": "shop"})
    sdk = _token(client, "sdk-server", project="shop", env="production")
    response = client.get("/api/v1/projects/shop", headers={"Authorization": f"Bearer {sdk}"})
    assert response.status_code == 403


def test_environment_create__audited_with_actor(client: TestClient) -> None:
    client.post("/api/v1/projects", json={"slug": "shop"})
    response = client.post("/api/v1/projects/shop/environments", json={"name": "qa"})
    assert response.status_code == 201
    entry = client.get("/api/v1/audit", params={"action": "environment."}).json()[0]
    assert entry["actor"] == "token:TRIMTAB_ADMIN_TOKEN"
    assert entry["target_id"] == "shop/qa"
    assert entry["environment"] == "qa"


def test_keys__create_and_revoke__listed_with_dsn(client: TestClient) -> None:
    client.post("/api/v1/projects", json={"slug": "shop"})
    key = client.post("/api/v1/projects/shop/keys", json={"name": "mobile"}).json()
    assert key["dsn"].startswith(f"http://{key['public_key']}@testserver/")
    revoked = client.delete(f"/api/v1/projects/shop/keys/{key['public_key']}").json()
    assert revoked["revoked_at"] is not None
    listed = {k["name"]: k for k in client.get("/api/v1/projects/shop/keys").json()}
    assert listed["mobile"]["revoked_at"] is not None and listed["default"]["revoked_at"] is None


def test_body__over_one_megabyte__413_json(client: TestClient) -> None:
    response = client.post(
        "/api/v1/projects",
        content=b'{"slug": "' + b"x" * (1024 * 1024 + 10) + b'"}',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["error"] == "too_large"


def test_unknown_route__404_json(client: TestClient) -> None:
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
