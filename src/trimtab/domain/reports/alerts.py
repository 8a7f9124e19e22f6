"""Alert rules and webhook targets per project, and the delivery log (see `alert_delivery`).

Defining targets and rules needs the `admin` scope: a target decides where the project's
data is sent. Reading them and the log needs `read`. Changes are audited; secrets never are.
"""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from trimtab.core import alerts as core
from trimtab.core.names import InvalidName, check_name
from trimtab.core.urls import InvalidUrl, check_url
from trimtab.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from trimtab.domain.results import IsoTime, Result
from trimtab.domain.spine import audit, projects
from trimtab.domain.spine.actors import Actor
from trimtab.store.db import parse_row_id
from trimtab.store.models import AlertDelivery, AlertRule, AlertTarget, Project

MAX_SPIKE_COUNT = 1_000_000
MAX_SPIKE_MINUTES = 24 * 60
MAX_SECRET = 200
MAX_DELIVERIES = 500
MAX_COOLDOWN_MINUTES = 7 * 24 * 60


class AlertTargetSummary(Result):
    id: int
    name: str
    url: str
    format: str
    signed: bool  # deliveries carry a signature header (the secret itself is never shown again)
    created_at: IsoTime
    created_by: str

    @classmethod
    def of(cls, target: AlertTarget) -> AlertTargetSummary:
        return cls(
            id=target.id,
            name=target.name,
            url=target.url,
            format=target.format,
            signed=bool(target.secret),
            created_at=target.created_at,
            created_by=target.created_by,
        )


class AlertTargetCreated(AlertTargetSummary):
    secret: str  # shown this once: receivers need it to check signatures


class AlertRuleSummary(Result):
    id: int
    name: str
    kind: str
    environment: str | None
    target: str | None  # None once the rule is deleted
    enabled: bool
    created_at: IsoTime


class SpikeRuleSummary(AlertRuleSummary):
    """An `issue.spike` rule: N events of one issue in M minutes, then quiet for a while."""

    spike_count: int | None
    spike_minutes: int | None
    cooldown_minutes: int


class AlertDeliverySummary(Result):
    id: int
    target: str
    kind: str
    title: str
    status: str  # pending, delivered or failed
    attempts: int
    status_code: int | None  # of the last attempt
    error: str | None  # of the last attempt
    next_attempt_at: IsoTime | None
    created_at: IsoTime | None
    last_attempt_at: IsoTime | None
    delivered_at: IsoTime | None
    notification_id: int | None
    rule_id: int | None

    @classmethod
    def of(cls, delivery: AlertDelivery, target: AlertTarget) -> AlertDeliverySummary:
        return cls(
            id=delivery.id,
            target=target.name,
            kind=delivery.kind,
            title=delivery.title,
            status=delivery.status,
            attempts=delivery.attempts,
            status_code=delivery.last_status_code,
            error=delivery.last_error,
            next_attempt_at=delivery.next_attempt_at,
            created_at=delivery.created_at,
            last_attempt_at=delivery.last_attempt_at,
            delivered_at=delivery.delivered_at,
            notification_id=delivery.notification_id,
            rule_id=delivery.rule_id,
        )


def _name(value: str, what: str) -> str:
    try:
        return check_name(value, what)
    except InvalidName as exc:
        raise InvalidInput(str(exc)) from exc


# -- targets ---------------------------------------------------------------------------------


def create_target(
    session: Session,
    actor: Actor,
    slug: str,
    name: str,
    url: str,
    *,
    fmt: str = "json",
    secret: str | None = None,
) -> tuple[AlertTarget, str]:
    """Create a webhook target; returns it and its signing secret (generated unless given),
    which is shown this once."""
    project = projects.get_project(session, actor, slug, scope="admin")
    name = _name(name, "target name")
    try:
        url = check_url(url, "a webhook URL")
    except InvalidUrl as exc:
        raise InvalidInput(str(exc)) from None
    if fmt not in core.FORMATS:
        raise InvalidInput(f"format must be one of {', '.join(core.FORMATS)}, not {fmt!r}")
    if secret is not None and not 16 <= len(secret) <= MAX_SECRET:
        raise InvalidInput(f"a signing secret has 16 to {MAX_SECRET} characters")
    if _target_named(session, project, name) is not None:
        raise Conflict(f"project {slug!r} already has an alert target {name!r}")
    secret = secret or "whsec_" + secrets.token_urlsafe(24)
    target = AlertTarget(
        project_id=project.id,
        name=name,
        url=url,
        format=fmt,
        secret=secret,
        created_by=actor.label,
    )
    session.add(target)
    session.flush()
    audit.record(
        session,
        actor,
        "alert.target.create",
        target_type="alert_target",
        target_id=f"{slug}/{name}",
        project_id=project.id,
        after=AlertTargetSummary.of(target),
    )
    return target, secret


def list_targets(session: Session, actor: Actor, slug: str) -> list[AlertTarget]:
    project = projects.get_project(session, actor, slug)
    query = select(AlertTarget).where(AlertTarget.project_id == project.id)
    return list(session.scalars(query.order_by(AlertTarget.name)))


