"""The stale-flag report: flags nobody evaluates any more, and flags fully on for so long that
the flag itself has become dead code. Both are candidates for removal from the application and
then for `trimtab flag archive`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from trimtab.domain.errors import InvalidInput
from trimtab.domain.flags import flags, rule_sets
from trimtab.domain.results import IsoTime, Result
from trimtab.domain.spine.actors import Actor
from trimtab.domain.spine.projects import get_environment, get_project
from trimtab.store.models import Flag, FlagConfig, FlagEvaluationStat, utcnow

MAX_DAYS = 3650
# Up to this many flags, their stats are read by key (well under any bound-parameter limit).
MAX_KEYS_LISTED = 500


class StaleFlag(Result):
    """A flag that is a candidate for removal in one environment, and why (`reasons`)."""

    key: str
    environment: str
    owner: str
    reasons: list[str]
    enabled: bool
    last_evaluated_at: IsoTime | None
    changed_at: IsoTime | None


def fully_on(config: Mapping[str, Any]) -> bool:
    """Whether a boolean flag serves true to every context (no rule can serve false)."""
    if config["type"] != "boolean" or not config["enabled"] or config["prerequisites"]:
        return False
    values = config["variants"]
    for rule in config["rules"]:
        serve = rule["serve"]
        unconditional = not rule["constraints"] and not rule["segments"]
        if "variant" in serve:
            if values[serve["variant"]] is not True:
                return False
            if unconditional:
                return True
        elif "rollout" in serve:
            rollout = serve["rollout"]
            if values[rollout["variant"]] is not True:
                return False
            if unconditional and rollout["percentage"] >= 100:
                return True
        elif any(values[e["variant"]] is not True and e["weight"] > 0 for e in serve["split"]):
            return False
    return values[config["default_variant"]] is True


def stale_flags(
    session: Session,
    actor: Actor,
    project_slug: str,
    *,
    days: int = 30,
    environment: str | None = None,
    now: datetime | None = None,
    listed: list[tuple[Flag, dict[str, FlagConfig]]] | None = None,
) -> list[StaleFlag]:
    """Flags not evaluated for `days` days (or never, once older than that) or fully on for
    `days` days, per environment. `listed`: the project's flags as `flags.list_flags` gave
    them to the caller already (the flag list page reads them once for both uses)."""
    if not 1 <= days <= MAX_DAYS:
        raise InvalidInput(f"days: 1 to {MAX_DAYS}")
    project = get_project(session, actor, project_slug)
    now = now or utcnow()
    cutoff = now - timedelta(days=days)
    envs = (
        [get_environment(session, project, environment, actor=actor)]
        if environment is not None
        else [env for env in project.environments if actor.reaches_environment(env.id)]
    )
    if listed is None:
        _, listed = flags.list_flags(session, actor, project_slug)
    query = select(FlagEvaluationStat).where(FlagEvaluationStat.project_id == project.id)
    if len(listed) <= MAX_KEYS_LISTED:  # a page of the flag list: its flags' stats only
        query = query.where(FlagEvaluationStat.flag_key.in_(sorted(f.key for f, _ in listed)))
    stats = {(s.environment_id, s.flag_key): s for s in session.scalars(query)}
    report = []
    for flag, rows in listed:
        for env in envs:
            row = rows.get(env.name)
            config = rule_sets.full_config(flag, row)
            stat = stats.get((env.id, flag.key))
            reasons = []
            if stat is None and flag.created_at <= cutoff:
                reasons.append(f"never evaluated in {days} days")
            elif stat is not None and stat.last_evaluated_at <= cutoff:
                idle = (now - stat.last_evaluated_at).days
                reasons.append(f"not evaluated for {idle} days")
            if row is not None and fully_on(config) and row.changed_at <= cutoff:
                reasons.append(f"fully on for {(now - row.changed_at).days} days")
            if reasons:
                report.append(
                    StaleFlag(
                        key=flag.key,
                        environment=env.name,
                        owner=flag.owner,
                        reasons=reasons,
                        enabled=config["enabled"],
                        last_evaluated_at=stat.last_evaluated_at if stat is not None else None,
                        changed_at=row.changed_at if row is not None else None,
                    )
                )
    return report
