"""DORA figures from the deploy ledger: frequency, lead time, change failure rate, restore time.

Every figure is for one environment (production by default) over a period [start, end), from
ledger rows given as ``LedgerDeploy``. A row is one service deployed once, so a release of three
services counts as three deploys: that is what the ledger records and what rollback undoes.

Definitions, chosen so each figure can be traced back to ledger rows:

- a *change* is a successful deploy that is not a rollback;
- **deployment frequency** — changes per day and per week over the period;
- **lead time for changes** — the median time from a commit to the change that shipped it, over
  every commit whose time the ledger knows (from ``set-commits`` or the deploy command);
- **change failure rate** — the share of changes that failed: the next ledger row for the same
  service and environment is a rollback, or the release's window verdict was ``regressed``. A
  deploy whose command or health check failed is not a change; the runner rolls back its
  finished steps, and those steps are then counted as failed changes;
- **time to restore** — the median time from a failure (a failed change, or a deploy whose own
  result was a failure) to the next successful deploy of the same service in the environment,
  a rollback or a fix. Failures not restored yet are counted separately.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = [
    "DoraFigures",
    "LedgerDeploy",
    "change_failure_rate",
    "deployment_frequency",
    "dora_figures",
    "lead_time_for_changes",
    "time_to_restore",
]


@dataclass(frozen=True)
class LedgerDeploy:
    """One ledger row. ``deployed_at`` is when it finished; ``result`` is success or failed."""

    deployed_at: datetime
    environment: str
    service: str
    result: str
    is_rollback: bool = False
    commit_times: tuple[datetime, ...] = ()
    verdict: str | None = None
    release: str | None = None

    @property
    def is_change(self) -> bool:
        """A successful deploy that is not a rollback."""
        return self.result == "success" and not self.is_rollback


@dataclass(frozen=True)
class DoraFigures:
    """All four figures for one environment and period; None where there is nothing to measure."""

    environment: str
    start: datetime
    end: datetime
    changes: int
    per_day: float
    per_week: float
    lead_time: timedelta | None
    lead_time_commits: int
    failed_changes: int
    change_failure_rate: float | None
    time_to_restore: timedelta | None
    restored: int
    unrestored: int


def _rows(deploys: Iterable[LedgerDeploy], environment: str) -> list[LedgerDeploy]:
    return sorted((d for d in deploys if d.environment == environment), key=lambda d: d.deployed_at)


def _in(d: LedgerDeploy, start: datetime, end: datetime) -> bool:
    return start <= d.deployed_at < end


def _median(values: Sequence[timedelta]) -> timedelta | None:
    if not values:
        return None
    return timedelta(seconds=statistics.median(v.total_seconds() for v in values))


def _by_service(rows: list[LedgerDeploy]) -> dict[str, list[LedgerDeploy]]:
    grouped: dict[str, list[LedgerDeploy]] = defaultdict(list)
    for row in rows:
        grouped[row.service].append(row)
    return grouped


def deployment_frequency(
    deploys: Iterable[LedgerDeploy], start: datetime, end: datetime, environment: str = "production"
) -> tuple[int, float, float]:
    """(changes, per day, per week) over [start, end)."""
    if end <= start:
        raise ValueError("the period must end after it starts")
    changes = sum(1 for d in _rows(deploys, environment) if d.is_change and _in(d, start, end))
    days = (end - start).total_seconds() / 86400
    return changes, changes / days, changes * 7 / days


def lead_time_for_changes(
    deploys: Iterable[LedgerDeploy], start: datetime, end: datetime, environment: str = "production"
) -> tuple[timedelta | None, int]:
    """(median commit -> deploy time, number of commits measured) for changes in the period.

    A commit time after its deploy (clock skew between machines) is left out rather than
    counted as a negative lead time.
    """
    leads = [
        d.deployed_at - t
        for d in _rows(deploys, environment)
        if d.is_change and _in(d, start, end)
        for t in d.commit_times
        if t <= d.deployed_at
    ]
    return _median(leads), len(leads)


def _failed_changes(rows: list[LedgerDeploy]) -> list[LedgerDeploy]:
    failed: list[LedgerDeploy] = []
    for history in _by_service(rows).values():
        for i, row in enumerate(history):
            if not row.is_change:
                continue
            rolled_back = i + 1 < len(history) and history[i + 1].is_rollback
            if rolled_back or row.verdict == "regressed":
                failed.append(row)
    return failed


def change_failure_rate(
    deploys: Iterable[LedgerDeploy], start: datetime, end: datetime, environment: str = "production"
) -> tuple[float | None, int, int]:
    """(failure rate, failed changes, changes) for changes in the period; None with no change.

    Rows after the period still count as the rollback that follows a change inside it.
    """
    rows = _rows(deploys, environment)
    changes = [d for d in rows if d.is_change and _in(d, start, end)]
    failed = [d for d in _failed_changes(rows) if _in(d, start, end)]
    if not changes:
        return None, 0, 0
    return len(failed) / len(changes), len(failed), len(changes)


def time_to_restore(
    deploys: Iterable[LedgerDeploy], start: datetime, end: datetime, environment: str = "production"
) -> tuple[timedelta | None, int, int]:
    """(median failure -> next success, restored failures, unrestored failures) in the period."""
    rows = _rows(deploys, environment)
    failed_ids = {id(d) for d in _failed_changes(rows)}
    restores: list[timedelta] = []
    unrestored = 0
    for history in _by_service(rows).values():
        for i, row in enumerate(history):
            if not _in(row, start, end):
                continue
            if id(row) not in failed_ids and row.result != "failed":
                continue
            fix = next((h for h in history[i + 1 :] if h.result == "success"), None)
            if fix is None:
                unrestored += 1
            else:
                restores.append(fix.deployed_at - row.deployed_at)
    return _median(restores), len(restores), unrestored


def dora_figures(
    deploys: Iterable[LedgerDeploy], start: datetime, end: datetime, environment: str = "production"
) -> DoraFigures:
    """All four figures at once."""
    rows = list(deploys)
    changes, per_day, per_week = deployment_frequency(rows, start, end, environment)
    lead, commits = lead_time_for_changes(rows, start, end, environment)
    rate, failed, _ = change_failure_rate(rows, start, end, environment)
    restore, restored, unrestored = time_to_restore(rows, start, end, environment)
    return DoraFigures(
        environment=environment,
        start=start,
        end=end,
        changes=changes,
        per_day=per_day,
        per_week=per_week,
        lead_time=lead,
        lead_time_commits=commits,
        failed_changes=failed,
        change_failure_rate=rate,
        time_to_restore=restore,
        restored=restored,
        unrestored=unrestored,
    )