def get_target(session: Session, actor: Actor, slug: str, ref: str, *, scope: str) -> AlertTarget:
    """A target by name or by id."""
    project = projects.get_project(session, actor, slug, scope=scope)
    target = _target_named(session, project, ref)
    row_id = parse_row_id(ref) if target is None else None
    if row_id is not None:
        found = session.get(AlertTarget, row_id)
        target = found if found is not None and found.project_id == project.id else None
    if target is None:
        raise NotFound(f"project {slug!r} has no alert target {ref!r}")
    return target


def delete_target(session: Session, actor: Actor, slug: str, ref: str) -> AlertTarget:
    """Delete a target, its rules and its delivery log."""
    target = get_target(session, actor, slug, ref, scope="admin")
    before = AlertTargetSummary.of(target)
    session.delete(target)
    session.flush()
    audit.record(
        session,
        actor,
        "alert.target.delete",
        target_type="alert_target",
        target_id=f"{slug}/{target.name}",
        project_id=target.project_id,
        before=before,
    )
    return target


def _target_named(session: Session, project: Project, name: str) -> AlertTarget | None:
    query = select(AlertTarget).where(
        AlertTarget.project_id == project.id, AlertTarget.name == name
    )
    return session.scalars(query).first()


# -- rules -----------------------------------------------------------------------------------


def create_rule(
    session: Session,
    actor: Actor,
    slug: str,
    *,
    kind: str,
    target: str,
    name: str | None = None,
    environment: str | None = None,
    spike_count: int | None = None,
    spike_minutes: int | None = None,
    cooldown_minutes: int = 60,
) -> AlertRule:
    project = projects.get_project(session, actor, slug, scope="admin")
    _check_rule(session, actor, project, kind, environment, spike_count, spike_minutes)
    _check_cooldown(cooldown_minutes)
    to = get_target(session, actor, slug, target, scope="admin")
    name = _name(name or _default_rule_name(kind, to.name, environment), "rule name")
    taken = select(AlertRule).where(AlertRule.project_id == project.id, AlertRule.name == name)
    if session.scalars(taken).first() is not None:
        raise Conflict(f"project {slug!r} already has an alert rule {name!r}")
    rule = AlertRule(
        project_id=project.id,
        name=name,
        kind=kind,
        environment=environment,
        target_id=to.id,
        spike_count=spike_count,
        spike_minutes=spike_minutes,
        cooldown_minutes=cooldown_minutes,
        enabled=True,
    )
    session.add(rule)
    session.flush()
    audit.record(
        session,
        actor,
        "alert.rule.create",
        target_type="alert_rule",
        target_id=f"{slug}/{name}",
        project_id=project.id,
        environment=environment,
        after=rule_summary(rule, to),
    )
    return rule


def _check_rule(
    session: Session,
    actor: Actor,
    project: Project,
    kind: str,
    environment: str | None,
    spike_count: int | None,
    spike_minutes: int | None,
) -> None:
    """A rule's kind, environment and spike fields, as a new or changed rule must have them."""
    if kind not in core.RULE_KINDS:
        raise InvalidInput(f"rule kind must be one of {', '.join(core.RULE_KINDS)}, not {kind!r}")
    if environment is not None:
        projects.get_environment(session, project, environment, actor=actor, scope="admin")
    if kind == "issue.spike":
        if spike_count is None or spike_minutes is None:
            raise InvalidInput("a spike rule needs a count and minutes (N events in M minutes)")
        if not 1 <= spike_count <= MAX_SPIKE_COUNT:
            raise InvalidInput(f"spike count must be between 1 and {MAX_SPIKE_COUNT}")
        if not 1 <= spike_minutes <= MAX_SPIKE_MINUTES:
            raise InvalidInput(f"spike minutes must be between 1 and {MAX_SPIKE_MINUTES}")
    elif spike_count is not None or spike_minutes is not None:
        raise InvalidInput("count and minutes apply to issue.spike rules only")


def _check_cooldown(cooldown_minutes: int) -> None:
    if not 0 <= cooldown_minutes <= MAX_COOLDOWN_MINUTES:
        raise InvalidInput("cooldown minutes must be between 0 and 10080 (7 days)")


def _default_rule_name(kind: str, target: str, environment: str | None) -> str:
    base = kind.replace(".*", "").replace("*", "all").replace(".", "-")
    name = f"{base}-to-{target}" + (f"-{environment}" if environment else "")
    return name[:64]


def list_rules(session: Session, actor: Actor, slug: str) -> list[tuple[AlertRule, AlertTarget]]:
    project = projects.get_project(session, actor, slug)
    query = (
        select(AlertRule, AlertTarget)
        .join(AlertTarget, AlertTarget.id == AlertRule.target_id)
        .where(AlertRule.project_id == project.id)
        .order_by(AlertRule.name)
    )
    return [(rule, target) for rule, target in session.execute(query)]


