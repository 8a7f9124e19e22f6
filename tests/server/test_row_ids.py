"""Ids out of a database column's range name nothing: 404 (path) or 422 (query), never a 500
from the database (PostgreSQL's integer ids overflow at 2^31, SQLite refuses an int of 2^63).

The routes are found from the app, so a new route with an id in its path is covered, and one
declared with a bare `int` instead of `RowId` fails here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import BaseRoute

from tests.support import ADMIN_PASSWORD
from trimtab.server.app import create_app
from trimtab.settings import Settings
from trimtab.store.db import parse_row_id
from trimtab.store.models import MAX_BIG_ROW_ID, MAX_ROW_ID

OUT_OF_RANGE = [2**63, 2**64, 10**30, 0, -1]  # and each route's own bound + 1
FILL = {
    "slug": "shop",
    "key": "checkout",
    "org": "trimtab",
    "environment": "production",
    "event_id": "9ec79c33ec9942ab8353589fcb2e04dc",
}


def _api_routes(routes: list[BaseRoute], prefix: str = "") -> Iterator[tuple[str, APIRoute]]:
    # FastAPI keeps included routers nested (each with the prefix it was included under).
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            inner = prefix + route.include_context.prefix  # type: ignore[attr-defined]
            yield from _api_routes(included.routes, inner)
        elif isinstance(route, APIRoute):
            yield prefix + route.path, route


def _id_routes(settings: Settings) -> list[tuple[str, str, str, int]]:
    """(method, path template, id parameter, its largest value) of every route with an integer
    in its path."""
    found = []
    for path, route in _api_routes(create_app(settings).routes):
        for param in route.dependant.path_params:
            if param.field_info.annotation is not int:
                continue
            bounds = {type(m).__name__: m for m in param.field_info.metadata}
            bound = getattr(bounds.get("Le"), "le", None)
            assert bound in (MAX_ROW_ID, MAX_BIG_ROW_ID), (
                f"{path}: {param.name} is a bare int; declare it as RowId (or BigRowId)"
            )
            for method in sorted(route.methods - {"HEAD"}):
                found.append((method, path, param.name, bound))
    return found


def _url(template: str, id_name: str, value: int) -> str:
    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        return str(value) if name == id_name else FILL[name]

    return re.sub(r"\{(\w+)\}", fill, template)


@pytest.fixture
def shop(client: TestClient) -> TestClient:
    """A project with a flag, and a dashboard session beside the admin token."""
    assert client.post("/api/v1/projects", json={"slug": "shop"}).status_code == 201
    assert client.post("/api/v1/projects/shop/flags", json={"key": "checkout"}).status_code == 201
    page = client.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf
    login = {"username": "admin", "password": ADMIN_PASSWORD, "csrf_token": csrf.group(1)}
    assert client.post("/login", data=login, follow_redirects=False).status_code == 303
    return client


def _call(client: TestClient, method: str, url: str) -> tuple[int, dict[str, object] | None]:
    kwargs: dict[str, object] = {}
    if method in {"POST", "PUT", "PATCH"}:
        kwargs = {"json": {}} if url.startswith("/api/") else {"data": {"csrf_token": "x"}}
    response = client.request(method, url, follow_redirects=False, **kwargs)  # type: ignore[arg-type]
    is_json = response.headers.get("content-type", "").startswith("application/json")
    return response.status_code, response.json() if is_json else None


def test_routes_with_ids__every_one_found_and_bounded(settings: Settings) -> None:
    bounds = {path: bound for _, path, _, bound in _id_routes(settings)}
    paths = set(bounds)
    assert "/api/v1/issues/{issue_id}" in paths
    assert "/api/v1/projects/{slug}/runs/{run_id}/confirm" in paths
    assert "/api/v1/tokens/{token_id}" in paths
    assert "/projects/{slug}/issues/{issue_id}" in paths
    # Issues have 64-bit ids (a store may hold more than 2^31 of them); tokens do not.
    assert bounds["/api/v1/issues/{issue_id}"] == MAX_BIG_ROW_ID
    assert bounds["/projects/{slug}/issues/{issue_id}"] == MAX_BIG_ROW_ID
    assert bounds["/api/v1/tokens/{token_id}"] == MAX_ROW_ID


def test_path_id__out_of_range__404_with_the_json_error(
    shop: TestClient, settings: Settings
) -> None:
    for method, template, id_name, bound in _id_routes(settings):
        for value in [bound + 1, *OUT_OF_RANGE]:
            url = _url(template, id_name, value)
            status, body = _call(shop, method, url)
            assert status == 404, f"{method} {url}: {status} {body}"
            assert body is not None and body["error"] == "not_found", f"{method} {url}: {body}"


def test_path_id__largest_valid__answered_without_a_server_error(
    shop: TestClient, settings: Settings
) -> None:
    for method, template, id_name, bound in _id_routes(settings):
        url = _url(template, id_name, bound)
        status, body = _call(shop, method, url)
        assert status < 500, f"{method} {url}: {status} {body}"


def test_path_id__not_a_number__404(shop: TestClient) -> None:
    status, body = _call(shop, "GET", "/api/v1/issues/twelve")
    assert status == 404 and body is not None and body["error"] == "not_found"


def test_alert_ref__huge_number__404(shop: TestClient) -> None:
    for kind in ("targets", "rules"):
        # "²" and "٣" are digits to Python's str.isdigit, and int("²") raises.
        for value in (MAX_ROW_ID + 1, 2**63, "²", "٣"):
            url = f"/api/v1/projects/shop/alerts/{kind}/{value}"
            status, body = _call(shop, "DELETE", url)
            assert status == 404 and body is not None and body["error"] == "not_found", body


def test_maintenance_notice_id__out_of_range__422_and_largest_valid_answered(
    shop: TestClient,
) -> None:
    base = "/api/v1/projects/shop/maintenance/production"
    for value in (MAX_ROW_ID + 1, 2**63, 0):
        refused = shop.delete(f"{base}?id={value}")
        assert refused.status_code == 422 and refused.json()["error"] == "invalid"
    assert shop.delete(f"{base}?id={MAX_ROW_ID}").status_code < 500


def test_parse_row_id__only_ascii_digits_in_range() -> None:
    assert parse_row_id("42") == 42
    assert parse_row_id(str(MAX_ROW_ID)) == MAX_ROW_ID
    for text in ("", "0", str(MAX_ROW_ID + 1), str(2**63), "1" * 5000, "²", "٣", "-1", "+1", " 1"):
        assert parse_row_id(text) is None, text
