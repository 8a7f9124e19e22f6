"""Requests trimtab makes on its own — webhooks, dependency probes — refuse bad URLs when saved,
never reach link-local (cloud metadata) addresses, never echo what a foreign server answered,
and one broken item never stops a job for everyone."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.receiver import Receiver
from trimtab.jobs.dependencies import run_dependency_checks
from trimtab.settings import Settings
from trimtab.store.db import Store
from trimtab.store.models import Dependency, utcnow

ALERTS = "/api/v1/projects/shop/alerts"
DEPENDENCIES = "/api/v1/projects/shop/dependencies"


@pytest.fixture
def shop(client: TestClient) -> TestClient:
    assert client.post("/api/v1/projects", json={"slug": "shop"}).status_code == 201
    return client


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


@pytest.mark.parametrize(
    "url", ["http://billing.internal/health\r\nX-Injected: 1", "http://billing/\x00", "ftp://x/"]
)
def test_dependency_probe_url__line_break_or_bad_scheme__refused_nothing_stored(
    shop: TestClient, url: str
) -> None:
    response = shop.post(DEPENDENCIES, json={"name": "billing-api", "probe_url": url})
    assert response.status_code in (400, 422), response.text
    assert response.json()["error"] in ("invalid", "invalid_input", "bad_request")
    assert shop.get(DEPENDENCIES).json() == []


def test_webhook_target__metadata_address__delivery_refused_not_sent(shop: TestClient) -> None:
    # The decimal spelling of 169.254.169.254: refused after resolution like the address itself.
    for name, url in (("meta", "http://169.254.169.254/latest"), ("meta2", "http://2852039166/")):
        assert shop.post(f"{ALERTS}/targets", json={"name": name, "url": url}).status_code == 201
        result = shop.post(f"{ALERTS}/targets/{name}/test").json()
        assert result["status"] == "failed"
        assert "link-local" in result["error"], result


def test_webhook_target__receiver_answers_with_a_body__status_only_in_the_log(
    shop: TestClient, receiver: Receiver
) -> None:
    receiver.answers = [(500, {})]
    shop.post(f"{ALERTS}/targets", json={"name": "chat", "url": receiver.url})
    result = shop.post(f"{ALERTS}/targets/chat/test").json()
    assert result["error"] == "HTTP 500"  # the receiver's body ("ok") is not echoed


def test_dependency_job__one_stored_url_broken__the_others_still_checked(
    shop: TestClient, store: Store, settings: Settings, receiver: Receiver
) -> None:
    for name in ("billing-api", "pay-library"):
        body = {"name": name, "probe_url": receiver.url}
        assert shop.post(DEPENDENCIES, json=body).status_code == 201, name
    with store.write() as session:
        # As an older build could have stored it, before URLs were checked on save.
        broken = session.scalars(select(Dependency).where(Dependency.name == "billing-api")).one()
        broken.probe_url = "http://billing.internal/\r\nX: 1"
        for dependency in session.scalars(select(Dependency)):
            dependency.next_check_at = utcnow() - timedelta(seconds=1)
    run_dependency_checks(store, settings)
    with store.read() as session:
        checked = {
            d.name: d.last_checked_at is not None for d in session.scalars(select(Dependency))
        }
    assert checked == {"billing-api": True, "pay-library": True}
