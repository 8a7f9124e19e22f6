"""Feature flags: define, configure per environment, flip, kill, roll out, archive.

Every change is validated by `trimtab.core.evaluation` (the same code the SDK evaluates with),
refused when it would create a prerequisite cycle, audited (actor, reason, before/after) and
announced as `flags.changed` with the environment's new ETag, all in the caller's transaction:
a refused change writes nothing, and a committed one reaches every connected SDK at once.

Scopes: definitions (create, variants, rules, segments, archive) need `admin`. Flipping a flag
on or off, the kill switch and the rollout percentage are operational actions a `deploy`
token may take, so an on-call pipeline can kill a flag without holding an admin token.

Reads answer typed results: `flag_summaries` (the flag list) and `flag_detail` (one flag in
every environment). What evaluation surfaces serve is `rule_sets.load_flag_set`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from trimtab.core.evaluation import FlagConfigError, find_prerequisite_cycle, validate_flag_config
from trimtab.core.flags.config import ENVIRONMENT_FIELDS, FLAG_TYPES
from trimtab.core.names import InvalidName, check_name
from trimtab.domain.errors import Conflict, InvalidInput, NotFound
from trimtab.domain.flags import dependencies, evaluation_hours, unleash_gaps
from trimtab.domain.flags.rule_sets import (
    bump_revision,
    environment_by_name,
    full_config,
    load_flag_set_by_id,
    project_segments,
    unconfigured_config,
    unhealthy_dependencies,
)
from trimtab.domain.flags.unleash_gaps import UnleashGapView
from trimtab.domain.results import IsoTime, Result
from trimtab.domain.spine import audit
from trimtab.domain.spine.actors import Actor
from trimtab.domain.spine.projects import get_environment, get_project
from trimtab.store.db import insert_ignore
from trimtab.store.models import (
    Environment,
    Flag,
    FlagConfig,
    FlagEvaluationStat,
    FlagSchedule,
    Project,
    utcnow,
)

MAX_TAGS = 20
MAX_VARIANTS = 100
MAX_CONFIG_BYTES = 256 * 1024
MAX_REASON = 1000
MAX_METRIC_KEYS = 1000
ROLLOUT_RULE = "rollout"
DEFINITION_SCOPE = "admin"
OPERATION_SCOPE = "deploy"
# The per-environment fields of a config (the rest is the project-wide definition).
CONFIG_FIELDS = frozenset(ENVIRONMENT_FIELDS)


def get_flag(session: Session, project: Project, key: str) -> Flag:
    flag = session.scalars(
        select(Flag).where(Flag.project_id == project.id, Flag.key == key)
    ).first()
    if flag is None:
        raise NotFound(f"project {project.slug!r} has no flag {key!r}")
    return flag


def list_flags(
    session: Session,
    actor: Actor,
    project_slug: str,
    *,
    include_archived: bool = False,
    tag: str | None = None,
    keys: Collection[str] | None = None,
) -> tuple[Project, list[tuple[Flag, dict[str, FlagConfig]]]]:
    """The project's flags by key with their configs per environment the actor reaches;
    `keys`: these flags only (one page of the flag list)."""
    project = get_project(session, actor, project_slug)
    query = select(Flag).where(Flag.project_id == project.id).order_by(Flag.key)
    if not include_archived:
        query = query.where(Flag.archived_at.is_(None))
    if keys is not None:
        query = query.where(Flag.key.in_(sorted(keys)))
    flags = [f for f in session.scalars(query) if tag is None or tag in (f.tags or [])]
    # A token bound to one environment sees that environment's configs only.
    names = {env.id: env.name for env in project.environments if actor.reaches_environment(env.id)}
    configs: dict[int, dict[str, FlagConfig]] = {f.id: {} for f in flags}
    if flags:
        for config in session.scalars(
            select(FlagConfig).where(FlagConfig.flag_id.in_([f.id for f in flags]))
        ):
            if config.environment_id in names:
                configs[config.flag_id][names[config.environment_id]] = config
    return project, [(f, configs[f.id]) for f in flags]


# --- validation ------------------------------------------------------------------------------


def _name(value: str, what: str) -> str:
    try:
        return check_name(value, what)
    except InvalidName as exc:
        raise InvalidInput(str(exc)) from exc


def _reason(reason: str | None, *, required: bool = False) -> str | None:
    text = (reason or "").strip()
    if len(text) > MAX_REASON:
        raise InvalidInput(f"a reason is at most {MAX_REASON} characters")
    if required and not text:
        raise InvalidInput("a reason is required (say why, for the audit log and the team)")
    return text or None


def _check_config(
    session: Session, project: Project, env: Environment, config: dict[str, Any]
) -> dict[str, Any]:
    """Validate one environment config with core.evaluation; refuse unknown prerequisites and
    cycles among the environment's flags. Returns the normalized config."""
    try:
        size = len(orjson.dumps(config))
    except orjson.JSONEncodeError:
        # Request JSON may hold integers past 64 bits; the store's JSON cannot.
        raise InvalidInput("a flag config's numbers must fit in 64 bits") from None
    if size > MAX_CONFIG_BYTES:
        raise InvalidInput(f"a flag config is at most {MAX_CONFIG_BYTES // 1024} KiB of JSON")
    try:
        normalized = validate_flag_config(config, segments=project_segments(session, project.id))
    except FlagConfigError as exc:
        raise InvalidInput(f"flag {config.get('key')!r} in {env.name}: {exc}") from exc
    if normalized["fallback"] is not None:
        for name in normalized["fallback"]["dependencies"]:
            _name(name, "dependency name")
    if normalized["prerequisites"]:
        flag_set = load_flag_set_by_id(session, project.id, env.id, env.name)
        by_key = {c["key"]: c for c in flag_set.configs}
        for item in normalized["prerequisites"]:
            if item["flag"] not in by_key:
                raise InvalidInput(f"prerequisite {item['flag']!r} is not a live flag here")
        by_key[normalized["key"]] = normalized
        cycle = find_prerequisite_cycle(by_key)
        if cycle:
            raise InvalidInput("this would make a prerequisite cycle: " + " -> ".join(cycle))
    unleash_gaps.refuse_if_strict(session, project, env, normalized)
    return normalized


