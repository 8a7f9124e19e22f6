"""Alert targets, rules and the delivery log over /api/v1 and `trimtab alert`."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.receiver import Receiver
from tests.support import ADMIN_TOKEN, ThreadedServer, run_cli

BASE = "/api/v1/projects/shop/alerts"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


@pytest.fixture
def shop(client: TestClient) -> TestClient:
    assert client.post("/api/v1/projects", json={"slug": "shop"}).status_code == 201
    return client


def _read_token(client: TestClient) -> dict[str, str]:
    body = {"name": "reader", "scopes": ["read"], "project": "shop"}
    token = client.post("/api/v1/tokens", json=body).json()["token"]
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(
    "url",
    ["ftp://example.com/hook", "example.com/hook", "http://", "http://exa mple.com/", "x" * 2001],
)
def test_create_target__bad_url__422_and_nothing_written(shop: TestClient, url: str) -> None:
    response = shop.post(f"{BASE}/targets", json={"name": "chat", "url": url})
    assert response.status_code == 422, response.text
    assert shop.get(f"{BASE}/targets").json() == []


def test_create_target__secret_shown_once_and_audited_without_it(shop: TestClient) -> None:
    response = shop.post(
        f"{BASE}/targets",
        json={"name": "chat", "url": "https://hooks.slack.com/services/T/B/x", "format": "slack"},
    )
    assert response.status_code == 201
    created = response.json()
    assert created["secret"].startswith("whsec_") and created["signed"] is True
    listed = shop.get(f"{BASE}/targets").json()
    assert [t["name"] for t in listed] == ["chat"] and "secret" not in listed[0]
    audit = shop.get("/api/v1/audit").json()
    entry = next(e for e in audit if e["action"] == "alert.target.create")
    assert created["secret"] not in json.dumps(entry)


def test_create_target__read_token__403(shop: TestClient) -> None:
    response = shop.post(
        f"{BASE}/targets",
        json={"name": "chat", "url": "https://example.com/hook"},
        headers=_read_token(shop),
    )
    assert response.status_code == 403


def test_create_rule__spike_without_threshold__422_naming_it(shop: TestClient) -> None:
    shop.post(f"{BASE}/targets", json={"name": "chat", "url": "https://example.com/hook"})
    response = shop.post(f"{BASE}/rules", json={"kind": "issue.spike", "target": "chat"})
    assert response.status_code == 422
    assert "count and minutes" in response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"kind": "issue.nope", "target": "chat"}, 422),
        ({"kind": "issue.new", "target": "missing"}, 404),
        ({"kind": "issue.new", "target": "chat", "environment": "mars"}, 404),
        ({"kind": "issue.new", "target": "chat", "count": 5}, 422),
        ({"kind": "issue.new", "target": "chat", "surprise": 1}, 422),
    ],
)
def test_create_rule__bad_input__clear_4xx(
    shop: TestClient, body: dict[str, object], status: int
) -> None:
    shop.post(f"{BASE}/targets", json={"name": "chat", "url": "https://example.com/hook"})
    response = shop.post(f"{BASE}/rules", json=body)
    assert response.status_code == status, response.text
    assert shop.get(f"{BASE}/rules").json() == []


def test_rules__create_list_delete(shop: TestClient) -> None:
    shop.post(f"{BASE}/targets", json={"name": "chat", "url": "https://example.com/hook"})
    spike = shop.post(
        f"{BASE}/rules",
        json={"kind": "issue.spike", "target": "chat", "count": 50, "minutes": 10},
    ).json()
    assert spike["name"] == "issue-spike-to-chat" and spike["spike_count"] == 50
    shop.post(
        f"{BASE}/rules", json={"kind": "deploy.*", "target": "chat", "environment": "production"}
    )
    names = [r["name"] for r in shop.get(f"{BASE}/rules").json()]
    assert names == ["deploy-to-chat-production", "issue-spike-to-chat"]
    assert shop.delete(f"{BASE}/rules/issue-spike-to-chat").status_code == 200
    assert [r["name"] for r in shop.get(f"{BASE}/rules").json()] == ["deploy-to-chat-production"]
    # Deleting the target takes its rules with it.
    assert shop.delete(f"{BASE}/targets/chat").status_code == 200
    assert shop.get(f"{BASE}/rules").json() == []


def _spike_rule(shop: TestClient) -> dict[str, object]:
    shop.post(f"{BASE}/targets", json={"name": "chat", "url": "https://example.com/hook"})
    shop.post(f"{BASE}/targets", json={"name": "pager", "url": "https://example.com/page"})
    body = {"kind": "issue.spike", "target": "chat", "name": "spikes", "count": 50, "minutes": 10}
    created = shop.post(f"{BASE}/rules", json=body)
    assert created.status_code == 201, created.text
    return dict(created.json())


def test_update_rule__given_fields_change__audited_before_and_after(shop: TestClient) -> None:
    rule = _spike_rule(shop)
    change = {"target": "pager", "environment": "production", "minutes": 5, "enabled": False}
    updated = shop.patch(f"{BASE}/rules/spikes", json=change)
    assert updated.status_code == 200, updated.text
    got = updated.json()
    assert (got["target"], got["environment"], got["enabled"]) == ("pager", "production", False)
    assert (got["spike_count"], got["spike_minutes"], got["cooldown_minutes"]) == (50, 5, 60)
    assert got["id"] == rule["id"] and shop.get(f"{BASE}/rules").json() == [got]
    entry = next(e for e in shop.get("/api/v1/audit").json() if e["action"] == "alert.rule.update")
    assert entry["target_id"] == "shop/spikes" and entry["environment"] == "production"
    assert entry["before"]["target"] == "chat" and entry["after"]["target"] == "pager"
    # No longer a spike rule: the count and minutes go; every environment again, by id.
    plain = {"kind": "issue.new", "every_environment": True}
    again = shop.patch(f"{BASE}/rules/{rule['id']}", json=plain).json()
    assert again["kind"] == "issue.new" and again["environment"] is None
    assert "spike_count" not in again


@pytest.mark.parametrize(
    ("change", "status", "words"),
    [
        ({"kind": "issue.new", "count": 5}, 422, "issue.spike rules only"),
        ({"environment": "moon"}, 404, "moon"),
        ({"environment": "production", "every_environment": True}, 422, "not both"),
        ({"target": "nowhere"}, 404, "nowhere"),
        ({"kind": "issue.nope"}, 422, "kind"),
        ({"minutes": 0}, 422, "minutes"),
        ({"cooldown_minutes": 10**6}, 422, "cooldown_minutes"),
        ({"shout": True}, 422, "shout"),
    ],
)
def test_update_rule__bad_input__clear_4xx_and_unchanged(
    shop: TestClient, change: dict[str, object], status: int, words: str
) -> None:
    rule = _spike_rule(shop)
    refused = shop.patch(f"{BASE}/rules/spikes", json=change)
    assert refused.status_code == status, refused.text
    assert words in refused.text
    assert shop.get(f"{BASE}/rules").json() == [rule]
    assert not [e for e in shop.get("/api/v1/audit").json() if e["action"] == "alert.rule.update"]


def test_update_rule__unknown_rule_404__read_token_403(shop: TestClient) -> None:
    _spike_rule(shop)
    assert shop.patch(f"{BASE}/rules/ghost", json={"enabled": False}).status_code == 404
    denied = shop.patch(f"{BASE}/rules/spikes", json={"enabled": False}, headers=_read_token(shop))
    assert denied.status_code == 403


def test_target_test__posts_now_and_logs_the_delivery(shop: TestClient, receiver: Receiver) -> None:
    shop.post(f"{BASE}/targets", json={"name": "chat", "url": receiver.url, "format": "slack"})
    result = shop.post(f"{BASE}/targets/chat/test").json()
    assert result["status"] == "delivered" and result["status_code"] == 200
    assert receiver.received[0].json()["text"].startswith("[shop] Test:")
    log = shop.get(f"{BASE}/deliveries").json()
    assert [(d["kind"], d["status"], d["attempts"]) for d in log] == [("test", "delivered", 1)]


def test_target_test__receiver_500__reported_failed_not_retried(
    shop: TestClient, receiver: Receiver
) -> None:
    receiver.answers = [(500, {})]
    shop.post(f"{BASE}/targets", json={"name": "chat", "url": receiver.url})
    result = shop.post(f"{BASE}/targets/chat/test").json()
    assert (result["status"], result["status_code"]) == ("failed", 500)
    assert result["next_attempt_at"] is None


def test_deliveries__other_project_token__404(shop: TestClient) -> None:
    shop.post("/api/v1/projects", json={"slug": "other"})
    body = {"name": "r", "scopes": ["read"], "project": "other"}
    token = shop.post("/api/v1/tokens", json=body).json()["token"]
    response = shop.get(f"{BASE}/deliveries", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 404


def test_cli_alert__target_rule_test_deliveries_round_trip(
    threaded_server: ThreadedServer, receiver: Receiver
) -> None:
    url = threaded_server.url

    def cli(*args: str) -> str:
        result = run_cli("--json", *args, url=url, token=ADMIN_TOKEN)
        assert result.exit_code == 0, result.stderr
        return result.stdout

    cli("project", "create", "shop")
    created = json.loads(
        cli("alert", "target", "create", "chat", "-p", "shop", "--url", receiver.url)
    )
    assert created["secret"]
    cli(
        "alert",
        "rule",
        "create",
        "-p",
        "shop",
        "--kind",
        "issue.spike",
        "--target",
        "chat",
        "--count",
        "20",
        "--minutes",
        "5",
    )
    rules = json.loads(cli("alert", "rule", "list", "-p", "shop"))
    assert [(r["kind"], r["spike_count"], r["spike_minutes"]) for r in rules] == [
        ("issue.spike", 20, 5)
    ]
    name = rules[0]["name"]
    changed = json.loads(
        cli("alert", "rule", "set", name, "-p", "shop", "--minutes", "15", "--disable")
    )
    assert (changed["spike_count"], changed["spike_minutes"], changed["enabled"]) == (20, 15, False)
    assert json.loads(cli("alert", "rule", "list", "-p", "shop"))[0]["enabled"] is False
    assert json.loads(cli("alert", "target", "test", "chat", "-p", "shop"))["status"] == "delivered"
    log = json.loads(cli("alert", "deliveries", "-p", "shop", "--status", "delivered"))
    assert [d["kind"] for d in log] == ["test"]
    assert json.loads(cli("alert", "target", "list", "-p", "shop"))[0]["name"] == "chat"
    cli("alert", "rule", "delete", rules[0]["name"], "-p", "shop")
    cli("alert", "target", "delete", "chat", "-p", "shop")
    assert json.loads(cli("alert", "target", "list", "-p", "shop")) == []
    bad = run_cli(
        "alert",
        "target",
        "create",
        "x",
        "-p",
        "shop",
        "--url",
        "ftp://x",
        url=url,
        token=ADMIN_TOKEN,
    )
    assert bad.exit_code == 1 and "422" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
