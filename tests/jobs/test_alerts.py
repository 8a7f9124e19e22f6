"""The alerts job against a real webhook receiver on loopback: fan-out of the outbox, retries
with backoff, the Slack shape, signatures, spikes from rollups."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests.receiver import Receiver
from trimtab.core.alerts import MAX_ATTEMPTS
from trimtab.core.urls import AddressPolicy
from trimtab.domain.reports import alert_delivery, alerts
from trimtab.domain.spine import projects
from trimtab.domain.spine.actors import SYSTEM
from trimtab.domain.spine.notifications import notify
from trimtab.store import rollups
from trimtab.store.db import Store
from trimtab.store.models import AlertDelivery, Issue, Notification

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
PUBLIC = "http://trimtab.example"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with alert_delivery.new_client(AddressPolicy()) as client:
        yield client


def _project(store: Store) -> int:
    with store.write() as session:
        projects.ensure_organization(session, "acme")
        return projects.create_project(session, SYSTEM, "shop").id


def _target(store: Store, url: str, fmt: str = "json", name: str = "chat") -> str:
    with store.write() as session:
        _, secret = alerts.create_target(session, SYSTEM, "shop", name, url, fmt=fmt)
    return secret


def _rule(store: Store, kind: str, target: str = "chat", **kw: Any) -> int:
    with store.write() as session:
        return alerts.create_rule(session, SYSTEM, "shop", kind=kind, target=target, **kw).id


def _notify(
    store: Store, pid: int, kind: str = "issue.new", env: str | None = "production", **body: Any
) -> None:
    with store.write() as session:
        notify(session, pid, kind, f"{kind} happened", {"issue_id": 7, **body}, environment=env)


def _run(store: Store, http: httpx.Client, now: datetime) -> None:
    alert_delivery.run(store, PUBLIC, now, http)


def _deliveries(store: Store) -> list[AlertDelivery]:
    with store.read() as session:
        return list(session.scalars(select(AlertDelivery).order_by(AlertDelivery.id)))


def test_new_issue__matching_rule__posted_as_generic_json_with_link(
    store: Store, receiver: Receiver, http: httpx.Client
) -> None:
    pid = _project(store)
    _target(store, receiver.url)
    _rule(store, "issue.new")
    _notify(store, pid, title="TypeError: x is undefined", culprit="checkout/pay")
    _run(store, http, T0)
    assert len(receiver.received) == 1
    body = receiver.received[0].json()
    assert body["kind"] == "issue.new" and body["project"] == "shop"
    assert body["environment"] == "production"
    assert body["data"]["culprit"] == "checkout/pay"
    assert body["url"] == f"{PUBLIC}/projects/shop/issues/7"
    assert receiver.received[0].headers["x-trimtab-event"] == "issue.new"
    [delivery] = _deliveries(store)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 1, 200)
    with store.read() as session:
        assert session.scalars(select(Notification)).one().dispatched_at == T0
    _run(store, http, T0 + timedelta(minutes=5))
    assert len(receiver.received) == 1  # sent once


def test_delivery__500s__retried_with_exponential_backoff_until_delivered(
    store: Store, receiver: Receiver, http: httpx.Client
) -> None:
    pid = _project(store)
    _target(store, receiver.url)
    _rule(store, "issue.new")
    receiver.answers = [(500, {}), (502, {})]
    _notify(store, pid)
    _run(store, http, T0)
    [d] = _deliveries(store)
    assert (d.status, d.attempts, d.last_status_code) == ("pending", 1, 500)
    assert d.next_attempt_at == T0 + timedelta(seconds=30)
    assert d.last_error is not None and "HTTP 500" in d.last_error
    _run(store, http, T0 + timedelta(seconds=10))  # not due yet
    assert len(receiver.received) == 1
    _run(store, http, T0 + timedelta(seconds=30))
    [d] = _deliveries(store)
    assert (d.attempts, d.last_status_code) == (2, 502)
    assert d.next_attempt_at == T0 + timedelta(seconds=90)  # then 60 s
    _run(store, http, T0 + timedelta(seconds=90))
    [d] = _deliveries(store)
    assert (d.status, d.attempts, d.last_status_code, d.last_error) == ("delivered", 3, 200, None)
    assert len(receiver.received) == 3
    assert receiver.received[0].body == receiver.received[2].body  # every retry the same


def test_delivery__always_503__gives_up_after_bounded_attempts(
    store: Store, receiver: Receiver, http: httpx.Client
) -> None:
    pid = _project(store)
    _target(store, receiver.url)
    _rule(store, "issue.new")
    receiver.answers = [(503, {})] * 20
    _notify(store, pid)
    now = T0
    for _ in range(MAX_ATTEMPTS + 3):
        _run(store, http, now)
        now += timedelta(hours=2)
    [d] = _deliveries(store)
    assert (d.status, d.attempts, d.next_attempt_at) == ("failed", MAX_ATTEMPTS, None)
    assert len(receiver.received) == MAX_ATTEMPTS


def test_delivery__404__failed_at_once(
    store: Store, receiver: Receiver, http: httpx.Client
) -> None:
    pid = _project(store)
    _target(store, receiver.url)
    _rule(store, "issue.new")
    receiver.answers = [(404, {})]
    _notify(store, pid)
    _run(store, http, T0)
    _run(store, http, T0 + timedelta(hours=1))
    [d] = _deliveries(store)
    assert (d.status, d.attempts, d.last_status_code) == ("failed", 1, 404)


def test_delivery__429_retry_after__waits_as_told(
    store: Store, receiver: Receiver, http: httpx.Client
) -> None:
    pid = _project(store)
    _target(store, receiver.url)
    _rule(store, "issue.new")
    receiver.answers = [(429, {"Retry-After": "600"})]
    _notify(store, pid)
    _run(store, http, T0)
    [d] = _deliveries(store)
    assert d.status == "pending" and d.next_attempt_at == T0 + timedelta(seconds=600)


def test_delivery__unreachable_target__error_logged_and_other_targets_still_served(
    store: Store, receiver: Receiver, http: httpx.Client
) -> None:
    pid = _project(store)
    _target(store, "http://127.0.0.1:9/nothing-listens", name="dead")
    _target(store, receiver.url, name="chat")
    _rule(store, "issue.new", target="dead")
    _rule(store, "issue.new", target="chat")
    _notify(store, pid)
    _notify(store, pid)
    _run(store, http, T0)
    by_target: dict[int, list[AlertDelivery]] = {}
    for d in _deliveries(store):
        by_target.setdefault(d.target_id, []).append(d)
    dead, alive = sorted(by_target.values(), key=lambda ds: ds[0].target_id)
    assert [d.status for d in alive] == ["delivered", "delivered"]
    # The dead target was tried once this run; its second delivery waits for the next one.
    assert sorted(d.attempts for d in dead) == [0, 1]
    tried = next(d for d in dead if d.attempts == 1)
    assert tried.last_status_code is None and tried.last_error
    assert tried.status == "pending" and tried.next_attempt_at == T0 + timedelta(seconds=30)


def test_slack_target__text_and_blocks_shape(
    store: Store, receiver: Receiver, http: httpx.Client
) -> None:
    pid = _project(store)
    _target(store, receiver.url, fmt="slack")
    _rule(store, "issue.regressed")
    _notify(store, pid, "issue.regressed", release="shop@2.3.0", culprit="pay <form>")
    _run(store, http, T0)
    body = receiver.received[0].json()
    assert set(body) == {"text", "blocks"}
    assert body["text"] == "[shop/production] Regression: issue.regressed happened"
    section, fields, context = body["blocks"]
    assert section["type"] == "section" and section["text"]["type"] == "mrkdwn"
    assert f"<{PUBLIC}/projects/shop/issues/7|issue.regressed happened>" in section["text"]["text"]
    texts = [f["text"] for f in fields["fields"]]
    assert "*release*\nshop@2.3.0" in texts
    assert "*culprit*\npay &lt;form&gt;" in texts  # Slack control characters escaped
    assert context["type"] == "context"


def test_signed_target__signature_verifies_with_secret(
    store: Store, receiver: Receiver, http: httpx.Client
) -> None:
    pid = _project(store)
    secret = _target(store, receiver.url)
    _rule(store, "issue.new")
    _notify(store, pid)
    _run(store, http, T0)
    got = receiver.received[0]
    signed = f"{got.headers['x-trimtab-timestamp']}.".encode() + got.body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    assert got.headers["x-trimtab-signature"] == f"sha256={expected}"


def test_rules__environment_filter_family_kinds_and_one_message_per_target(
    store: Store, receiver: Receiver, http: httpx.Client
) -> None:
    pid = _project(store)
    _target(store, receiver.url)
    _rule(store, "issue.new", environment="production")
    _rule(store, "issue.*", name="all-issues")  # same target: still one message
    _rule(store, "deploy.*")
    _notify(store, pid, "issue.new", env="production")
    _notify(store, pid, "deploy.failed", env="staging")
    _notify(store, pid, "flag.auto_off", env="production")  # no rule for flags
    _run(store, http, T0)
    kinds = sorted(r.json()["kind"] for r in receiver.received)
    assert kinds == ["deploy.failed", "issue.new"]
    with store.read() as session:
        assert all(n.dispatched_at for n in session.scalars(select(Notification)))


def _issue(store: Store, pid: int, title: str = "TimeoutError: billing") -> int:
    with store.write() as session:
        issue = Issue(
            project_id=pid,
            fingerprint=hashlib.sha256(title.encode()).hexdigest(),
            title=title,
            first_seen=T0 - timedelta(days=1),
            last_seen=T0 - timedelta(minutes=1),
        )
        session.add(issue)
        session.flush()
        return issue.id


def _events(store: Store, pid: int, issue_id: int, n: int, at: datetime) -> None:
    with store.write() as session:
        rollups.add_counts(session, pid, "production", at, {rollups.issue(issue_id): n})


def test_spike_rule__threshold_crossed__one_alert_per_cooldown_for_that_rule_only(
    store: Store, receiver: Receiver, http: httpx.Client
) -> None:
    pid = _project(store)
    _target(store, receiver.url)
    _target(store, receiver.url + "/pager", name="pager")
    _rule(store, "issue.spike", spike_count=10, spike_minutes=5, cooldown_minutes=30)
    _rule(store, "issue.spike", target="pager", spike_count=100, spike_minutes=5)
    hot, cold = _issue(store, pid), _issue(store, pid, "KeyError: seat")
    _events(store, pid, hot, 6, T0 - timedelta(minutes=3))
    _events(store, pid, hot, 6, T0 - timedelta(minutes=1))
    _events(store, pid, cold, 3, T0 - timedelta(minutes=1))
    _events(store, pid, cold, 50, T0 - timedelta(minutes=30))  # outside the window
    _run(store, http, T0)
    assert len(receiver.received) == 1
    body = receiver.received[0].json()
    assert body["kind"] == "issue.spike" and receiver.received[0].path == "/hook"
    assert body["data"]["issue_id"] == hot and body["data"]["events"] == 12
    _events(store, pid, hot, 20, T0 + timedelta(minutes=2))
    _run(store, http, T0 + timedelta(minutes=3))  # still spiking, inside the cooldown
    assert len(receiver.received) == 1
    _events(store, pid, hot, 20, T0 + timedelta(minutes=33))
    with store.write() as session:
        session.get(Issue, hot).last_seen = T0 + timedelta(minutes=33)  # type: ignore[union-attr]
    _run(store, http, T0 + timedelta(minutes=34))
    assert len(receiver.received) == 2


def test_spike_rule__ignored_issue__no_alert(
    store: Store, receiver: Receiver, http: httpx.Client
) -> None:
    pid = _project(store)
    _target(store, receiver.url)
    _rule(store, "issue.spike", spike_count=1, spike_minutes=5)
    issue_id = _issue(store, pid)
    with store.write() as session:
        session.get(Issue, issue_id).status = "ignored"  # type: ignore[union-attr]
    _events(store, pid, issue_id, 5, T0 - timedelta(minutes=1))
    _run(store, http, T0)
    assert receiver.received == []


def test_notification_without_rules__dispatched_and_never_sent_later(
    store: Store, receiver: Receiver, http: httpx.Client
) -> None:
    pid = _project(store)
    _notify(store, pid)
    _run(store, http, T0)
    _target(store, receiver.url)
    _rule(store, "issue.new")
    _run(store, http, T0 + timedelta(minutes=1))
    assert receiver.received == []


def test_rule_created_after_the_notification_was_queued__not_sent(
    store: Store, receiver: Receiver, http: httpx.Client
) -> None:
    """The job had not run when the rule was made: the older notification is not news."""
    pid = _project(store)
    _target(store, receiver.url)
    _notify(store, pid)
    _rule(store, "issue.new")
    _notify(store, pid, title="after the rule")
    _run(store, http, T0)
    [delivery] = _deliveries(store)
    assert (
        delivery.title == "issue.new happened"
        and delivery.body["data"]["title"] == "after the rule"
    )