def _store_config(row: FlagConfig, normalized: Mapping[str, Any], actor: Actor) -> None:
    if row.id is not None and _row_fields(row) == {k: normalized[k] for k in CONFIG_FIELDS}:
        return
    row.enabled = normalized["enabled"]
    row.default_variant = normalized["default_variant"]
    row.off_variant = normalized["off_variant"]
    row.rules = list(normalized["rules"])
    row.prerequisites = list(normalized["prerequisites"])
    row.fallback = normalized["fallback"]
    row.salt = normalized["salt"]
    row.updated_by = actor.label
    row.changed_at = utcnow()


def _row_fields(row: FlagConfig) -> dict[str, Any]:
    return {
        "enabled": row.enabled,
        "default_variant": row.default_variant,
        "off_variant": row.off_variant,
        "rules": row.rules,
        "prerequisites": row.prerequisites,
        "fallback": row.fallback,
        "salt": row.salt,
    }


def _config_row(session: Session, flag: Flag, env: Environment) -> FlagConfig:
    row = session.scalars(
        select(FlagConfig).where(FlagConfig.flag_id == flag.id, FlagConfig.environment_id == env.id)
    ).first()
    if row is None:
        base = unconfigured_config(flag)
        row = FlagConfig(
            flag_id=flag.id,
            environment_id=env.id,
            enabled=False,
            default_variant=base["default_variant"],
            off_variant=base["off_variant"],
            rules=[],
            prerequisites=[],
            fallback=None,
            salt=flag.key,
        )
        session.add(row)
        session.flush()
    return row


def _tags(tags: Sequence[str] | None) -> list[str]:
    if tags is None:
        return []
    if len(tags) > MAX_TAGS:
        raise InvalidInput(f"at most {MAX_TAGS} tags")
    return sorted({_name(t, "tag") for t in tags})


def _live_flag(session: Session, project: Project, key: str) -> Flag:
    flag = get_flag(session, project, key)
    if flag.archived_at is not None:
        raise Conflict(f"flag {key!r} is archived; restore it first")
    return flag


