"""What the flag page's forms do: each action turns the posted form into the call its API
route makes (`domain.flags`), so the validation, the audit entry, the scope and environment
checks and the push to connected SDKs are the API's own.

Operational (a `deploy` scope): on / off, the kill switch, the rollout percentage, schedules.
Definitions (`admin`): the environment's rules, default and off variants (`flags.set_config`,
what `PUT …/environments/{env}` calls) and the variants (`flags.update_definition`, what
`PATCH …/flags/{key}` calls). Rules are edited as the JSON the API takes, in a textarea, and
moved or deleted one at a time; both carry the version of the rules the page showed, so an edit
made on a stale page is refused instead of undoing someone else's change.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from typing import Any

import orjson
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from trimtab.domain.errors import Conflict, InvalidInput
from trimtab.domain.flags import flags, rule_sets, schedules
from trimtab.domain.spine.actors import Actor
from trimtab.domain.spine.projects import get_project
from trimtab.store.models import FlagConfig

FIELD = 64
NAME = 128
# Bounded well above the domain's own limits, so an over-long value is refused by the domain
# with its message on the page; only absurd input meets the hard bound.
TEXT = 4 * flags.MAX_REASON
CONFIG_TEXT = 2 * flags.MAX_CONFIG_BYTES
CSRF = 100
MOVES = ("up", "down", "delete")


class ActionForm(BaseModel):
    """What the flag page's forms post; each action reads the fields it needs."""

    csrf_token: str = Field(default="", max_length=CSRF)
    environment: str = Field(default="", max_length=FIELD)
    state: str = Field(default="", max_length=FIELD)
    percentage: str = Field(default="", max_length=FIELD)
    variant: str = Field(default="", max_length=NAME)
    reason: str = Field(default="", max_length=TEXT)
    confirm: str = Field(default="", max_length=FIELD)
    rules: str = Field(default="", max_length=CONFIG_TEXT)
    version: str = Field(default="", max_length=FIELD)
    default_variant: str = Field(default="", max_length=NAME)
    off_variant: str = Field(default="", max_length=NAME)
    variants: str = Field(default="", max_length=CONFIG_TEXT)
    rule: str = Field(default="", max_length=FIELD)
    move: str = Field(default="", max_length=FIELD)
    kind: str = Field(default="", max_length=FIELD)
    at: str = Field(default="", max_length=FIELD)
    steps: str = Field(default="", max_length=TEXT)
    schedule: str = Field(default="", max_length=FIELD)