def delete_rule(session: Session, actor: Actor, slug: str, ref: str) -> AlertRule:
    """Delete a rule by name or id; its past deliveries stay in the log."""
    project = projects.get_project(session, actor, slug, scope="admin")
    rule = _rule_by_ref(session, project, ref)
    target = session.get(AlertTarget, rule.target_id)
    before = rule_summary(rule, target)
    session.delete(rule)
    session.flush()
    audit.record(
        session,
        actor,
        "alert.rule.delete",
        target_type="alert_rule",
        target_id=f"{slug}/{rule.name}",
        project_id=project.id,
        environment=rule.environment,
        before=before,
    )
    return rule


def update_rule(
    session: Session,
    actor: Actor,
    slug: str,
    ref: str,
    *,
    kind: str | None = None,
    target: str | None = None,
    environment: str | None = None,
    every_environment: bool = False,
    spike_count: int | None = None,
    spike_minutes: int | None = None,
    cooldown_minutes: int | None = None,
    enabled: bool | None = None,
) -> tuple[AlertRule, AlertTarget]:
    """Change a rule (by name or id): what is given changes, the rest stays. A rule that stops
    being a spike rule drops its count and minutes; one that becomes one needs them. Audited
    with the rule before and after; the rule's name stays (other rules and scripts name it)."""
    project = projects.get_project(session, actor, slug, scope="admin")
    rule = _rule_by_ref(session, project, ref)
    if every_environment and environment is not None:
        raise InvalidInput("name an environment or every environment, not both")
    before = rule_summary(rule, session.get(AlertTarget, rule.target_id))
    new_kind = kind if kind is not None else rule.kind
    new_environment = None if every_environment else (environment or rule.environment)
    if new_kind == "issue.spike":
        count = spike_count if spike_count is not None else rule.spike_count
        minutes = spike_minutes if spike_minutes is not None else rule.spike_minutes
    else:
        count, minutes = spike_count, spike_minutes  # refused below when given
    _check_rule(session, actor, project, new_kind, new_environment, count, minutes)
    if cooldown_minutes is not None:
        _check_cooldown(cooldown_minutes)
        rule.cooldown_minutes = cooldown_minutes
    to = get_target(session, actor, slug, target, scope="admin") if target is not None else None
    if to is not None:
        rule.target_id = to.id
    else:
        to = session.get(AlertTarget, rule.target_id)
        assert to is not None  # the foreign key (ON DELETE CASCADE) guarantees it
    rule.kind, rule.environment = new_kind, new_environment
    rule.spike_count, rule.spike_minutes = count, minutes
    if enabled is not None:
        rule.enabled = enabled
    session.flush()
    audit.record(
        session,
        actor,
        "alert.rule.update",
        target_type="alert_rule",
        target_id=f"{slug}/{rule.name}",
        project_id=project.id,
        environment=rule.environment,
        before=before,
        after=rule_summary(rule, to),
    )
    return rule, to


def _rule_by_ref(session: Session, project: Project, ref: str) -> AlertRule:
    """A project's rule by name, else by id; NotFound otherwise."""
    query = select(AlertRule).where(AlertRule.project_id == project.id, AlertRule.name == ref)
    rule = session.scalars(query).first()
    row_id = parse_row_id(ref) if rule is None else None
    if row_id is not None:
        found = session.get(AlertRule, row_id)
        rule = found if found is not None and found.project_id == project.id else None
    if rule is None:
        raise NotFound(f"project {project.slug!r} has no alert rule {ref!r}")
    return rule


def rule_summary(rule: AlertRule, target: AlertTarget | None) -> AlertRuleSummary:
    """The rule; the spike fields come with spike rules only."""
    common = AlertRuleSummary(
        id=rule.id,
        name=rule.name,
        kind=rule.kind,
        environment=rule.environment,
        target=target.name if target is not None else None,
        enabled=rule.enabled,
        created_at=rule.created_at,
    )
    if rule.kind != "issue.spike":
        return common
    return SpikeRuleSummary(
        **dict(common),
        spike_count=rule.spike_count,
        spike_minutes=rule.spike_minutes,
        cooldown_minutes=rule.cooldown_minutes,
    )


# -- the delivery log ------------------------------------------------------------------------


def list_deliveries(
    session: Session,
    actor: Actor,
    slug: str,
    *,
    status: str | None = None,
    limit: int = 50,
) -> list[tuple[AlertDelivery, AlertTarget]]:
    project = projects.get_project(session, actor, slug)
    if actor.environment_id is not None:
        # Deliveries carry issue titles of every environment and name none: not for a token
        # that must see one environment only.
        raise Forbidden("the alert delivery log spans every environment: read it unbound")
    query = (
        select(AlertDelivery, AlertTarget)
        .join(AlertTarget, AlertTarget.id == AlertDelivery.target_id)
        .where(AlertDelivery.project_id == project.id)
        .order_by(AlertDelivery.id.desc())
        .limit(min(max(limit, 1), MAX_DELIVERIES))
    )
    if status is not None:
        query = query.where(AlertDelivery.status == status)
    return [(delivery, target) for delivery, target in session.execute(query)]
