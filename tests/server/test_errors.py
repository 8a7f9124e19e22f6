"""Error answers shared by every surface: 405 names every method the path takes."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        # Paths several routes share: Starlette alone names only the first route's methods.
        ("PUT", "/api/v1/projects", {"GET", "POST"}),
        ("PATCH", "/api/v1/projects/shop/keys", {"GET", "POST"}),
        ("PUT", "/api/v1/tokens", {"GET", "POST"}),
        ("PUT", "/api/v1/issues/1", {"GET"}),
        ("GET", "/ofrep/v1/evaluate/flags", {"POST", "OPTIONS"}),
        ("DELETE", "/api/frontend", {"GET", "HEAD", "POST", "OPTIONS"}),
        ("PUT", "/api/client/features", {"GET", "HEAD"}),
        ("POST", "/healthz", {"GET"}),
        ("PUT", "/login", {"GET", "POST"}),
        ("POST", "/static/trimtab.css", {"GET", "HEAD"}),
    ],
)
def test_method_not_allowed__any_surface__allow_lists_every_method_of_the_path(
    client: TestClient, method: str, path: str, allowed: set[str]
) -> None:
    response = client.request(method, path)
    assert response.status_code == 405, response.text
    assert set(response.headers["allow"].split(", ")) == allowed
    assert response.json()["error"] == "method_not_allowed"
