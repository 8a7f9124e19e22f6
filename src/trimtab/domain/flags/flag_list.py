"""The flag list as the dashboard shows it: the flags the search box and the tag filter match
among all of the project's flags, one page of them at a time, each with its state in every
environment, its stale marks and the fallback it serves in the environment shown.

The filters run over the definition columns of every flag (key, description, owner, tags);
configs, evaluation stats and fallbacks are read for the page's flags only, so a page costs the
same whether the project has 50 flags or 5,000.
"""

from __future__ import annotations

import math

from sqlalchemy import select
from sqlalchemy.orm import Session

from trimtab.domain.flags import flags, rule_sets, staleness
from trimtab.domain.flags.flags import FlagSummary
from trimtab.domain.results import Result
from trimtab.domain.spine.actors import Actor
from trimtab.domain.spine.projects import get_project
from trimtab.store.models import Flag

PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


class FlagListRow(Result):
    """A flag on the list: `stale` says why it is a candidate for removal in the environment
    shown, `fallback` names the unhealthy dependencies that make it serve its fallback there."""

    flag: FlagSummary
    stale: list[str]
    fallback: list[str]


class FlagListPage(Result):
    """One page of the flags matching the filters (`matched` of `total`), in key order."""

    environments: list[str]
    environment: str | None
    rows: list[FlagListRow]
    total: int
    matched: int
    page: int
    pages: int
    tags: list[str]


def shown_environment(environments: list[str], wanted: str | None) -> str | None:
    """The environment the list shows: the one asked for, else production, else the first."""
    if wanted in environments:
        return wanted
    if "production" in environments:
        return "production"
    return environments[0] if environments else None


def flag_list_page(
    session: Session,
    actor: Actor,
    slug: str,
    *,
    environment: str | None = None,
    query: str = "",
    tag: str | None = None,
    page: int = 1,
    per_page: int = PAGE_SIZE,
) -> FlagListPage:
    """Page `page` (from 1; past the last page, the last) of the project's flags whose key,
    description or owner contains `query` (any case) and that carry `tag`."""
    project = get_project(session, actor, slug)
    environments = [e.name for e in project.environments]
    shown = shown_environment(environments, environment)
    heads = session.execute(
        select(Flag.key, Flag.description, Flag.owner, Flag.tags)
        .where(Flag.project_id == project.id, Flag.archived_at.is_(None))
        .order_by(Flag.key)
    ).all()
    needle = query.strip().casefold()
    matching = [
        key
        for key, description, owner, tags in heads
        if (not needle or needle in f"{key} {description} {owner}".casefold())
        and (not tag or tag in (tags or []))
    ]
    per_page = min(max(per_page, 1), MAX_PAGE_SIZE)
    pages = max(1, math.ceil(len(matching) / per_page))
    page = min(max(page, 1), pages)
    keys = matching[(page - 1) * per_page : page * per_page]
    _, listed = flags.list_flags(session, actor, slug, keys=keys) if keys else (project, [])
    stale = {
        s.key: s.reasons
        for s in staleness.stale_flags(session, actor, slug, listed=listed)
        if s.environment == shown
    }
    unhealthy = rule_sets.unhealthy_dependencies(session, project.id)
    rows = []
    for summary, (_, configs) in zip(flags.summaries_of(listed), listed, strict=True):
        config = configs.get(shown or "")
        fallback = []
        if config is not None and config.enabled:  # a flag that is off serves its off variant
            fallback = flags.failing_dependencies(config.fallback, unhealthy)
        rows.append(FlagListRow(flag=summary, stale=stale.get(summary.key, []), fallback=fallback))
    return FlagListPage(
        environments=environments,
        environment=shown,
        rows=rows,
        total=len(heads),
        matched=len(matching),
        page=page,
        pages=pages,
        tags=sorted({t for *_, tags in heads for t in tags or []}),
    )