# --- definitions (admin) --------------------------------------------------------------------


def create_flag(
    session: Session,
    actor: Actor,
    project_slug: str,
    key: str,
    *,
    flag_type: str = "boolean",
    description: str = "",
    owner: str = "",
    tags: Sequence[str] | None = None,
    variants: Mapping[str, Any] | None = None,
    default_variant: str | None = None,
    off_variant: str | None = None,
    environments: Mapping[str, Mapping[str, Any]] | None = None,
) -> Flag:
    """Create a flag, off in every environment unless `environments` configures some."""
    project = get_project(session, actor, project_slug, scope=DEFINITION_SCOPE)
    key = _name(key, "flag key")
    if flag_type not in FLAG_TYPES:
        raise InvalidInput(f"type must be one of {', '.join(FLAG_TYPES)}")
    if variants is not None and len(variants) > MAX_VARIANTS:
        raise InvalidInput(f"at most {MAX_VARIANTS} variants")
    if session.scalars(select(Flag).where(Flag.project_id == project.id, Flag.key == key)).first():
        raise Conflict(f"project {project.slug!r} already has a flag {key!r}")
    # Validate the definition once through the core, which fills in boolean variants.
    base: dict[str, Any] = {"key": key, "type": flag_type}
    if variants is not None:
        base["variants"] = dict(variants)
    if default_variant is not None:
        base["default_variant"] = default_variant
    if off_variant is not None:
        base["off_variant"] = off_variant
    try:
        normalized = validate_flag_config(base)
    except FlagConfigError as exc:
        raise InvalidInput(f"flag {key!r}: {exc}") from exc
    flag = Flag(
        project_id=project.id,
        key=key,
        type=flag_type,
        description=description.strip(),
        owner=owner.strip(),
        tags=_tags(tags),
        variants=normalized["variants"],
        created_by=actor.label,
    )
    session.add(flag)
    session.flush()
    envs = {env.name: env for env in project.environments}
    unknown = sorted(set(environments or {}) - set(envs))
    if unknown:
        raise InvalidInput(f"project {project.slug!r} has no environment {unknown[0]!r}")
    after_envs = {}
    for name, env in envs.items():
        overrides = dict((environments or {}).get(name, {}))
        config = {**normalized, **overrides, "key": key, "type": flag_type}
        config["variants"] = normalized["variants"]
        checked = _check_config(session, project, env, config)
        row = _config_row(session, flag, env)
        _store_config(row, checked, actor)
        after_envs[name] = checked
    audit.record(
        session,
        actor,
        "flag.create",
        target_type="flag",
        target_id=key,
        project_id=project.id,
        after={**_audited_definition(flag), "environments": after_envs},
    )
    bump_revision(session, project.id, None, f"flag {key} created")
    return flag


def update_definition(
    session: Session,
    actor: Actor,
    project_slug: str,
    key: str,
    *,
    description: str | None = None,
    owner: str | None = None,
    tags: Sequence[str] | None = None,
    variants: Mapping[str, Any] | None = None,
) -> Flag:
    """Change a flag's description, owner, tags or variants (checked against every env)."""
    project = get_project(session, actor, project_slug, scope=DEFINITION_SCOPE)
    flag = _live_flag(session, project, key)
    before = _audited_definition(flag)
    if description is not None:
        flag.description = description.strip()
    if owner is not None:
        flag.owner = owner.strip()
    tags_before = list(flag.tags or [])
    if tags is not None:
        flag.tags = _tags(tags)
    if variants is not None:
        if len(variants) > MAX_VARIANTS:
            raise InvalidInput(f"at most {MAX_VARIANTS} variants")
        if not variants:
            raise InvalidInput("a flag needs at least one variant")
        first = next(iter(variants))
        try:
            flag.variants = validate_flag_config(
                {
                    "key": flag.key,
                    "type": flag.type,
                    "variants": dict(variants),
                    "default_variant": first,
                    "off_variant": first,
                }
            )["variants"]
        except FlagConfigError as exc:
            raise InvalidInput(f"flag {key!r}: {exc}") from exc
        # Every environment must still name existing variants (the check says which does not).
        for env in project.environments:
            row = _config_row(session, flag, env)
            _store_config(row, _check_config(session, project, env, full_config(flag, row)), actor)
    flag.updated_at = utcnow()
    audit.record(
        session,
        actor,
        "flag.update",
        target_type="flag",
        target_id=key,
        project_id=project.id,
        before=before,
        after=_audited_definition(flag),
    )
    if variants is not None:
        bump_revision(session, project.id, None, f"flag {key} variants changed")
    elif tags is not None and tags_before != flag.tags:
        # Unleash SDKs may ask for the flags of a tag: what they are served changed.
        bump_revision(session, project.id, None, f"flag {key} tags changed")
    return flag


