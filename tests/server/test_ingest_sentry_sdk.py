"""The real `sentry-sdk` (Python) pointed at a real `trimtab serve` process, with a DSN from the
API: what an application sends is what the issue and event API show."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import sentry_sdk

from tests.support import ADMIN_TOKEN, HTTP_TIMEOUT, WAIT, LiveServer

pytestmark = pytest.mark.live


@pytest.fixture
def api(live_server: LiveServer) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with httpx.Client(base_url=live_server.url, headers=headers, timeout=HTTP_TIMEOUT) as client:
        yield client


@pytest.fixture
def dsn(api: httpx.Client) -> str:
    response = api.post("/api/v1/projects", json={"slug": "shop"})
    assert response.status_code == 201, response.text
    value: str = response.json()["dsn"]
    return value


def send(dsn: str, capture: Callable[[sentry_sdk.Scope], Any], **options: Any) -> Any:
    """Capture with a client of our own (not the global one), and wait until it was sent."""
    client = sentry_sdk.Client(
        dsn=dsn,
        release=options.pop("release", "shop@2.3.0"),
        environment=options.pop("environment", "production"),
        default_integrations=False,
        **options,
    )
    try:
        with sentry_sdk.new_scope() as scope:
            scope.set_client(client)
            result = capture(scope)
        client.flush(timeout=WAIT)
    finally:
        client.close(timeout=1)
    return result


def _checkout(amount: int) -> None:
    basket = {"seats": 2, "amount": amount}  # a local the SDK sends with the frame
    raise ValueError(f"payment of {basket['amount']} declined")


def _lookup() -> None:
    raise KeyError("seat")


def _capture_exception(scope: sentry_sdk.Scope, fn: Callable[[], None]) -> str:
    try:
        fn()
    except Exception:
        event_id = scope.capture_exception()
        assert event_id is not None
        return event_id
    raise AssertionError("fn did not raise")


def _issues(api: httpx.Client) -> list[dict[str, Any]]:
    response = api.get("/api/v1/issues", params={"project": "shop"})
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()
    return found


def test_sentry_sdk__exception_with_context__one_issue_whose_event_shows_everything(
    api: httpx.Client, dsn: str
) -> None:
    def capture(scope: sentry_sdk.Scope) -> str:
        scope.add_breadcrumb(category="navigation", message="/movies -> /checkout")
        scope.add_breadcrumb(category="ui.click", message="button#pay", data={"seats": 2})
        scope.set_user({"id": "user-42", "email": "ana@example.com"})
        scope.set_context("device", {"model": "Pixel 8", "family": "Pixel", "battery_level": 71})
        scope.set_tag("screen", "checkout")
        scope.set_extra("cart", {"items": ["seat A4", "seat A5"], "total": 24.5})
        return _capture_exception(scope, lambda: _checkout(2450))

    event_id = send(dsn, capture)

    (issue,) = _issues(api)
    assert issue["title"] == "ValueError: payment of 2450 declined"
    assert issue["event_count"] == 1 and issue["user_count"] == 1
    assert issue["first_release"] == "shop@2.3.0" and issue["first_environment"] == "production"
    event = api.get(f"/api/v1/events/{event_id}").json()
    assert event["issue_id"] == issue["id"]
    assert [c["message"] for c in event["breadcrumbs"]] == [
        "/movies -> /checkout",
        "button#pay",
    ]
    assert event["user"]["id"] == "user-42" and event["user"]["email"] == "ana@example.com"
    assert event["contexts"]["device"]["model"] == "Pixel 8"
    assert event["extra"]["cart"] == {"items": ["seat A4", "seat A5"], "total": 24.5}
    assert {"key": "screen", "value": "checkout"} in event["tags"]
    assert {"key": "device", "value": "Pixel 8"} in event["tags"]  # derived from the context
    (exception,) = event["exception"]
    assert exception["type"] == "ValueError"
    frame = exception["stacktrace"]["frames"][-1]
    assert frame["function"] == "_checkout" and frame["context_line"].strip().startswith("raise")
    assert frame["vars"]["amount"] == "2450"
    assert event["release"] == "shop@2.3.0" and event["sdk"]["name"] == "sentry.python"
    assert event["data"]["event_id"] == event_id  # everything as sent is there too


def test_sentry_sdk__same_twice_other_exception_and_numbered_messages__grouped_as_sentry_would(
    api: httpx.Client, dsn: str
) -> None:
    def capture(scope: sentry_sdk.Scope) -> list[str]:
        return [
            _capture_exception(scope, lambda: _checkout(100)),
            _capture_exception(scope, lambda: _checkout(250)),
            _capture_exception(scope, _lookup),
            scope.capture_message("payment 1234 failed"),
            scope.capture_message("payment 5678 failed"),
        ]

    first, second, other, message_a, message_b = send(dsn, capture)

    found = {i["title"]: i for i in _issues(api)}
    assert len(found) == 3, list(found)
    checkout = api.get(f"/api/v1/events/{first}").json()["issue_id"]
    assert api.get(f"/api/v1/events/{second}").json()["issue_id"] == checkout
    assert api.get(f"/api/v1/events/{other}").json()["issue_id"] != checkout
    message_issue = api.get(f"/api/v1/events/{message_a}").json()["issue_id"]
    assert api.get(f"/api/v1/events/{message_b}").json()["issue_id"] == message_issue
    events = api.get(f"/api/v1/issues/{checkout}/events").json()
    assert {e["event_id"] for e in events} == {first, second}
    assert api.get(f"/api/v1/issues/{message_issue}").json()["event_count"] == 2
