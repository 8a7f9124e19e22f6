"""Auto-off rules: turn a flag off by itself when the errors it causes spike.

Named "auto-off" in the code and docs; users still type `trimtab flag guard` and call
`/flags/{key}/guard` (the public names of the first release), while "guard" inside trimtab means
the SDK's dependency guard (sdk/guard.py: a circuit breaker reporting a dependency's health).

A rule belongs to one flag in one environment. Every check (the `flag-auto-off` job) counts,
since the later of "window_s ago" and the flag's last change, the error reports that carry the
flag as evaluated on and those that carry it off (the `flag:<key>=<result>` error rollups written
by ingest; the first, partial minute from the events themselves, so an error received before the
flag's last change never counts). It trips when

- the errors with the flag on reach `max_errors` (when set), or
- with `compare`, they clearly exceed those with it off (`core.auto_off.compare`: a
  one-sided binomial test normalized by exposure, plus a minimum ratio). Exposure is the share
  of evaluations that served "on" in the same window, from SDK metrics; without metrics, the
  flag's rollout percentage.

Tripping turns the flag off through `domain.flags.set_enabled(automatic=True)` (audited and
pushed to every SDK like a manual change), records why on the rule, and notifies the team
(`flag.auto_off`).
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from trimtab.core.auto_off import compare
from trimtab.core.envelope import decode_json_object
from trimtab.core.event_fields import feature_flags
from trimtab.domain.errors import InvalidInput, NotFound
from trimtab.domain.flags import evaluation_hours
from trimtab.domain.flags.flags import rollout_percentage, set_enabled
from trimtab.domain.flags.rule_sets import full_config
from trimtab.domain.results import IsoTime, Result
from trimtab.domain.spine import audit
from trimtab.domain.spine.actors import Actor
from trimtab.domain.spine.notifications import notify
from trimtab.domain.spine.projects import get_environment, get_project
from trimtab.store import rollups
from trimtab.store.models import (
    AutoOffRule,
    Environment,
    Event,
    Flag,
    FlagConfig,
    FlagEvaluationBucket,
    Project,
    utcnow,
)
from trimtab.store.payloads import decompress_payload

AUTO_OFF_ACTOR = Actor(kind="system", name="flag-guard", scopes=frozenset({"admin"}))
SCOPE = "deploy"
LIMITS: dict[str, tuple[float, float]] = {
    "max_errors": (1, 10**9),
    "window_s": (60, 7 * 86400),
    "min_errors": (1, 10**9),
    "min_ratio": (1.0, 1000.0),
    "alpha": (1e-9, 0.1),
}


class AutoOffState(Result):
    """A flag's guard in one environment: its settings, and what its last check saw
    (`last_result`: errors on and off, exposure, the comparison; or why it was skipped)."""

    flag: str
    environment: str
    active: bool
    max_errors: int | None
    window_s: int
    compare: bool
    min_errors: int
    min_ratio: float
    alpha: float
    tripped_at: IsoTime | None
    tripped_reason: str | None
    last_checked_at: IsoTime | None
    last_result: dict[str, Any]


class AutoOffRemoved(Result):
    """What removing a guard answers: the flag and environment, now without a guard."""

    flag: str
    environment: str
    guard: None


def _flag(session: Session, project: Project, key: str) -> Flag:
    flag = session.scalars(
        select(Flag).where(Flag.project_id == project.id, Flag.key == key)
    ).first()
    if flag is None:
        raise NotFound(f"project {project.slug!r} has no flag {key!r}")
    return flag


def _check_limits(values: Mapping[str, Any]) -> None:
    for field, value in values.items():
        if value is None:
            continue
        low, high = LIMITS[field]
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not low <= value <= high
        ):
            raise InvalidInput(f"{field} must be from {low:g} to {high:g}")


def set_auto_off(
    session: Session,
    actor: Actor,
    project_slug: str,
    key: str,
    environment: str,
    *,
    max_errors: int | None = None,
    window_s: int = 600,
    compare_off: bool = True,
    min_errors: int = 10,
    min_ratio: float = 2.0,
    alpha: float = 0.001,
    active: bool = True,
) -> AutoOffRule:
    """Create or replace the guard of `key` in `environment`."""
    project = get_project(session, actor, project_slug, scope=SCOPE)
    env = get_environment(session, project, environment, actor=actor, scope=SCOPE)
    flag = _flag(session, project, key)
    settings = {
        "max_errors": max_errors,
        "window_s": window_s,
        "min_errors": min_errors,
        "min_ratio": min_ratio,
        "alpha": alpha,
    }
    _check_limits(settings)
    if max_errors is None and not compare_off:
        raise InvalidInput("a guard needs --max-errors, a comparison with off, or both")
    guard = session.scalars(
        select(AutoOffRule).where(
            AutoOffRule.flag_id == flag.id, AutoOffRule.environment_id == env.id
        )
    ).first()
    before = auto_off_state(guard, key, env.name).model_dump(mode="json") if guard else None
    if guard is None:
        guard = AutoOffRule(
            project_id=project.id, flag_id=flag.id, environment_id=env.id, created_by=actor.label
        )
        session.add(guard)
    guard.max_errors = max_errors
    guard.window_s = int(window_s)
    guard.compare = compare_off
    guard.min_errors = int(min_errors)
    guard.min_ratio = float(min_ratio)
    guard.alpha = float(alpha)
    guard.active = active
    guard.updated_at = utcnow()
    session.flush()
    after = auto_off_state(guard, key, env.name).model_dump(mode="json")
    audit.record(
        session,
        actor,
        "flag.guard",
        target_type="flag",
        target_id=key,
        project_id=project.id,
        environment=env.name,
        before=before,
        after=after,
    )
    return guard


def remove_auto_off(
    session: Session, actor: Actor, project_slug: str, key: str, environment: str
) -> AutoOffRemoved:
    project = get_project(session, actor, project_slug, scope=SCOPE)
    env = get_environment(session, project, environment, actor=actor, scope=SCOPE)
    flag = _flag(session, project, key)
    guard = session.scalars(
        select(AutoOffRule).where(
            AutoOffRule.flag_id == flag.id, AutoOffRule.environment_id == env.id
        )
    ).first()
    if guard is None:
        raise NotFound(f"flag {key!r} has no guard in {env.name}")
    before = auto_off_state(guard, key, env.name).model_dump(mode="json")
    session.delete(guard)
    audit.record(
        session,
        actor,
        "flag.unguard",
        target_type="flag",
        target_id=key,
        project_id=project.id,
        environment=env.name,
        before=before,
    )
    return AutoOffRemoved(flag=key, environment=env.name, guard=None)


def list_auto_off_rules(session: Session, actor: Actor, project_slug: str) -> list[AutoOffState]:
    project = get_project(session, actor, project_slug)
    rows = session.execute(
        select(AutoOffRule, Flag.key, Environment.name)
        .join(Flag, Flag.id == AutoOffRule.flag_id)
        .join(Environment, Environment.id == AutoOffRule.environment_id)
        .where(AutoOffRule.project_id == project.id)
        .order_by(Flag.key, Environment.name)
    )
    return [
        auto_off_state(guard, key, env)
        for guard, key, env in rows
        if actor.reaches_environment(guard.environment_id)
    ]


def auto_off_state(guard: AutoOffRule, key: str, environment: str) -> AutoOffState:
    return AutoOffState(
        flag=key,
        environment=environment,
        active=guard.active,
        max_errors=guard.max_errors,
        window_s=guard.window_s,
        compare=guard.compare,
        min_errors=guard.min_errors,
        min_ratio=guard.min_ratio,
        alpha=guard.alpha,
        tripped_at=guard.tripped_at,
        tripped_reason=guard.tripped_reason,
        last_checked_at=guard.last_checked_at,
        last_result=guard.last_result or {},
    )


# --- exposure (SDK evaluation counts per minute) ----------------------------------------------


def record_exposure(
    session: Session,
    project_id: int,
    environment_id: int,
    counts: Mapping[str, Mapping[str, int]],
    at: datetime,
) -> None:
    """Add SDK evaluation counts `{flag_key: {variant: n}}` to the minute of `at`.
    (domain.flags.record_evaluations validates the same counts first.)"""
    evaluation_hours.add_counts(
        session,
        FlagEvaluationBucket,
        "minute",
        project_id,
        environment_id,
        counts,
        rollups.minute_of(at),
    )


def prune_exposure(session: Session, before: datetime) -> None:
    session.execute(delete(FlagEvaluationBucket).where(FlagEvaluationBucket.minute < before))


def _exposure(
    session: Session, environment_id: int, key: str, start: datetime, end: datetime
) -> dict[str, int]:
    rows = session.execute(
        select(FlagEvaluationBucket.variant, func.sum(FlagEvaluationBucket.count))
        .where(
            FlagEvaluationBucket.environment_id == environment_id,
            FlagEvaluationBucket.flag_key == key,
            FlagEvaluationBucket.minute >= rollups.minute_of(start),
            FlagEvaluationBucket.minute < end,
        )
        .group_by(FlagEvaluationBucket.variant)
    )
    return {variant: int(n or 0) for variant, n in rows}


# --- errors since an exact instant ---------------------------------------------------------------

# Rollups count per minute (the minute trimtab received each event), but a check counts from
# an instant inside a minute: the flag's last change or the window's start. Whole minutes come
# from the rollups; the first, partial one from the events themselves (what each event's
# `contexts.flags` said about the flag, and when it was received), read only when the rollups
# say that minute holds errors tagged with the flag at all. Events received more than
# SETTLED_AFTER ago are committed and never change, so their tagged receive times are kept and
# every check reads only the events newer than what it kept: each event is read about once
# while checks every 2 s watch the minute of a change, or a window slides over it.
# (Retention keeps an issue's newest events, so the events of the last minutes are there.)
MINUTE = timedelta(minutes=1)
SETTLED_AFTER = timedelta(seconds=10)  # ingest's writer has committed an event by then
MINUTES_KEPT = 256
Sides = tuple[frozenset[str], frozenset[str]]
_MinuteKey = tuple[str, int, str, datetime, frozenset[str], frozenset[str]]


@dataclass
class _KeptMinute:
    """Tagged receive times (epoch seconds, sorted) of a minute's events before `settled`."""

    settled: datetime
    on: list[float]
    off: list[float]