def set_config(
    session: Session,
    actor: Actor,
    project_slug: str,
    key: str,
    environment: str,
    changes: Mapping[str, Any],
    *,
    reason: str | None = None,
) -> FlagConfig:
    """Replace some of a flag's fields in one environment (rules, variants served, fallback…)."""
    # The environment's admin: an admin bound to it may set its configs.
    project = get_project(session, actor, project_slug)
    env = get_environment(session, project, environment, actor=actor, scope=DEFINITION_SCOPE)
    unknown = sorted(set(changes) - CONFIG_FIELDS)
    if unknown:
        raise InvalidInput(f"unknown field {unknown[0]!r}; set one of {sorted(CONFIG_FIELDS)}")
    flag = _live_flag(session, project, key)
    row = _config_row(session, flag, env)
    before = full_config(flag, row)
    checked = _check_config(session, project, env, {**before, **changes})
    if checked == before:
        return row
    _store_config(row, checked, actor)
    audit.record(
        session,
        actor,
        "flag.set",
        target_type="flag",
        target_id=key,
        project_id=project.id,
        environment=env.name,
        before=before,
        after=checked,
        reason=_reason(reason),
    )
    bump_revision(session, project.id, env.name, f"flag {key} changed")
    return row


def archive_flag(
    session: Session, actor: Actor, project_slug: str, key: str, *, restore: bool = False
) -> Flag:
    """Archive (or restore) a flag: archived flags leave every flag set, SDKs stop seeing them."""
    project = get_project(session, actor, project_slug, scope=DEFINITION_SCOPE)
    flag = get_flag(session, project, key)
    if restore == (flag.archived_at is None):
        return flag
    if not restore:
        dependents = _dependents(session, project, key)
        if dependents:
            raise Conflict(f"flags {dependents} have {key!r} as a prerequisite; change them first")
        flag.archived_at = utcnow()
        session.execute(
            update(FlagSchedule)
            .where(FlagSchedule.flag_id == flag.id, FlagSchedule.status == "pending")
            .values(status="cancelled", error="flag archived")
        )
    else:
        flag.archived_at = None
    audit.record(
        session,
        actor,
        "flag.restore" if restore else "flag.archive",
        target_type="flag",
        target_id=key,
        project_id=project.id,
        before={"archived": restore},
        after={"archived": not restore},
    )
    bump_revision(session, project.id, None, f"flag {key} {'restored' if restore else 'archived'}")
    return flag


def _dependents(session: Session, project: Project, key: str) -> list[str]:
    rows = session.execute(
        select(Flag.key, FlagConfig.prerequisites)
        .join(FlagConfig, FlagConfig.flag_id == Flag.id)
        .where(Flag.project_id == project.id, Flag.archived_at.is_(None), Flag.key != key)
    ).all()
    return sorted({k for k, prereqs in rows if any(p.get("flag") == key for p in prereqs or [])})


# --- operations (deploy) --------------------------------------------------------------------


