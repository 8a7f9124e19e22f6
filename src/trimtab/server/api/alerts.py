"""/api/v1/projects/{slug}/alerts: webhook targets, rules and the delivery log."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import Field

from trimtab.core.alerts import FORMATS, RULE_KINDS
from trimtab.domain.reports import alert_delivery, alerts
from trimtab.domain.reports.alert_delivery import GoneDelivery
from trimtab.domain.reports.alerts import (
    AlertDeliverySummary,
    AlertRuleSummary,
    AlertTargetCreated,
    AlertTargetSummary,
    SpikeRuleSummary,
)
from trimtab.domain.spine.actors import Actor
from trimtab.server.api.schemas import Body, Name
from trimtab.server.auth import current_actor, store_of
from trimtab.store.models import utcnow

router = APIRouter(tags=["alerts"])

RuleKind = Literal[RULE_KINDS]  # type: ignore[valid-type]
Format = Literal[FORMATS]  # type: ignore[valid-type]


class TargetCreate(Body):
    name: str = Name
    url: str = Field(min_length=1, max_length=2000)
    format: Format = "json"
    secret: str | None = Field(default=None, min_length=16, max_length=200)


class RuleCreate(Body):
    kind: RuleKind
    target: str = Field(min_length=1, max_length=64)
    name: str | None = Field(default=None, min_length=1, max_length=64)
    environment: str | None = Field(default=None, min_length=1, max_length=64)
    count: int | None = Field(default=None, ge=1, le=alerts.MAX_SPIKE_COUNT)
    minutes: int | None = Field(default=None, ge=1, le=alerts.MAX_SPIKE_MINUTES)
    cooldown_minutes: int = Field(default=60, ge=0, le=alerts.MAX_COOLDOWN_MINUTES)


class RuleUpdate(Body):
    """What changes; a field left out stays as it is."""

    kind: RuleKind | None = None
    target: str | None = Field(default=None, min_length=1, max_length=64)
    environment: str | None = Field(default=None, min_length=1, max_length=64)
    every_environment: bool = Field(default=False, description="Send from every environment")
    count: int | None = Field(default=None, ge=1, le=alerts.MAX_SPIKE_COUNT)
    minutes: int | None = Field(default=None, ge=1, le=alerts.MAX_SPIKE_MINUTES)
    cooldown_minutes: int | None = Field(default=None, ge=0, le=alerts.MAX_COOLDOWN_MINUTES)
    enabled: bool | None = None


@router.get("/projects/{slug}/alerts/targets", status_code=200)
def list_targets(
    slug: str, request: Request, actor: Actor = Depends(current_actor)
) -> list[AlertTargetSummary]:
    with store_of(request).read() as session:
        return [AlertTargetSummary.of(t) for t in alerts.list_targets(session, actor, slug)]


@router.post("/projects/{slug}/alerts/targets", status_code=201)
def create_target(
    slug: str, body: TargetCreate, request: Request, actor: Actor = Depends(current_actor)
) -> AlertTargetCreated:
    with store_of(request).write() as session:
        target, secret = alerts.create_target(
            session, actor, slug, body.name, body.url, fmt=body.format, secret=body.secret
        )
        # The one time the secret is shown: receivers need it to check signatures.
        return AlertTargetCreated(**dict(AlertTargetSummary.of(target)), secret=secret)


@router.delete("/projects/{slug}/alerts/targets/{ref}", status_code=200)
def delete_target(
    slug: str, ref: str, request: Request, actor: Actor = Depends(current_actor)
) -> AlertTargetSummary:
    with store_of(request).write() as session:
        return AlertTargetSummary.of(alerts.delete_target(session, actor, slug, ref[:64]))


@router.post("/projects/{slug}/alerts/targets/{ref}/test", status_code=200)
def test_target(
    slug: str, ref: str, request: Request, actor: Actor = Depends(current_actor)
) -> AlertDeliverySummary | GoneDelivery:
    settings = request.app.state.settings
    return alert_delivery.send_test(
        store_of(request), actor, slug, ref[:64], settings.public_url, utcnow(), settings.outbound
    )


# Spike rules carry three more fields; listed first so a spike rule is never shown as the base.
Rule = SpikeRuleSummary | AlertRuleSummary


@router.get("/projects/{slug}/alerts/rules", status_code=200)
def list_rules(slug: str, request: Request, actor: Actor = Depends(current_actor)) -> list[Rule]:
    with store_of(request).read() as session:
        return [alerts.rule_summary(r, t) for r, t in alerts.list_rules(session, actor, slug)]


@router.post("/projects/{slug}/alerts/rules", status_code=201)
def create_rule(
    slug: str, body: RuleCreate, request: Request, actor: Actor = Depends(current_actor)
) -> Rule:
    with store_of(request).write() as session:
        rule = alerts.create_rule(
            session,
            actor,
            slug,
            kind=body.kind,
            target=body.target,
            name=body.name,
            environment=body.environment,
            spike_count=body.count,
            spike_minutes=body.minutes,
            cooldown_minutes=body.cooldown_minutes,
        )
        return alerts.rule_summary(
            rule, alerts.get_target(session, actor, slug, body.target, scope="read")
        )


@router.patch("/projects/{slug}/alerts/rules/{ref}", status_code=200)
def update_rule(
    slug: str, ref: str, body: RuleUpdate, request: Request, actor: Actor = Depends(current_actor)
) -> Rule:
    with store_of(request).write() as session:
        rule, target = alerts.update_rule(
            session,
            actor,
            slug,
            ref[:64],
            kind=body.kind,
            target=body.target,
            environment=body.environment,
            every_environment=body.every_environment,
            spike_count=body.count,
            spike_minutes=body.minutes,
            cooldown_minutes=body.cooldown_minutes,
            enabled=body.enabled,
        )
        return alerts.rule_summary(rule, target)


@router.delete("/projects/{slug}/alerts/rules/{ref}", status_code=200)
def delete_rule(
    slug: str, ref: str, request: Request, actor: Actor = Depends(current_actor)
) -> Rule:
    with store_of(request).write() as session:
        rule = alerts.delete_rule(session, actor, slug, ref[:64])
        return alerts.rule_summary(rule, None)


@router.get("/projects/{slug}/alerts/deliveries", status_code=200)
def list_deliveries(
    slug: str,
    request: Request,
    status: Literal["pending", "delivered", "failed"] | None = None,
    limit: int = Query(default=50, ge=1, le=alerts.MAX_DELIVERIES),
    actor: Actor = Depends(current_actor),
) -> list[AlertDeliverySummary]:
    with store_of(request).read() as session:
        rows = alerts.list_deliveries(session, actor, slug, status=status, limit=limit)
        return [AlertDeliverySummary.of(d, t) for d, t in rows]