_kept_minutes: OrderedDict[_MinuteKey, _KeptMinute] = OrderedDict()
_kept_lock = threading.Lock()


def error_counts(
    session: Session,
    project_id: int,
    environment: str,
    sides: Sides,
    start: datetime,
    end: datetime,
    now: datetime,
) -> tuple[int, int]:
    """Errors received from `start` (exactly) until `end` carrying the flag as evaluated on
    (`sides[0]`: rollup dimensions) and off (`sides[1]`)."""
    first_full = rollups.minute_of(start)
    if first_full < start:
        first_full += MINUTE
    on, off = (
        sum(
            rollups.count_between(session, project_id, d, first_full, end, environment=environment)
            for d in sorted(dimensions)
        )
        for dimensions in sides
    )
    if first_full > start:
        partial_on, partial_off = _partial_minute(
            session, project_id, environment, sides, start, now
        )
        on, off = on + partial_on, off + partial_off
    return on, off


def _partial_minute(
    session: Session,
    project_id: int,
    environment: str,
    sides: Sides,
    start: datetime,
    now: datetime,
) -> tuple[int, int]:
    minute = rollups.minute_of(start)
    tagged = sum(
        rollups.count_between(
            session, project_id, d, minute, minute + MINUTE, environment=environment
        )
        for d in sorted(sides[0] | sides[1])
    )
    if not tagged:
        return 0, 0
    database = session.get_bind().engine.url.render_as_string(hide_password=True)
    key = (database, project_id, environment, minute, *sides)
    with _kept_lock:
        kept = _kept_minutes.get(key)
        if kept is not None:
            _kept_minutes.move_to_end(key)
    kept = kept or _KeptMinute(minute, [], [])
    on, off = _tagged_times(session, project_id, environment, sides, kept.settled, minute + MINUTE)
    settled = min(minute + MINUTE, now - SETTLED_AFTER)
    if settled > kept.settled:
        # Everything read is at or after kept.settled: appending keeps each list sorted.
        line = settled.timestamp()
        kept = _KeptMinute(
            settled,
            kept.on + [t for t in on if t < line],
            kept.off + [t for t in off if t < line],
        )
        with _kept_lock:
            _kept_minutes[key] = kept
            while len(_kept_minutes) > MINUTES_KEPT:
                _kept_minutes.popitem(last=False)
        on, off = [t for t in on if t >= line], [t for t in off if t >= line]
    cut = start.timestamp()
    return _since(kept.on, cut) + _since(on, cut), _since(kept.off, cut) + _since(off, cut)