def set_enabled(
    session: Session,
    actor: Actor,
    project_slug: str,
    key: str,
    environment: str,
    enabled: bool,
    reason: str | None,
    automatic: bool = False,
    *,
    action: str | None = None,
) -> FlagConfig:
    """Turn a flag on or off in one environment: audited and pushed to every SDK."""
    project = get_project(session, actor, project_slug, scope=OPERATION_SCOPE)
    env = get_environment(session, project, environment, actor=actor, scope=OPERATION_SCOPE)
    flag = _live_flag(session, project, key)
    reason = _reason(reason, required=action == "flag.kill")
    row = _config_row(session, flag, env)
    before = {"enabled": row.enabled, "off_reason": row.off_reason}
    changed = row.enabled != enabled
    row.enabled = enabled
    row.off_reason = None if enabled else reason
    row.updated_by = actor.label
    if changed:
        row.changed_at = utcnow()
    if action == "flag.kill":
        # A scheduled "on" or ramp must not undo a kill behind the team's back.
        session.execute(
            update(FlagSchedule)
            .where(
                FlagSchedule.flag_id == flag.id,
                FlagSchedule.environment_id == env.id,
                FlagSchedule.status == "pending",
            )
            .values(status="cancelled", error="cancelled by the kill switch")
        )
    audit.record(
        session,
        actor,
        action or ("flag.on" if enabled else "flag.off"),
        target_type="flag",
        target_id=key,
        project_id=project.id,
        environment=env.name,
        before=before,
        after={"enabled": enabled, "off_reason": row.off_reason, "automatic": automatic},
        reason=reason,
    )
    if changed:
        bump_revision(session, project.id, env.name, f"flag {key} {'on' if enabled else 'off'}")
    return row


def kill(
    session: Session, actor: Actor, project_slug: str, key: str, environment: str, reason: str
) -> FlagConfig:
    """The kill switch: off now, with a required reason, pending schedules cancelled."""
    return set_enabled(
        session, actor, project_slug, key, environment, False, reason, action="flag.kill"
    )


def rollout(
    session: Session,
    actor: Actor,
    project_slug: str,
    key: str,
    environment: str,
    percentage: float,
    *,
    rule_id: str = ROLLOUT_RULE,
    variant: str | None = None,
    stickiness: str | None = None,
    reason: str | None = None,
) -> FlagConfig:
    """Set the percentage of the rollout rule `rule_id` (created last when missing).

    A new rollout rule serves `variant` (boolean flags: the true variant) and, when the flag's
    default is that same variant, the default becomes the off variant: otherwise the users
    left out of the rollout would get it anyway.
    """
    project = get_project(session, actor, project_slug, scope=OPERATION_SCOPE)
    env = get_environment(session, project, environment, actor=actor, scope=OPERATION_SCOPE)
    flag = _live_flag(session, project, key)
    row = _config_row(session, flag, env)
    before = full_config(flag, row)
    config = {**before, "rules": [dict(r) for r in before["rules"]]}
    rule = next((r for r in config["rules"] if r.get("id") == rule_id), None)
    if rule is not None:
        if "rollout" not in rule["serve"]:
            raise Conflict(f"rule {rule_id!r} of {key!r} is not a percentage rollout")
        serve = dict(rule["serve"]["rollout"], percentage=percentage)
        if variant is not None:
            serve["variant"] = variant
        if stickiness is not None:
            serve["stickiness"] = stickiness
        rule["serve"] = {"rollout": serve}
    else:
        if variant is None:
            trues = [n for n, v in flag.variants.items() if v is True]
            if flag.type != "boolean" or len(trues) != 1:
                raise InvalidInput("name the variant to roll out (--variant)")
            variant = trues[0]
        serve = {"percentage": percentage, "variant": variant}
        if stickiness is not None:
            serve["stickiness"] = stickiness
        config["rules"].append({"id": rule_id, "serve": {"rollout": serve}})
        if config["default_variant"] == variant:
            config["default_variant"] = config["off_variant"]
    checked = _check_config(session, project, env, config)
    if checked != before:
        _store_config(row, checked, actor)
        bump_revision(session, project.id, env.name, f"flag {key} rollout {percentage}%")
    audit.record(
        session,
        actor,
        "flag.rollout",
        target_type="flag",
        target_id=key,
        project_id=project.id,
        environment=env.name,
        before=before,
        after=checked,
        reason=_reason(reason),
    )
    return row


def rollout_percentage(config: Mapping[str, Any], rule_id: str = ROLLOUT_RULE) -> float | None:
    for rule in config.get("rules") or []:
        if rule.get("id") == rule_id and "rollout" in rule.get("serve", {}):
            return float(rule["serve"]["rollout"]["percentage"])
    return None


# --- evaluation counts ----------------------------------------------------------------------


