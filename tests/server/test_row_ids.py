"""Ids a client puts in a URL are looked up safely: one past the id columns' range (32-bit on
PostgreSQL), past 64 bits, or a "digit" only Python calls one ("²") names no row and gets the
documented 404, not a 500 from the database driver (issue 9, item 9; Schemathesis found
/runs/{id}/confirm past 64 bits on SQLite, and 2**63 - 1 on every id route on PostgreSQL)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from trimtab.demo import workspace
from trimtab.store.db import Store, parse_row_id

IDS = [str(2**31), str(2**63 - 1), str(2**63), str(2**64), "9" * 40]
ROUTES = [
    ("GET", "/api/v1/projects/shop/runs/{id}", None),
    ("POST", "/api/v1/projects/shop/runs/{id}/confirm", {}),
    ("POST", "/api/v1/projects/shop/runs/{id}/cancel", {"reason": "r"}),
    ("GET", "/api/v1/issues/{id}", None),
    ("GET", "/api/v1/issues/{id}/events", None),
    ("POST", "/api/v1/issues/{id}/resolve", {}),
    ("POST", "/api/v1/issues/{id}/ignore", {}),
    ("POST", "/api/v1/issues/{id}/reopen", {}),
    ("DELETE", "/api/v1/tokens/{id}", None),
    ("DELETE", "/api/v1/projects/shop/flags/new-payment-page/schedules/{id}", None),
]
REF_ROUTES = [
    ("DELETE", "/api/v1/projects/shop/alerts/targets/{id}", None),
    ("POST", "/api/v1/projects/shop/alerts/targets/{id}/test", None),
    ("DELETE", "/api/v1/projects/shop/alerts/rules/{id}", None),
]


@pytest.fixture
def shop(client: TestClient, store: Store) -> TestClient:
    with store.write() as session:
        workspace.seed(session)
    return client


@pytest.mark.parametrize(("method", "path", "body"), ROUTES + REF_ROUTES)
def test_route__id_past_64_bits__404_error_body(
    shop: TestClient, method: str, path: str, body: dict[str, object] | None
) -> None:
    refs = [*IDS, "²", "٣"] if (method, path, body) in REF_ROUTES else IDS
    for ref in refs:
        response = shop.request(method, path.format(id=ref), json=body)
        assert response.status_code == 404, (ref, response.text)
        assert set(response.json()) == {"error", "detail"}


def test_parse_row_id__only_ascii_digits_in_range() -> None:
    assert parse_row_id("42") == 42
    assert parse_row_id(str(2**31 - 1)) == 2**31 - 1
    for text in ("", "0", str(2**31), str(2**63), "1" * 5000, "²", "٣", "-1", "+1", " 1", "1e3"):
        assert parse_row_id(text) is None, text