def _since(times: list[float], cut: float) -> int:
    return len(times) - bisect_left(times, cut)


def _tagged_times(
    session: Session,
    project_id: int,
    environment: str,
    sides: Sides,
    since: datetime,
    until: datetime,
) -> tuple[list[float], list[float]]:
    """Receive times (sorted) of the events from `since` to `until` that carry the flag on,
    and of those that carry it off, read from the events' own `contexts.flags`."""
    on: list[float] = []
    off: list[float] = []
    rows = session.execute(
        select(Event.received_at, Event.payload)
        .where(
            Event.project_id == project_id,
            Event.environment == environment,
            Event.received_at >= since,
            Event.received_at < until,
        )
        .execution_options(yield_per=500)
    )
    for received_at, payload in rows:
        try:
            event = decode_json_object(decompress_payload(payload), "stored event")
        except ValueError:  # InvalidJson included
            continue  # stored as received; what ingest could not read it did not count either
        for evaluation in feature_flags(event):
            dimension = rollups.flag(evaluation.flag, evaluation.result)
            if dimension in sides[0]:
                on.append(received_at.timestamp())
            elif dimension in sides[1]:
                off.append(received_at.timestamp())
    on.sort()
    off.sort()
    return on, off


# --- checks ------------------------------------------------------------------------------------


