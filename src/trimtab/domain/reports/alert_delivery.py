"""Getting notifications to people: spike checks, fan-out of the outbox, webhook delivery.

Three steps, each in its own short transaction so ingest (which shares the SQLite write lock)
never waits on the network:

1. `check_spikes` queues `issue.spike` notifications for spike rules whose threshold an issue
   crossed (from the per-minute rollups, never by scanning events);
2. `fan_out` turns each undelivered notification into one delivery per matching target, with
   the body rendered, and marks the notification dispatched;
3. `deliver_due` POSTs due deliveries outside any transaction and records each attempt: done,
   retried later with exponential backoff, or given up (see `core.alerts`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

import trimtab
from trimtab.core import alerts as core
from trimtab.core.urls import AddressPolicy
from trimtab.domain.reports import alerts
from trimtab.domain.reports.alerts import AlertDeliverySummary
from trimtab.domain.results import Result
from trimtab.domain.spine.actors import Actor
from trimtab.domain.spine.notifications import notify
from trimtab.outbound import outbound_client
from trimtab.store import rollups
from trimtab.store.db import Store
from trimtab.store.models import (
    AlertDelivery,
    AlertRule,
    AlertTarget,
    Issue,
    Notification,
    Project,
    SpikeMark,
)

FAN_OUT_BATCH = 200
DELIVERY_BATCH = 50
SPIKE_CANDIDATES = 200  # most recently seen issues checked per rule and run
RUN_BUDGET_S = 20.0  # stop starting new requests after this long; the rest waits a tick
TIMEOUT = httpx.Timeout(5.0, connect=3.0)
MAX_ERROR = 500


# -- 1. spikes -------------------------------------------------------------------------------


def has_spike_rules(session: Session) -> bool:
    query = select(AlertRule.id).where(AlertRule.kind == "issue.spike", AlertRule.enabled)
    return session.scalars(query.limit(1)).first() is not None


def check_spikes(session: Session, now: datetime) -> int:
    """Queue an `issue.spike` notification for each (rule, issue) over its threshold and out
    of its cooldown. Returns how many were queued."""
    queued = 0
    rules = session.scalars(
        select(AlertRule).where(AlertRule.kind == "issue.spike", AlertRule.enabled)
    ).all()
    for rule in rules:
        if rule.spike_count is None or rule.spike_minutes is None:
            continue
        start = now - timedelta(minutes=rule.spike_minutes)
        candidates = session.scalars(
            select(Issue)
            .where(
                Issue.project_id == rule.project_id,
                Issue.last_seen >= start,
                Issue.status != "ignored",
            )
            .order_by(Issue.last_seen.desc())
            .limit(SPIKE_CANDIDATES)
        ).all()
        for issue in candidates:
            count = rollups.count_between(
                session,
                rule.project_id,
                rollups.issue(issue.id),
                start,
                now + timedelta(minutes=1),
                environment=rule.environment,
            )
            if count < rule.spike_count or not _out_of_cooldown(session, rule, issue, now):
                continue
            body = {
                "issue_id": issue.id,
                "rule_id": rule.id,
                "title": issue.title,
                "culprit": issue.culprit,
                "events": count,
                "minutes": rule.spike_minutes,
                "threshold": rule.spike_count,
                "release": issue.last_release,
                "environment": rule.environment,
            }
            title = f"{count} events in {rule.spike_minutes} min: {issue.title}"
            notify(
                session, rule.project_id, "issue.spike", title, body, environment=rule.environment
            )
            queued += 1
    return queued


def _out_of_cooldown(session: Session, rule: AlertRule, issue: Issue, now: datetime) -> bool:
    """True, and the mark moved to `now`, when the rule may fire for this issue again."""
    mark = session.scalars(
        select(SpikeMark).where(SpikeMark.rule_id == rule.id, SpikeMark.issue_id == issue.id)
    ).first()
    quiet = timedelta(minutes=max(rule.cooldown_minutes, rule.spike_minutes or 0))
    if mark is not None and now - mark.fired_at < quiet:
        return False
    if mark is None:
        session.add(SpikeMark(rule_id=rule.id, issue_id=issue.id, fired_at=now))
    else:
        mark.fired_at = now
    session.flush()
    return True


# -- 2. fan-out ------------------------------------------------------------------------------


def has_undispatched(session: Session) -> bool:
    query = select(Notification.id).where(Notification.dispatched_at.is_(None)).limit(1)
    return session.scalars(query).first() is not None


def fan_out(session: Session, now: datetime, public_url: str) -> int:
    """Hand the oldest undispatched notifications to their targets. Returns deliveries made.

    A notification is marked dispatched once its deliveries exist (or no rule matched): from
    then on the delivery log, not the outbox, says whether it arrived.
    """
    notifications = session.scalars(
        select(Notification)
        .where(Notification.dispatched_at.is_(None))
        .order_by(Notification.id)
        .limit(FAN_OUT_BATCH)
    ).all()
    if not notifications:
        return 0
    project_ids = {n.project_id for n in notifications}
    slugs = dict(
        session.execute(select(Project.id, Project.slug).where(Project.id.in_(project_ids))).all()
    )
    rules_by_project: dict[int, list[tuple[AlertRule, AlertTarget]]] = {}
    for rule, target in session.execute(
        select(AlertRule, AlertTarget)
        .join(AlertTarget, AlertTarget.id == AlertRule.target_id)
        .where(AlertRule.project_id.in_(project_ids), AlertRule.enabled)
        .order_by(AlertRule.id)
    ):
        rules_by_project.setdefault(rule.project_id, []).append((rule, target))
    made = 0
    for notification in notifications:
        seen_targets: set[int] = set()
        for rule, target in _matching(
            rules_by_project.get(notification.project_id, ()), notification
        ):
            if target.id in seen_targets:
                continue  # two rules, one target: one message
            seen_targets.add(target.id)
            session.add(
                AlertDelivery(
                    project_id=notification.project_id,
                    target_id=target.id,
                    rule_id=rule.id,
                    notification_id=notification.id,
                    kind=notification.kind,
                    title=notification.title,
                    body=_render(
                        target, notification, slugs.get(notification.project_id, ""), public_url
                    ),
                    status="pending",
                    next_attempt_at=now,
                    created_at=now,
                )
            )
            made += 1
        notification.dispatched_at = now
    session.flush()
    return made


def _matching(
    rules: Iterable[tuple[AlertRule, AlertTarget]], notification: Notification
) -> Iterable[tuple[AlertRule, AlertTarget]]:
    for rule, target in rules:
        if not core.kind_matches(rule.kind, notification.kind):
            continue
        # A rule speaks for what happens after it exists: a backlog queued before it (the job
        # had not run yet) is not news to its target.
        if notification.created_at < rule.created_at:
            continue
        if rule.environment is not None and rule.environment != notification.environment:
            continue
        # A spike notification belongs to the rule whose threshold produced it.
        if (
            notification.kind == "issue.spike"
            and rule.kind == "issue.spike"
            and notification.body.get("rule_id") != rule.id
        ):
            continue
        yield rule, target


def _render(
    target: AlertTarget, notification: Notification, slug: str, public_url: str
) -> dict[str, Any]:
    return core.render(
        target.format,
        kind=notification.kind,
        project=slug,
        environment=notification.environment,
        title=notification.title,
        data=notification.body,
        created_at=notification.created_at,
        link=link_for(public_url, slug, notification.body),
        notification_id=notification.id,
    )


def link_for(public_url: str, slug: str, body: dict[str, Any]) -> str | None:
    """Where the dashboard shows what the notification is about, when trimtab knows."""
    base = public_url.rstrip("/")
    issue_id = body.get("issue_id")
    if isinstance(issue_id, int) and not isinstance(issue_id, bool):
        return f"{base}/projects/{slug}/issues/{issue_id}"
    url = body.get("url")
    if isinstance(url, str) and url.startswith(("http://", "https://")):
        return url
    return None


# -- 3. delivery -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Due:
    """A snapshot of one delivery to attempt, taken so no transaction spans the request."""

    id: int
    target_id: int
    url: str
    secret: str | None
    kind: str
    body: bytes
    attempts: int


@dataclass(frozen=True)
class Attempt:
    status_code: int | None
    error: str | None
    retry_after_s: float | None = None


def due_deliveries(session: Session, now: datetime, limit: int = DELIVERY_BATCH) -> list[Due]:
    rows = session.execute(
        select(AlertDelivery, AlertTarget)
        .join(AlertTarget, AlertTarget.id == AlertDelivery.target_id)
        .where(AlertDelivery.status == "pending", AlertDelivery.next_attempt_at <= now)
        .order_by(AlertDelivery.next_attempt_at, AlertDelivery.id)
        .limit(limit)
    )
    return [
        Due(
            id=delivery.id,
            target_id=target.id,
            url=target.url,
            secret=target.secret,
            kind=delivery.kind,
            body=orjson.dumps(delivery.body),
            attempts=delivery.attempts,
        )
        for delivery, target in rows
    ]


def post(client: httpx.Client, due: Due, delivery_id: int | None = None) -> Attempt:
    """One POST of a delivery's body; never raises for network trouble."""
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"trimtab/{trimtab.__version__}",
        "X-Trimtab-Event": due.kind,
        "X-Trimtab-Delivery": str(delivery_id if delivery_id is not None else due.id),
        "X-Trimtab-Timestamp": str(timestamp),
    }
    if due.secret:
        headers["X-Trimtab-Signature"] = core.sign(due.secret, timestamp, due.body)
    try:
        response = client.post(due.url, content=due.body, headers=headers)
    except httpx.HTTPError as exc:
        return Attempt(None, f"{type(exc).__name__}: {exc}"[:MAX_ERROR] or type(exc).__name__)
    if 200 <= response.status_code < 300:
        return Attempt(response.status_code, None)
    # The status only, never the answer's body: the delivery log (and the test endpoint) must
    # not become a way to read what a server the admin pointed us at returns.
    return Attempt(
        response.status_code,
        f"HTTP {response.status_code}",
        _retry_after(response.headers.get("retry-after")),
    )


