"""Evaluation counts per flag, environment, variant and hour: the flag page's chart.

`record` adds to the hour of each report, from the same validated counts as the running totals
(`flags.record_evaluations`, fed by SDK metrics, Unleash client metrics and OFREP), one upsert
per report; rows are bounded by hours x flags x variants reported and retention removes hours
past its horizon. `hourly` reads one flag's hours back, zero-filled.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from trimtab.domain.results import IsoTime, Result
from trimtab.store.db import upsert
from trimtab.store.models import FlagEvaluationHour

HOUR = timedelta(hours=1)
MAX_HOURS = 24 * 31


def hour_of(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def record(
    session: Session,
    project_id: int,
    environment_id: int,
    counts: Mapping[str, Mapping[str, int]],
    at: datetime,
) -> None:
    """Add `{flag_key: {variant: n}}` (already validated) to the hour containing `at`."""
    add_counts(session, FlagEvaluationHour, "hour", project_id, environment_id, counts, hour_of(at))


def add_counts(
    session: Session,
    model: Any,
    column: str,
    project_id: int,
    environment_id: int,
    counts: Mapping[str, Mapping[str, int]],
    bucket: datetime,
) -> None:
    """Upsert counts per flag and variant into `model`'s time bucket `column` = `bucket`: this
    table's hours, or the minutes an auto-off rule reads (`auto_off.record_exposure`)."""
    rows = [
        {
            "project_id": project_id,
            "environment_id": environment_id,
            "flag_key": key,
            "variant": variant,
            column: bucket,
            "count": n,
        }
        for key in sorted(counts)
        for variant, n in sorted(counts[key].items())
        if n > 0
    ]
    if not rows:
        return
    statement = upsert(session, model).values(rows)
    statement = statement.on_conflict_do_update(
        index_elements=["environment_id", "flag_key", "variant", column],
        set_={"count": model.count + statement.excluded.count},
    )
    session.execute(statement)


class EvaluationSeries(Result):
    """One environment's evaluations of a flag per hour from `start`, oldest first, per variant
    (`counts[variant][i]` is the hour `start + i h`); `totals[i]` sums the variants."""

    environment: str
    start: IsoTime
    hours: int
    counts: dict[str, list[int]]
    totals: list[int]


def hourly(
    session: Session,
    project_id: int,
    environments: Mapping[int, str],
    key: str,
    end: datetime,
    hours: int,
) -> list[EvaluationSeries]:
    """The last `hours` hours up to and including the hour of `end`, per environment named in
    `environments` (id -> name; the caller passes those the actor reaches)."""
    hours = max(1, min(hours, MAX_HOURS))
    start = hour_of(end) - (hours - 1) * HOUR
    per_env: dict[int, dict[str, list[int]]] = {env_id: {} for env_id in environments}
    rows = session.execute(
        select(
            FlagEvaluationHour.environment_id,
            FlagEvaluationHour.variant,
            FlagEvaluationHour.hour,
            FlagEvaluationHour.count,
        ).where(
            FlagEvaluationHour.project_id == project_id,
            FlagEvaluationHour.flag_key == key,
            FlagEvaluationHour.hour >= start,
            FlagEvaluationHour.hour < start + hours * HOUR,
        )
    )
    for env_id, variant, hour, n in rows:
        if env_id not in per_env:
            continue
        index = int((hour - start) / HOUR)
        series = per_env[env_id].setdefault(variant, [0] * hours)
        series[index] += n
    return [
        EvaluationSeries(
            environment=name,
            start=start,
            hours=hours,
            counts=dict(sorted(per_env[env_id].items())),
            totals=[sum(column) for column in zip(*per_env[env_id].values(), strict=True)]
            if per_env[env_id]
            else [0] * hours,
        )
        for env_id, name in environments.items()
    ]