def _dimensions(flag: Flag, config: FlagConfig) -> Sides:
    """Rollup dimensions meaning "evaluated on" and "evaluated off" for this flag: the variant
    names and (scalar) values, as ingest writes them (`rollups.flag(key, result)`)."""
    on: set[str] = set()
    off: set[str] = set()
    for name, value in flag.variants.items():
        side = off if name == config.off_variant else on
        side.add(rollups.flag(flag.key, name))
        if isinstance(value, bool | str | int | float):
            side.add(rollups.flag(flag.key, value))
    both = on & off
    return frozenset(on - both), frozenset(off - both)


def active_rule_ids(session: Session) -> list[int]:
    return list(session.scalars(select(AutoOffRule.id).where(AutoOffRule.active.is_(True))))


def check_rule_id(session: Session, rule_id: int, now: datetime | None = None) -> bool:
    """`check_rule` by id, for the job (a rule removed meanwhile is skipped)."""
    rule = session.get(AutoOffRule, rule_id)
    return rule is not None and check_rule(session, rule, now)


def check_rule(session: Session, guard: AutoOffRule, now: datetime | None = None) -> bool:
    """One check of one guard (see the module doc). Returns whether it turned the flag off."""
    now = now or utcnow()
    flag = session.get(Flag, guard.flag_id)
    env = session.get(Environment, guard.environment_id)
    project = session.get(Project, guard.project_id)
    assert flag is not None and env is not None and project is not None  # foreign keys
    guard.last_checked_at = now
    config = session.scalars(
        select(FlagConfig).where(FlagConfig.flag_id == flag.id, FlagConfig.environment_id == env.id)
    ).first()
    if config is None or not config.enabled or flag.archived_at is not None:
        guard.last_result = {"skipped": "the flag is off here"}
        return False
    # Errors from before the flag's last change belong to another configuration.
    start = max(now - timedelta(seconds=guard.window_s), config.changed_at)
    end = now + timedelta(minutes=1)
    errors_on, errors_off = error_counts(
        session, project.id, env.name, _dimensions(flag, config), start, end, now
    )
    exposure = _exposure(session, env.id, flag.key, start, end)
    evaluated = sum(exposure.values())
    if evaluated:
        share: float | None = 1 - exposure.get(config.off_variant, 0) / evaluated
        source = f"{evaluated} SDK evaluations"
    else:
        percentage = rollout_percentage(full_config(flag, config))
        share = None if percentage is None else percentage / 100
        source = "the rollout percentage" if share is not None else "unknown"
    result: dict[str, Any] = {
        "since": start.isoformat(),
        "errors_on": errors_on,
        "errors_off": errors_off,
        "exposure_on": share,
        "exposure_source": source,
    }
    reason = None
    if guard.max_errors is not None and errors_on >= guard.max_errors:
        minutes = max(1, round((now - start).total_seconds() / 60))
        reason = (
            f"{errors_on} errors with {flag.key} on in {minutes} min (limit {guard.max_errors})"
        )
    elif guard.compare and share is not None:
        verdict = compare(
            errors_on,
            errors_off,
            share,
            min_errors=guard.min_errors,
            min_ratio=guard.min_ratio,
            alpha=guard.alpha,
        )
        result.update(p_value=verdict.p_value, ratio=verdict.ratio, comparison=verdict.reason)
        if verdict.trip:
            reason = f"errors with {flag.key} on clearly exceed those with it off: {verdict.reason}"
    result["tripped"] = reason is not None
    guard.last_result = result
    if reason is None:
        return False
    guard.tripped_at = now
    guard.tripped_reason = reason[:1000]
    set_enabled(
        session,
        AUTO_OFF_ACTOR,
        project.slug,
        flag.key,
        env.name,
        False,
        reason[:1000],
        automatic=True,
    )
    audit.record(
        session,
        AUTO_OFF_ACTOR,
        "flag.auto_off",
        target_type="flag",
        target_id=flag.key,
        project_id=project.id,
        environment=env.name,
        after={"enabled": False, "automatic": True, **result},
        reason=reason[:1000],
    )
    notify(
        session,
        project.id,
        "flag.auto_off",
        f"{flag.key} turned off in {env.name}: its errors spiked",
        {"flag": flag.key, "environment": env.name, "reason": reason, **result},
        environment=env.name,
    )
    return True