def rules_version(rules: Sequence[Any]) -> str:
    """A short fingerprint of a rule list: what the page showed, checked when it posts."""
    return hashlib.sha256(orjson.dumps(list(rules), option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


def rules_text(rules: Sequence[Any]) -> str:
    """A rule list as the editor shows it: the API's JSON, indented."""
    return orjson.dumps(list(rules), option=orjson.OPT_INDENT_2).decode()


def _stored_rules(session: Session, actor: Actor, slug: str, key: str, env: str) -> list[Any]:
    project = get_project(session, actor, slug)
    flag = flags.get_flag(session, project, key)
    environment = rule_sets.environment_by_name(session, project.id, env)
    row = session.scalars(
        select(FlagConfig).where(
            FlagConfig.flag_id == flag.id, FlagConfig.environment_id == environment.id
        )
    ).first()
    return list(rule_sets.full_config(flag, row)["rules"])


def _check_version(current: Sequence[Any], form: ActionForm) -> None:
    if form.version and form.version != rules_version(current):
        raise Conflict(
            f"the rules in {form.environment} changed since this page was loaded; "
            "your edit is below, the current rules are on the page"
        )


def _json(text: str, what: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"{what}: not valid JSON ({exc})") from None


def _switch(session: Session, actor: Actor, slug: str, key: str, form: ActionForm) -> None:
    if form.state not in ("on", "off"):
        raise InvalidInput("state must be 'on' or 'off'")
    on = form.state == "on"
    flags.set_enabled(session, actor, slug, key, form.environment, on, reason=form.reason or None)


def _kill(session: Session, actor: Actor, slug: str, key: str, form: ActionForm) -> None:
    if form.confirm != "yes":
        raise InvalidInput("confirm the kill switch: tick the box, then press Kill")
    flags.kill(session, actor, slug, key, form.environment, form.reason)


def _rollout(session: Session, actor: Actor, slug: str, key: str, form: ActionForm) -> None:
    flags.rollout(
        session,
        actor,
        slug,
        key,
        form.environment,
        percentage(form.percentage),
        variant=form.variant or None,
        reason=form.reason or None,
    )


def _config(session: Session, actor: Actor, slug: str, key: str, form: ActionForm) -> None:
    """The environment's rules (JSON), default and off variant: the API's config update."""
    rules = _json(form.rules.strip() or "[]", "rules")
    if not isinstance(rules, list):
        raise InvalidInput('rules: a JSON list of rules, like [] or [{"serve": {…}}]')
    changes: dict[str, Any] = {"rules": rules}
    if form.default_variant:
        changes["default_variant"] = form.default_variant
    if form.off_variant:
        changes["off_variant"] = form.off_variant
    shown = _stored_rules(session, actor, slug, key, form.environment)
    flags.set_config(
        session, actor, slug, key, form.environment, changes, reason=form.reason or None
    )
    # After the domain's own checks (a read-only user is refused as such); raising here rolls
    # the change back.
    _check_version(shown, form)


def _move_rule(session: Session, actor: Actor, slug: str, key: str, form: ActionForm) -> None:
    """Move one rule up or down, or delete it: the API's config update with the new list."""
    shown = _stored_rules(session, actor, slug, key, form.environment)
    rules = list(shown)
    if form.move not in MOVES:
        raise InvalidInput(f"move must be one of {', '.join(MOVES)}")
    index = int(form.rule) if form.rule.isascii() and form.rule.isdigit() else -1
    if not 0 <= index < len(rules):
        raise InvalidInput(f"{form.environment} has no rule {form.rule!r}")
    if form.move == "delete":
        del rules[index]
    else:
        other = index - 1 if form.move == "up" else index + 1
        if not 0 <= other < len(rules):
            end = "first" if other < 0 else "last"
            raise InvalidInput(f"rule {index + 1} is already the {end}")
        rules[index], rules[other] = rules[other], rules[index]
    flags.set_config(
        session, actor, slug, key, form.environment, {"rules": rules}, reason=form.reason or None
    )
    _check_version(shown, form)


def _variants(session: Session, actor: Actor, slug: str, key: str, form: ActionForm) -> None:
    """The flag's variants (JSON object name -> value): the API's definition update."""
    variants = _json(form.variants, "variants")
    if not isinstance(variants, dict):
        raise InvalidInput('variants: a JSON object of name -> value, like {"on": true}')
    flags.update_definition(session, actor, slug, key, variants=variants)


def _schedule(session: Session, actor: Actor, slug: str, key: str, form: ActionForm) -> None:
    """Schedule on / off / a rollout percentage at a time, or a ramp of steps."""
    steps = ramp_steps(form.steps) if form.kind == "ramp" else None
    schedules.create_schedule(
        session,
        actor,
        slug,
        key,
        form.environment,
        form.kind,
        at=None if steps is not None else form.at.strip() or None,
        percentage=percentage(form.percentage) if form.percentage.strip() else None,
        steps=steps,
        reason=form.reason or None,
    )


def _unschedule(session: Session, actor: Actor, slug: str, key: str, form: ActionForm) -> None:
    schedule_id = form.schedule
    if not (schedule_id.isascii() and schedule_id.isdigit() and len(schedule_id) < 19):
        raise InvalidInput(f"no schedule {schedule_id!r}")
    schedules.cancel_schedule(session, actor, slug, key, int(schedule_id))


def ramp_steps(text: str) -> list[dict[str, Any]]:
    """A ramp typed one step a line, `2026-12-02T09:00 25` (UTC unless an offset is given)."""
    steps: list[dict[str, Any]] = []
    for number, line in enumerate(text.splitlines(), 1):
        words = line.split()
        if not words:
            continue
        if len(words) != 2:
            raise InvalidInput(
                f"ramp line {number}: a date-time and a percentage, like 2026-12-02T09:00 25"
            )
        steps.append({"at": words[0], "percentage": percentage(words[1])})
    if not steps:
        raise InvalidInput("a ramp needs at least one step: a date-time and a percentage a line")
    return steps


def percentage(text: str) -> float:
    """A percentage as the API takes it: 0-100, and whole numbers stored as integers."""
    try:
        value = float(text.strip().rstrip("%"))
    except ValueError:
        value = math.nan
    if not 0 <= value <= 100:
        raise InvalidInput(f"rollout percentage: a number from 0 to 100, not {text!r}")
    return int(value) if value.is_integer() else value


Action = Callable[[Session, Actor, str, str, ActionForm], None]
# The page's actions, each the domain function its API route calls (see the module doc).
ACTIONS: dict[str, Action] = {
    "switch": _switch,
    "kill": _kill,
    "rollout": _rollout,
    "config": _config,
    "rule": _move_rule,
    "variants": _variants,
    "schedule": _schedule,
    "unschedule": _unschedule,
}
