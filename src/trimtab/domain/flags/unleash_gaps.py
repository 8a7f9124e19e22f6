"""What Unleash SDKs cannot be served identically: a flag's Unleash gaps per environment, and the
project setting `unleash_strict` that refuses a flag with any.

`core.unleash.translate_flags` finds the gaps while translating (a rollout serving false before
a rule serving true, a regex, a fractional percentage, ...). Here they are asked for one flag in
one environment, with its prerequisite parents (whose shape decides some gaps), so every flag
change can answer with them (`FlagDetail.warnings`), `flag show` and the flag page can show them,
and a strict project can refuse the change (422, each gap named) before it is stored.

A gap on a flag is reported when that flag is read or saved; changing a parent can open a gap
on a child (a parent that gains prerequisites), which shows on the child's page and API answer.
Turning a flag off is never refused: a kill switch must work in a strict project too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from trimtab.core.unleash import UnleashGap, translate_flags
from trimtab.domain.errors import InvalidInput
from trimtab.domain.flags.rule_sets import load_flag_set_by_id
from trimtab.domain.results import Result
from trimtab.store.models import Environment, Project

__all__ = ["UnleashGapView", "flag_gaps", "refuse_if_strict", "warning_text"]


class UnleashGapView(Result):
    """A rule at `path` of a flag's config that Unleash SDKs evaluate differently, and why."""

    path: str
    message: str


def flag_gaps(
    session: Session, project_id: int, env: Environment, config: Mapping[str, Any]
) -> list[UnleashGapView]:
    """The Unleash gaps of `config` (a validated flag config) in `env`."""
    # Only the parents' configs: reading all of a 500-flag set cost the flag page 110 ms.
    parent_keys = {p["flag"] for p in config["prerequisites"]}
    flag_set = load_flag_set_by_id(session, project_id, env.id, env.name, keys=parent_keys)
    by_key = {c["key"]: c for c in flag_set.configs}
    parents = [by_key[p["flag"]] for p in config["prerequisites"] if p["flag"] in by_key]
    translation = translate_flags([config, *parents], segments=flag_set.segments)
    return [_view(gap) for gap in translation.gaps_for(config["key"])]


def warning_text(environment: str, gap: UnleashGapView) -> str:
    """One line for the API's `warnings`, the CLI and the flag page."""
    return f"{environment}: {gap.path}: {gap.message} (Unleash SDKs will not answer like OFREP)"


def refuse_if_strict(
    session: Session, project: Project, env: Environment, config: Mapping[str, Any]
) -> None:
    """InvalidInput (422) naming each gap when `project` is unleash_strict and `config` has any."""
    if not project.unleash_strict:
        return
    gaps = flag_gaps(session, project.id, env, config)
    if gaps:
        named = "; ".join(f"{gap.path}: {gap.message}" for gap in gaps)
        raise InvalidInput(
            f"project {project.slug!r} is unleash_strict: flag {config['key']!r} in {env.name} "
            f"cannot be served identically to Unleash SDKs ({named}); change the rule, or turn "
            "unleash_strict off"
        )


def _view(gap: UnleashGap) -> UnleashGapView:
    return UnleashGapView(path=gap.path, message=gap.message)