def _retry_after(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None  # an HTTP date: the backoff schedule will do


def record_attempt(
    session: Session, delivery_id: int, attempt: Attempt, now: datetime, *, retry: bool = True
) -> AlertDelivery | None:
    delivery = session.get(AlertDelivery, delivery_id)
    if delivery is None:  # its target was deleted meanwhile
        return None
    delivery.attempts += 1
    delivery.last_attempt_at = now
    delivery.last_status_code = attempt.status_code
    delivery.last_error = attempt.error[:MAX_ERROR] if attempt.error else None
    outcome = core.classify(attempt.status_code)
    if outcome == core.Outcome.DELIVERED:
        delivery.status = "delivered"
        delivery.delivered_at = now
        delivery.next_attempt_at = None
    elif outcome == core.Outcome.RETRY and retry:
        after = core.next_attempt(now, delivery.attempts, attempt.retry_after_s)
        delivery.status = "pending" if after is not None else "failed"
        delivery.next_attempt_at = after
    else:
        delivery.status = "failed"
        delivery.next_attempt_at = None
    session.flush()
    return delivery


def deliver_due(
    store: Store, client: httpx.Client, now: datetime, *, budget_s: float = RUN_BUDGET_S
) -> int:
    """Attempt every due delivery (one batch). A target that fails is not tried again in this
    run, so one dead endpoint costs at most one timeout per run. Returns attempts made."""
    with store.read() as session:
        due = due_deliveries(session, now)
    started = time.monotonic()
    failing: set[int] = set()
    attempts = 0
    for item in due:
        if item.target_id in failing or time.monotonic() - started > budget_s:
            continue
        attempt = post(client, item)
        attempts += 1
        if core.classify(attempt.status_code) != core.Outcome.DELIVERED:
            failing.add(item.target_id)
        with store.write() as session:
            record_attempt(session, item.id, attempt, now)
    return attempts


def run(store: Store, public_url: str, now: datetime, client: httpx.Client) -> None:
    """One pass of the alerts job: spikes, fan-out, delivery."""
    with store.read() as session:
        spikes = has_spike_rules(session)
    if spikes:
        with store.write() as session:
            check_spikes(session, now)
    with store.read() as session:
        pending = has_undispatched(session)
    if pending:
        with store.write() as session:
            fan_out(session, now, public_url)
    deliver_due(store, client, now)


def new_client(policy: AddressPolicy) -> httpx.Client:
    # Redirects are not followed: a webhook that moved is a configuration error to see. The
    # policy refuses link-local and metadata destinations (core.urls), checked after DNS.
    return outbound_client(policy, timeout=TIMEOUT)


class GoneDelivery(Result):
    """A test message whose target was deleted while it was being sent."""

    id: int
    status: str  # always "failed"
    error: str


def send_test(
    store: Store,
    actor: Actor,
    slug: str,
    ref: str,
    public_url: str,
    now: datetime,
    policy: AddressPolicy,
) -> AlertDeliverySummary | GoneDelivery:
    """Send a test message to a target now and log it like any delivery (never retried)."""
    with store.write() as session:
        target = alerts.get_target(session, actor, slug, ref, scope="admin")
        title = f"Test message from trimtab to {target.name}"
        body = core.render(
            target.format,
            kind="test",
            project=slug,
            environment=None,
            title=title,
            data={"message": "If you can read this, alerts from trimtab reach you."},
            created_at=now,
            link=f"{public_url.rstrip('/')}/",
            notification_id=None,
        )
        delivery = AlertDelivery(
            project_id=target.project_id,
            target_id=target.id,
            kind="test",
            title=title,
            body=body,
            status="pending",
            next_attempt_at=None,  # not picked up by the job
            created_at=now,
        )
        session.add(delivery)
        session.flush()
        due = Due(delivery.id, target.id, target.url, target.secret, "test", orjson.dumps(body), 0)
    with new_client(policy) as client:
        attempt = post(client, due)
    with store.write() as session:
        recorded = record_attempt(session, due.id, attempt, now, retry=False)
        target_row = session.get(AlertTarget, due.target_id)
        if recorded is None or target_row is None:
            return GoneDelivery(id=due.id, status="failed", error="the target was deleted")
        return AlertDeliverySummary.of(recorded, target_row)
