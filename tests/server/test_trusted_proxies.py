"""Ingest counts a browser's `{{auto}}` user by its client address: the peer, or behind a
proxy in TRIMTAB_TRUSTED_PROXIES the address that proxy names in X-Forwarded-For."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.support import ADMIN_TOKEN
from trimtab.core.client_address import parse_networks
from trimtab.server.app import create_app
from trimtab.settings import Settings
from trimtab.store.db import Store


def _shop(settings: Settings, store: Store, proxies: str) -> Iterator[TestClient]:
    settings = dataclasses.replace(settings, trusted_proxies=parse_networks(proxies))
    app = create_app(settings, store=store, run_jobs=False)
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with TestClient(app, headers=headers, client=("10.0.0.1", 40000)) as client:
        assert client.post("/api/v1/projects", json={"slug": "shop"}).status_code == 201
        yield client


@pytest.fixture
def behind_proxy(settings: Settings, store: Store) -> Iterator[TestClient]:
    yield from _shop(settings, store, "10.0.0.0/8")


@pytest.fixture
def direct(settings: Settings, store: Store) -> Iterator[TestClient]:
    yield from _shop(settings, store, "")


def _users_after_two_browsers(client: TestClient) -> int:
    dsn = client.get("/api/v1/projects/shop").json()["dsn"]
    key, project_id = dsn.split("//")[1].split("@")[0], dsn.rsplit("/", 1)[1]
    for address in ("198.51.100.1", "198.51.100.2"):
        event = {"message": "checkout failed", "user": {"ip_address": "{{auto}}"}}
        sent = client.post(
            f"/api/{project_id}/store/?sentry_key={key}",
            json=event,
            headers={"X-Forwarded-For": address},
        )
        assert sent.status_code == 200, sent.text
    (issue,) = client.get("/api/v1/issues", params={"project": "shop"}).json()
    return int(issue["user_count"])


def test_ingest_auto_ip__behind_trusted_proxy__each_forwarded_client_a_user(
    behind_proxy: TestClient,
) -> None:
    assert _users_after_two_browsers(behind_proxy) == 2


def test_ingest_auto_ip__forwarded_for_from_untrusted_peer__one_user(direct: TestClient) -> None:
    assert _users_after_two_browsers(direct) == 1


def test_settings__trusted_proxies_and_stream_cap__read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TRIMTAB_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.7")
    monkeypatch.setenv("TRIMTAB_MAX_STREAMS_PER_TOKEN", "3")
    settings = Settings.from_env(database_url="sqlite://")
    assert [str(n) for n in settings.trusted_proxies] == ["10.0.0.0/8", "192.0.2.7/32"]
    assert settings.max_streams_per_token == 3
    monkeypatch.setenv("TRIMTAB_TRUSTED_PROXIES", "my-proxy")
    with pytest.raises(ValueError, match="TRIMTAB_TRUSTED_PROXIES: 'my-proxy'"):
        Settings.from_env(database_url="sqlite://")