def record_evaluations(
    session: Session,
    project_id: int,
    environment: str,
    counts: Mapping[str, Mapping[str, int]],
    at: datetime,
) -> None:
    """Add evaluation counts `{flag_key: {variant: n}}` seen up to `at` (SDK, Unleash, OFREP)."""
    if len(counts) > MAX_METRIC_KEYS:
        raise InvalidInput(f"at most {MAX_METRIC_KEYS} flags per report")
    env = environment_by_name(session, project_id, environment)
    for key, variants in counts.items():
        if not isinstance(key, str) or not 0 < len(key) <= 128:
            raise InvalidInput("flag keys in a report are 1-128 characters")
        if not isinstance(variants, Mapping) or len(variants) > MAX_VARIANTS + 2:
            raise InvalidInput(f"{key}: counts per variant, at most {MAX_VARIANTS}")
        for variant, n in variants.items():
            if not isinstance(variant, str) or len(variant) > 128:
                raise InvalidInput(f"{key}: variant names are at most 128 characters")
            if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= 10**12:
                raise InvalidInput(f"{key}.{variant}: a count is a whole number >= 0")
    for key in sorted(counts):
        variants = counts[key]
        total = sum(variants.values())
        if total == 0:
            continue
        insert_ignore(
            session,
            FlagEvaluationStat,
            {
                "project_id": project_id,
                "environment_id": env.id,
                "flag_key": key,
                "evaluations": 0,
                "variants": {},
                "first_evaluated_at": at,
                "last_evaluated_at": at,
            },
        )
        stat = session.scalars(
            select(FlagEvaluationStat)
            .where(FlagEvaluationStat.environment_id == env.id, FlagEvaluationStat.flag_key == key)
            .with_for_update()
        ).one()
        merged = dict(stat.variants or {})
        for variant, n in variants.items():
            merged[variant] = merged.get(variant, 0) + n
        stat.variants = merged
        stat.evaluations = stat.evaluations + total
        if at > stat.last_evaluated_at:
            stat.last_evaluated_at = at
    evaluation_hours.record(session, project_id, env.id, counts, at)


# --- views ----------------------------------------------------------------------------------


class Prerequisite(Result):
    """This flag follows its rules only while `flag` serves one of `variants`."""

    flag: str
    variants: list[str]


class Fallback(Result):
    """The variant served while any of `dependencies` is unhealthy."""

    variant: str
    dependencies: list[str]


class FlagDefinition(Result):
    """The project-wide part of a flag; `variants` maps each name to its (user-defined) value."""

    key: str
    type: str
    description: str
    owner: str
    tags: list[str]
    variants: dict[str, Any]
    archived: bool
    created_by: str
    created_at: IsoTime


class FlagEnvironmentSummary(Result):
    """Whether a flag is on in one environment, and its `rollout` rule's percentage if any."""

    enabled: bool
    rollout: float | None


class FlagSummary(FlagDefinition):
    """A flag in the flag list: its definition, and per environment whether it is on."""

    environments: dict[str, FlagEnvironmentSummary]


class FlagConfigView(Result):
    """What a flag serves in one environment, and whether it serves its fallback now.

    `rules` are user-defined (see core.evaluation for their shape); `rollout` is the percentage
    of the `rollout` rule; `fallback_status` says since when and why the fallback is served.
    """

    default_variant: str
    enabled: bool
    fallback: Fallback | None
    off_variant: str
    prerequisites: list[Prerequisite]
    rules: list[dict[str, Any]]
    salt: str
    rollout: float | None
    off_reason: str | None
    updated_by: str | None
    changed_at: IsoTime | None
    evaluations: int
    last_evaluated_at: IsoTime | None
    serving_fallback: bool
    failing_dependencies: list[str]
    fallback_status: str | None
    # Rules Unleash SDKs cannot evaluate like trimtab (domain.flags.unleash_gaps).
    unleash_gaps: list[UnleashGapView]


class FlagDetail(FlagDefinition):
    """A flag with every environment's config (what `flag show` and each flag change answer)."""

    environments: dict[str, FlagConfigView]
    # One line per Unleash gap, per environment: what an Unleash SDK will answer differently.
    warnings: list[str]


