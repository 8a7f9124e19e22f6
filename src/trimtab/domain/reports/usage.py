"""What ingest received and did not store, counted per project, data category, outcome and day
(`ingest_usage_days`), and the log lines it stored (which the daily log quota reads).

Outcomes: `not_supported` (transactions, spans, profiles, replays, check-ins, metrics: the
SDK is told with X-Sentry-Rate-Limits to stop sending them, see `core.data_categories`),
`invalid` (an item trimtab keeps but could not read), `over_quota` (log lines past the daily
quota), `stored` (log lines kept), and `sdk:<reason>` for what an SDK's client report says it
discarded itself (`sdk:ratelimit_backoff` once it honours the header, `sdk:sample_rate`, …).

The writer adds the counts of a batch in one upsert; `project_usage` reads a project's days for
the settings page, the API (`GET /api/v1/projects/<slug>/usage`) and `trimtab project usage`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from trimtab.domain.errors import Forbidden
from trimtab.domain.results import IsoTime, Result
from trimtab.domain.spine.actors import Actor
from trimtab.domain.spine.projects import get_project
from trimtab.store.db import upsert
from trimtab.store.models import IngestUsageDay

__all__ = [
    "LOG_CATEGORY",
    "UsageTotal",
    "count_today",
    "day_of",
    "describe_outcome",
    "project_usage",
    "record_usage",
]

LOG_CATEGORY = "log_item"
MAX_DAYS = 400


class UsageTotal(Result):
    """A category's count with one outcome over the days asked for."""

    category: str
    outcome: str
    count: int
    first_day: IsoTime
    last_day: IsoTime


_OUTCOMES = {
    "not_supported": "not supported: trimtab does not store them, the SDK was told to stop",
    "invalid": "unreadable or over the bounds",
    "over_quota": "over the project's daily quota",
    "stored": "stored",
}


def describe_outcome(outcome: str) -> str:
    """An outcome in words, for the settings page and the CLI."""
    if outcome.startswith("sdk:"):
        return f"discarded by the SDK ({outcome[4:]})"
    return _OUTCOMES.get(outcome, outcome)


def day_of(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def record_usage(
    session: Session, counts: Mapping[tuple[int, str, str], int], day: datetime
) -> None:
    """Add (project id, category, outcome) -> count to `day`'s rows, upserting (one statement;
    the keys are distinct, as one ON CONFLICT statement needs on PostgreSQL)."""
    rows = [
        {"project_id": p, "day": day, "category": c, "outcome": o, "count": n}
        for (p, c, o), n in sorted(counts.items())
        if n > 0
    ]
    if not rows:
        return
    statement = upsert(session, IngestUsageDay).values(rows)
    statement = statement.on_conflict_do_update(
        index_elements=["project_id", "day", "category", "outcome"],
        set_={"count": IngestUsageDay.count + statement.excluded.count},
    )
    session.execute(statement)


def count_today(session: Session, project_id: int, category: str, now: datetime) -> int:
    """How many of `category` the project stored today (UTC)."""
    found = session.scalar(
        select(IngestUsageDay.count).where(
            IngestUsageDay.project_id == project_id,
            IngestUsageDay.day == day_of(now),
            IngestUsageDay.category == category,
            IngestUsageDay.outcome == "stored",
        )
    )
    return int(found or 0)


def project_usage(
    session: Session, actor: Actor, slug: str, *, now: datetime, days: int = 30
) -> list[UsageTotal]:
    """The project's counts per category and outcome over the last `days` days (today
    included), largest first."""
    project = get_project(session, actor, slug)
    if actor.environment_id is not None:
        # The counts are kept per project, not per environment: they cannot be split.
        raise Forbidden("the usage counts span every environment: read them unbound")
    since = day_of(now) - timedelta(days=min(max(days, 1), MAX_DAYS) - 1)
    rows = session.execute(
        select(
            IngestUsageDay.category,
            IngestUsageDay.outcome,
            func.sum(IngestUsageDay.count),
            func.min(IngestUsageDay.day),
            func.max(IngestUsageDay.day),
        )
        .where(IngestUsageDay.project_id == project.id, IngestUsageDay.day >= since)
        .group_by(IngestUsageDay.category, IngestUsageDay.outcome)
    ).all()
    totals = [
        UsageTotal(category=c, outcome=o, count=int(n), first_day=first, last_day=last)
        for c, o, n, first, last in rows
    ]
    return sorted(totals, key=lambda t: (-t.count, t.category, t.outcome))
