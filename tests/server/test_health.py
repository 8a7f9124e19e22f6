from __future__ import annotations

from fastapi.testclient import TestClient


def test_healthz__alive(anon_client: TestClient) -> None:
    assert anon_client.get("/healthz").json() == {"status": "ok"}


def test_readyz__migrated_store__ready(anon_client: TestClient) -> None:
    response = anon_client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["status"] == "ready"


def test_openapi__served_under_api_v1(anon_client: TestClient) -> None:
    spec = anon_client.get("/api/v1/openapi.json").json()
    assert "/api/v1/projects" in spec["paths"]
