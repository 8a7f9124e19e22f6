"""FlagClient against a real server: push over SSE, a server that stops and comes back,
dependencies failing (SDK guards, and a probe) and recovering."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.sdk.live import make_flag, sdk_project, start_on_port, wait_for
from tests.support import ADMIN_TOKEN, HTTP_TIMEOUT, WAIT, ThreadedServer, flag_errors, free_port
from trimtab.sdk import BreakerPolicy, DependencyUnavailable, FlagClient

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
KR = {"targetingKey": "user-7", "country": "KR"}
FALLBACK = {"variant": "off", "dependencies": ["billing-api", "pay-library"]}


@pytest.fixture
def admin(threaded_server: ThreadedServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=threaded_server.url, headers=ADMIN, timeout=HTTP_TIMEOUT) as http:
        yield http


@pytest.fixture
def clients() -> Iterator[list[FlagClient]]:
    made: list[FlagClient] = []
    yield made
    for client in made:
        client.close()


def flag_path(key: str, action: str) -> str:
    return f"/api/v1/projects/shop/flags/{key}/environments/production/{action}"


@pytest.mark.live
def test_kill_switch__reaches_a_connected_sdk_over_the_stream(
    threaded_server: ThreadedServer, admin: httpx.Client, clients: list[FlagClient]
) -> None:
    secret = sdk_project(admin)
    make_flag(admin, "new-payment-page")
    # Polling every 5 minutes cannot explain a change seen before the test's deadline (shorter
    # than that): the push does. How fast the push is, is measured by bench/flags.py.
    client = FlagClient(threaded_server.url, secret, poll_interval=300)
    clients.append(client)
    assert client.wait_until_ready(WAIT)
    assert wait_for(lambda: client.stream_connected, WAIT)
    assert client.bool_value("new-payment-page", False, KR) is True
    response = admin.post(flag_path("new-payment-page", "kill"), json={"reason": "payments down"})
    assert response.status_code == 200, response.text
    assert wait_for(lambda: client.bool_value("new-payment-page", True, KR) is False, WAIT)
    assert client.evaluate("new-payment-page", True, KR).reason == "DISABLED"


@pytest.mark.live
def test_server_stopped__sdk_serves_last_rules_never_raises_and_reconnects_on_return(
    database_url: str, tmp_path: Path, clients: list[FlagClient]
) -> None:
    port = free_port()
    server = start_on_port(database_url, tmp_path / "first", port)
    try:
        with httpx.Client(base_url=server.url, headers=ADMIN, timeout=HTTP_TIMEOUT) as http:
            secret = sdk_project(http)
            make_flag(http, "new-payment-page")
        client = FlagClient(server.url, secret, poll_interval=1, timeout=1, metrics_interval=0.2)
        clients.append(client)
        assert client.wait_until_ready(WAIT)
        assert wait_for(lambda: client.stream_connected, WAIT)
    finally:
        server.stop()
    assert wait_for(lambda: not client.stream_connected, WAIT)
    time.sleep(1.5)  # polls and metric reports fail meanwhile
    for _ in range(1000):
        assert client.bool_value("new-payment-page", False, KR) is True
    assert client.evaluate("missing", "code default").value == "code default"
    assert client.refresh() is False

    server = start_on_port(database_url, tmp_path / "second", port)
    try:
        assert wait_for(lambda: client.stream_connected, WAIT), "did not reconnect"
        with httpx.Client(base_url=server.url, headers=ADMIN, timeout=HTTP_TIMEOUT) as http:
            response = http.post(flag_path("new-payment-page", "kill"), json={"reason": "test"})
            assert response.status_code == 200
            assert wait_for(lambda: client.bool_value("new-payment-page", True, KR) is False, WAIT)
            # The evaluations counted while the server was away were kept and delivered.
            shown = http.get("/api/v1/projects/shop/flags/new-payment-page").json()
            assert wait_for(
                lambda: (
                    http.get("/api/v1/projects/shop/flags/new-payment-page").json()["environments"][
                        "production"
                    ]["evaluations"]
                    >= 1000
                ),
                WAIT,
            ), shown
    finally:
        client.close()
        server.stop()


def create_dependency(admin: httpx.Client, name: str, **settings: Any) -> None:
    body = {"name": name, "interval_s": 1, "down_after": 1, "up_after": 2, **settings}
    response = admin.post("/api/v1/projects/shop/dependencies", json=body)
    assert response.status_code == 201, response.text


def serving(client: FlagClient) -> str:
    return str(client.evaluate("new-payment-page", None, KR).reason)


@pytest.mark.live
def test_sdk_guards_failing__bound_flag_falls_back_everywhere_then_returns(
    threaded_server: ThreadedServer, admin: httpx.Client, clients: list[FlagClient]
) -> None:
    secret = sdk_project(admin)
    make_flag(admin, "new-payment-page", fallback=FALLBACK)
    create_dependency(admin, "billing-api", window_s=5)
    policy = BreakerPolicy(consecutive_failures=3, open_s=1.0)
    guarded = FlagClient(threaded_server.url, secret, breaker=policy, report_interval=0.5)
    observer = FlagClient(threaded_server.url, secret)  # guards nothing itself
    clients.extend([guarded, observer])
    assert guarded.wait_until_ready(WAIT) and observer.wait_until_ready(WAIT)
    assert serving(guarded) == serving(observer) == "STATIC"

    for _ in range(3):
        with pytest.raises(ConnectionError), guarded.guard("billing-api"):
            raise ConnectionError("billing timed out")
    with pytest.raises(DependencyUnavailable), guarded.guard("billing-api"):
        pass
    # Locally at once; everywhere once the server has the report.
    assert serving(guarded) == "FALLBACK"
    assert guarded.bool_value("new-payment-page", True, KR) is False
    assert wait_for(lambda: serving(observer) == "FALLBACK", WAIT)
    shown = admin.get("/api/v1/projects/shop/dependencies/billing-api").json()
    assert shown["state"] == "unhealthy"
    assert "open circuit" in shown["state_reason"]
    [bound] = shown["flags"]
    assert bound["serving"] == "fallback"
    assert bound["fallback_status"]["message"].startswith("serving fallback since ")
    assert "billing-api failing" in bound["fallback_status"]["message"]

    # Billing recovers: the half-open trial succeeds, and the reports stop saying "open".
    time.sleep(1.1)
    with guarded.guard("billing-api"):
        pass
    assert guarded.dependency_states() == {"billing-api": "closed"}
    assert wait_for(lambda: serving(observer) == "STATIC", WAIT)
    assert wait_for(lambda: serving(guarded) == "STATIC", WAIT)
    history = admin.get("/api/v1/projects/shop/dependencies/billing-api").json()["history"]
    assert [(h["from"], h["to"]) for h in history] == [
        ("unhealthy", "healthy"),
        ("healthy", "unhealthy"),
    ]
    audit = admin.get("/api/v1/audit", params={"action": "flag.fallback"}).json()
    assert {entry["action"] for entry in audit} >= {"flag.fallback", "flag.fallback_ended"}


class Upstream:
    """A local HTTP endpoint whose status the test sets: the dependency being probed."""

    def __init__(self) -> None:
        self.status = 200
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(upstream.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/health"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.live
def test_probe_failing__bound_flag_falls_back_then_returns_after_recovery(
    threaded_server: ThreadedServer, admin: httpx.Client, clients: list[FlagClient]
) -> None:
    upstream = Upstream()
    try:
        secret = sdk_project(admin)
        make_flag(admin, "new-payment-page", fallback=FALLBACK)
        create_dependency(admin, "pay-library", probe_url=upstream.url, down_after=2)
        client = FlagClient(threaded_server.url, secret)
        clients.append(client)
        assert client.wait_until_ready(WAIT)
        time.sleep(1.5)
        assert serving(client) == "STATIC"
        upstream.status = 500
        assert wait_for(lambda: serving(client) == "FALLBACK", WAIT)
        shown = admin.get("/api/v1/projects/shop/dependencies/pay-library").json()
        assert "HTTP 500 (expected 200)" in shown["state_reason"]
        upstream.status = 200
        assert wait_for(lambda: serving(client) == "STATIC", WAIT)
    finally:
        upstream.close()


@pytest.mark.live
def test_guarded_flag__errors_spike__turned_off_and_pushed_to_the_sdk(
    threaded_server: ThreadedServer, admin: httpx.Client, clients: list[FlagClient]
) -> None:
    from trimtab.domain.spine import projects
    from trimtab.domain.spine.actors import SYSTEM
    from trimtab.jobs.dependencies import run_auto_off_checks
    from trimtab.store.models import utcnow

    secret = sdk_project(admin)
    make_flag(admin, "new-payment-page")
    body = {"environment": "production", "max_errors": 100, "window_s": 600}
    response = admin.put("/api/v1/projects/shop/flags/new-payment-page/guard", json=body)
    assert response.status_code == 200, response.text
    client = FlagClient(threaded_server.url, secret)
    clients.append(client)
    assert client.wait_until_ready(WAIT)
    assert wait_for(lambda: client.stream_connected, WAIT)
    store = threaded_server.app.state.store  # type: ignore[attr-defined]
    with store.read() as session:
        project_id = projects.get_project(session, SYSTEM, "shop").id
    flag_errors(store, project_id, "new-payment-page", utcnow(), 150)
    run_auto_off_checks(store, threaded_server.app.state.settings)  # type: ignore[attr-defined]
    assert wait_for(
        lambda: client.evaluate("new-payment-page", True, KR).reason == "DISABLED", WAIT
    )
    [guard] = admin.get("/api/v1/projects/shop/guards").json()
    assert guard["tripped_at"] is not None
    assert "150 errors with new-payment-page on" in guard["tripped_reason"]