def definition_fields(flag: Flag) -> dict[str, Any]:
    return {
        "key": flag.key,
        "type": flag.type,
        "description": flag.description,
        "owner": flag.owner,
        "tags": list(flag.tags or []),
        "variants": dict(flag.variants),
        "archived": flag.archived_at is not None,
        "created_by": flag.created_by,
        "created_at": flag.created_at,
    }


def _audited_definition(flag: Flag) -> dict[str, Any]:
    return FlagDefinition(**definition_fields(flag)).model_dump(mode="json")


def flag_summaries(
    session: Session,
    actor: Actor,
    project_slug: str,
    *,
    include_archived: bool = False,
    tag: str | None = None,
) -> list[FlagSummary]:
    """The project's flags by key, each with whether it is on, and its rollout, per environment."""
    _, listed = list_flags(session, actor, project_slug, include_archived=include_archived, tag=tag)
    return summaries_of(listed)


def summaries_of(listed: list[tuple[Flag, dict[str, FlagConfig]]]) -> list[FlagSummary]:
    """`flag_summaries` of flags already read with `list_flags`."""
    return [
        FlagSummary(
            **definition_fields(flag),
            environments={
                name: FlagEnvironmentSummary(
                    enabled=row.enabled, rollout=rollout_percentage({"rules": row.rules})
                )
                for name, row in configs.items()
            },
        )
        for flag, configs in listed
    ]


def flag_detail(session: Session, actor: Actor, project_slug: str, key: str) -> FlagDetail:
    """Definition, every environment's config (the actor reaches), evaluation stats and
    unhealthy dependencies."""
    project = get_project(session, actor, project_slug)
    flag = get_flag(session, project, key)
    stats = {
        s.environment_id: s
        for s in session.scalars(
            select(FlagEvaluationStat).where(
                FlagEvaluationStat.project_id == project.id, FlagEvaluationStat.flag_key == key
            )
        )
    }
    unhealthy = unhealthy_dependencies(session, project.id)
    environments = {}
    for env in project.environments:
        if not actor.reaches_environment(env.id):
            continue  # a token bound to one environment sees its config only
        row = session.scalars(
            select(FlagConfig).where(
                FlagConfig.flag_id == flag.id, FlagConfig.environment_id == env.id
            )
        ).first()
        environments[env.name] = _config_view(
            session, project.id, env, flag, row, stats.get(env.id), unhealthy
        )
    warnings = [
        unleash_gaps.warning_text(name, gap)
        for name, view in environments.items()
        for gap in view.unleash_gaps
    ]
    return FlagDetail(**definition_fields(flag), environments=environments, warnings=warnings)


def failing_dependencies(
    fallback: Mapping[str, Any] | None, unhealthy: frozenset[str]
) -> list[str]:
    """The unhealthy dependencies a config's fallback is bound to (it serves its fallback
    because of them when it is on)."""
    return sorted(set((fallback or {}).get("dependencies") or []) & unhealthy)


def _config_view(
    session: Session,
    project_id: int,
    env: Environment,
    flag: Flag,
    row: FlagConfig | None,
    stat: FlagEvaluationStat | None,
    unhealthy: frozenset[str],
) -> FlagConfigView:
    config = full_config(flag, row)
    failing = failing_dependencies(config["fallback"], unhealthy)
    serving_fallback = bool(failing) and config["enabled"]
    # "serving fallback since 12:03 UTC: billing-api failing", for the API, CLI and pages.
    status = (
        dependencies.fallback_status(session, project_id, failing) if serving_fallback else None
    )
    return FlagConfigView(
        **{k: config[k] for k in sorted(CONFIG_FIELDS)},
        rollout=rollout_percentage(config),
        off_reason=row.off_reason if row else None,
        updated_by=row.updated_by if row else None,
        changed_at=row.changed_at if row else None,
        evaluations=stat.evaluations if stat else 0,
        last_evaluated_at=stat.last_evaluated_at if stat else None,
        serving_fallback=serving_fallback,
        failing_dependencies=failing,
        fallback_status=status.message if status else None,
        unleash_gaps=unleash_gaps.flag_gaps(session, project_id, env, config),
    )
