"""The real `sentry-sdk` (Python) against a real `trimtab serve`: log lines sent with
`enable_logs` appear with the error of their trace; a transaction is counted as not stored,
answered with X-Sentry-Rate-Limits, and the SDK then stops sending transactions (its client
report says so) while errors still arrive."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sentry_sdk
from sentry_sdk import logger as sentry_logger

from tests.support import ADMIN_TOKEN, HTTP_TIMEOUT, WAIT, LiveServer, run_cli

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


def _client(dsn: str, **options: Any) -> sentry_sdk.Client:
    return sentry_sdk.Client(
        dsn=dsn,
        release="shop@2.3.0",
        environment="production",
        default_integrations=False,
        **options,
    )


def _charge(order: int) -> None:
    sentry_logger.info("charging card for order {order}", order=order)
    sentry_logger.warning("card issuer slow: {ms} ms", ms=2300)
    raise ValueError("card declined")


def _usage(api: httpx.Client) -> dict[tuple[str, str], int]:
    response = api.get("/api/v1/projects/shop/usage")
    assert response.status_code == 200, response.text
    return {(u["category"], u["outcome"]): u["count"] for u in response.json()}


def _wait_for(check: Any) -> Any:
    deadline = time.monotonic() + WAIT
    while True:
        found = check()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def test_sentry_sdk__logs_with_enable_logs__shown_with_the_error_of_their_trace(
    api: httpx.Client, dsn: str
) -> None:
    client = _client(dsn, enable_logs=True)
    try:
        with sentry_sdk.new_scope() as scope:
            scope.set_client(client)
            try:
                _charge(1042)
            except ValueError:
                event_id = scope.capture_exception()
            sentry_logger.error("rolled back order {order}", order=1042)
        client.flush(timeout=WAIT)
    finally:
        client.close(timeout=1)
    assert event_id is not None

    logs = api.get(f"/api/v1/events/{event_id}/logs").json()
    event = api.get(f"/api/v1/events/{event_id}").json()
    assert logs["trace_id"] == event["contexts"]["trace"]["trace_id"].replace("-", "")
    before = [(line["level"], line["body"]) for line in logs["before"]]
    assert before == [
        ("info", "charging card for order 1042"),
        ("warn", "card issuer slow: 2300 ms"),
    ]
    assert [line["body"] for line in logs["after"]] == ["rolled back order 1042"]
    first = logs["before"][0]
    assert first["attributes"]["sentry.message.parameter.order"] == 1042  # typed, as sent
    assert first["environment"] == "production" and first["release"] == "shop@2.3.0"

    found = api.get(f"/api/v1/issues/{event['issue_id']}/logs", params={"query": "ROLLED"})
    assert [line["body"] for line in found.json()] == ["rolled back order 1042"]
    assert _usage(api) == {("log_item", "stored"): 3}


def test_sentry_sdk__transactions__counted_rate_limited_and_no_longer_sent(
    api: httpx.Client, dsn: str, live_server: LiveServer
) -> None:
    client = _client(dsn, traces_sample_rate=1.0)
    try:
        with sentry_sdk.new_scope() as scope:
            scope.set_client(client)
            with (
                sentry_sdk.start_transaction(name="checkout", op="http.server"),
                sentry_sdk.start_span(op="db", name="select basket"),
            ):
                pass
            client.flush(timeout=WAIT)
            limited = client.transport._disabled_until  # type: ignore[union-attr]
            assert "transaction" in limited and "span" in limited
            assert "error" not in limited and "log_item" not in limited

            # The second transaction is not sent: the SDK reports it discarded instead.
            with sentry_sdk.start_transaction(name="checkout", op="http.server"):
                pass
            try:
                raise KeyError("basket")
            except KeyError:
                event_id = scope.capture_exception()
        client.flush(timeout=WAIT)
    finally:
        client.close(timeout=1)

    counts = _wait_for(
        lambda: (u := _usage(api)).get(("transaction", "sdk:ratelimit_backoff")) and u
    )
    assert counts[("transaction", "not_supported")] == 1  # only the first one reached trimtab
    assert counts[("span", "not_supported")] == 2  # the transaction's root span and its one span
    assert counts[("transaction", "sdk:ratelimit_backoff")] == 1
    assert api.get(f"/api/v1/events/{event_id}").status_code == 200  # errors still arrive

    shown = run_cli("project", "usage", "shop", url=live_server.url, token=ADMIN_TOKEN)
    assert shown.exit_code == 0, shown.stderr
    assert "transaction" in shown.stdout and "sdk:ratelimit_backoff" in shown.stdout
    as_json = run_cli("--json", "project", "usage", "shop", url=live_server.url, token=ADMIN_TOKEN)
    rows = {(u["category"], u["outcome"]): u["count"] for u in json.loads(as_json.stdout)}
    assert rows == counts
