"""What JSON and URLs allow but the store cannot hold is refused with the documented 4xx error
body, not a 500: integers past 64 bits, and NUL characters (PostgreSQL text cannot hold them).
Found by the fuzzers of issue 9: Hypothesis on the envelope parser, Schemathesis on the API."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from starlette.datastructures import URL

from tests.support import assert_demo_workspace
from trimtab.store.db import Store


@pytest.mark.demo_workspace
def test_flag_config__integer_past_64_bits__422_error_body(
    client: TestClient, store: Store
) -> None:
    assert_demo_workspace(store)
    rule = {
        "constraints": [{"attribute": "plan", "operator": "in", "values": [2**70]}],
        "serve": {"variant": "on"},
    }
    response = client.put(
        "/api/v1/projects/shop/flags/maintenance-banner/environments/production",
        json={"rules": [rule], "reason": "fuzz"},
    )
    assert response.status_code == 422, response.text
    assert response.json() == {
        "error": "invalid",
        "detail": "a flag config's numbers must fit in 64 bits",
    }


def test_ingest__event_with_a_5000_digit_integer__400_invalid_json(client: TestClient) -> None:
    created = client.post("/api/v1/projects", json={"slug": "big"}).json()
    key = URL(created["dsn"]).username
    body = b'{}\n{"type":"event"}\n{"extra":{"n":' + b"1" * 5000 + b"}}\n"
    response = client.post(f"/api/{created['id']}/envelope/?sentry_key={key}", content=body)
    assert response.status_code == 400, response.text
    assert "too long" in response.text


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/v1/projects/shop/releases/health/hourly?release=a%00b", None),
        ("GET", "/api/v1/projects/shop/releases/shop@2.2.1/plan?environment=%00", None),
        ("GET", "/api/v1/projects/sh%00op/flags", None),
        ("POST", "/api/v1/projects", {"slug": "a\x00b"}),
        ("POST", "/api/v1/projects/shop/freezes", {"name": "x", "reason": "\x00", "nested": [{}]}),
    ],
)
@pytest.mark.demo_workspace
def test_api__nul_character_in_url_or_body__4xx_error_body(
    client: TestClient, store: Store, method: str, path: str, body: dict[str, object] | None
) -> None:
    # PostgreSQL text cannot hold NUL: Schemathesis found a 500 on the first two, on PostgreSQL.
    assert_demo_workspace(store)
    response = client.request(method, path, json=body)
    assert response.status_code in (400, 422), response.text
    assert "NUL" in response.json()["detail"]
