"""The login limit counts per (user, client address): a guesser waits longer after each failure,
while the admin logs in from anywhere else. X-Forwarded-For names the client only when it
comes from a proxy in TRIMTAB_TRUSTED_PROXIES.

The app's clock is frozen and moved by hand, so no assertion depends on how fast this runs.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from datetime import datetime, timedelta

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.support import ADMIN_PASSWORD
from trimtab.core.client_address import parse_networks
from trimtab.server.app import create_app
from trimtab.settings import Settings
from trimtab.store.db import Store
from trimtab.store.models import utcnow

ATTACKER = "203.0.113.66"
ADMIN_DESK = "198.51.100.20"


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def _client(settings: Settings, store: Store, peer: str, proxies: str) -> Iterator[TestClient]:
    settings = dataclasses.replace(settings, trusted_proxies=parse_networks(proxies))
    app = create_app(settings, store=store, run_jobs=False)
    with TestClient(app, client=(peer, 40000)) as client:
        app.state.clock = Clock()
        yield client


@pytest.fixture
def behind_proxy(settings: Settings, store: Store) -> Iterator[TestClient]:
    """Requests arrive from the trusted proxy 10.0.0.1, which names the client."""
    yield from _client(settings, store, "10.0.0.1", "10.0.0.0/8")


@pytest.fixture
def direct(settings: Settings, store: Store) -> Iterator[TestClient]:
    """Requests arrive straight from 192.0.2.50; no proxy is trusted."""
    yield from _client(settings, store, "192.0.2.50", "")


def _login(client: TestClient, password: str, via: str | None = None) -> httpx.Response:
    headers = {"X-Forwarded-For": via} if via else {}
    page = client.get("/login")
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, "no CSRF field in the login page"
    return client.post(
        "/login",
        data={"username": "admin", "password": password, "csrf_token": match.group(1)},
        headers=headers,
        follow_redirects=False,
    )


def _fail(client: TestClient, times: int, via: str | None = None) -> None:
    for _ in range(times):
        assert _login(client, "wrong guess", via).status_code == 401


def test_login__guesser_throttled__admin_from_another_address_logs_in(
    behind_proxy: TestClient,
) -> None:
    _fail(behind_proxy, 5, via=ATTACKER)
    refused = _login(behind_proxy, ADMIN_PASSWORD, via=ATTACKER)
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "1"
    assert "Too many failed logins" in refused.text and "1 second" in refused.text
    assert _login(behind_proxy, ADMIN_PASSWORD, via=ADMIN_DESK).status_code == 303


def test_login__backoff__doubles_after_each_failure_up_to_the_cap(
    behind_proxy: TestClient,
) -> None:
    clock: Clock = behind_proxy.app.state.clock  # type: ignore[attr-defined]
    _fail(behind_proxy, 5, via=ATTACKER)
    waits = []
    for _ in range(10):
        refused = _login(behind_proxy, "wrong guess", via=ATTACKER)
        assert refused.status_code == 429
        wait = int(refused.headers["retry-after"])
        waits.append(wait)
        clock.advance(wait)
        _fail(behind_proxy, 1, via=ATTACKER)  # the wait is over: one more try, wrong again
    assert waits == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300]
    assert "5 minutes" in _login(behind_proxy, "wrong guess", via=ATTACKER).text


def test_login__success_after_waiting__resets_the_backoff(behind_proxy: TestClient) -> None:
    clock: Clock = behind_proxy.app.state.clock  # type: ignore[attr-defined]
    _fail(behind_proxy, 5, via=ADMIN_DESK)  # the admin mistyped
    clock.advance(1)
    _fail(behind_proxy, 1, via=ADMIN_DESK)
    assert _login(behind_proxy, ADMIN_PASSWORD, via=ADMIN_DESK).headers["retry-after"] == "2"
    clock.advance(2)
    assert _login(behind_proxy, ADMIN_PASSWORD, via=ADMIN_DESK).status_code == 303
    # Counting starts again from nothing: five free tries, then the shortest wait.
    _fail(behind_proxy, 5, via=ADMIN_DESK)
    assert _login(behind_proxy, ADMIN_PASSWORD, via=ADMIN_DESK).headers["retry-after"] == "1"


def test_login__failures_an_hour_old__forgotten(behind_proxy: TestClient) -> None:
    clock: Clock = behind_proxy.app.state.clock  # type: ignore[attr-defined]
    _fail(behind_proxy, 5, via=ATTACKER)
    clock.advance(3601)
    _fail(behind_proxy, 4, via=ATTACKER)
    assert _login(behind_proxy, ADMIN_PASSWORD, via=ATTACKER).status_code == 303


def test_login__forwarded_for_from_untrusted_peer__ignored(direct: TestClient) -> None:
    # Each guess claims another address; the server counts them all against the real peer.
    for n in range(5):
        assert _login(direct, "wrong guess", via=f"198.51.100.{n}").status_code == 401
    assert _login(direct, ADMIN_PASSWORD, via="198.51.100.99").status_code == 429


def test_login__forwarded_for_from_trusted_proxy__names_the_client(
    behind_proxy: TestClient,
) -> None:
    # A client's own forged hop, left of the proxy's, changes nothing: still the same client.
    for n in range(5):
        forged = f"6.6.6.{n}, {ATTACKER}"
        assert _login(behind_proxy, "wrong guess", via=forged).status_code == 401
    assert _login(behind_proxy, ADMIN_PASSWORD, via=f"7.7.7.7, {ATTACKER}").status_code == 429
    # The proxy itself is not the client: another client behind it is not throttled.
    assert _login(behind_proxy, ADMIN_PASSWORD, via=ADMIN_DESK).status_code == 303
