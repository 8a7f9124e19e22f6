"""DORA figures from a hand-written ledger whose answers were worked out on paper."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from trimtab.core.dora import (
    LedgerDeploy,
    change_failure_rate,
    deployment_frequency,
    dora_figures,
    lead_time_for_changes,
    time_to_restore,
)

START = datetime(2026, 11, 1, tzinfo=UTC)
END = datetime(2026, 11, 15, tzinfo=UTC)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def row(
    service: str,
    when: datetime,
    result: str = "success",
    *,
    rollback: bool = False,
    commits: tuple[datetime, ...] = (),
    verdict: str | None = None,
    env: str = "production",
) -> LedgerDeploy:
    return LedgerDeploy(when, env, service, result, rollback, commits, verdict)


LEDGER = [
    # Listed out of order on purpose: the figures must not depend on input order.
    row("web", at(14, 10), commits=(at(14, 11), at(13, 10))),  # one commit time is skewed
    row("web", at(16, 10), rollback=True),  # after the period, still undoes the one above
    row("api", at(2, 10), commits=(at(1, 10), at(2, 4))),
    row("web", at(3, 10), commits=(at(3, 8),), verdict="regressed"),
    row("api", at(5, 10), commits=(at(5, 9),)),
    row("api", at(5, 12), rollback=True),
    row("web", at(6, 10), commits=(at(6, 6),)),
    row("api", at(8, 10), "failed"),
    row("api", at(8, 11, 30), commits=(at(8, 7, 30),)),
    row("web", at(9, 10), env="staging"),
    row("api", at(20, 10)),
]


def test_deployment_frequency__ledger__counts_successful_non_rollback_production_deploys() -> None:
    changes, per_day, per_week = deployment_frequency(LEDGER, START, END)
    assert changes == 6
    assert per_day == pytest.approx(6 / 14)
    assert per_week == pytest.approx(3.0)


def test_lead_time__ledger__median_commit_to_deploy_skipping_skewed_clocks() -> None:
    # Leads in hours: 24, 6, 2, 1, 4, 4, 24 -> median 4.
    assert lead_time_for_changes(LEDGER, START, END) == (timedelta(hours=4), 7)


def test_change_failure_rate__ledger__rollbacks_and_regressed_verdicts_count() -> None:
    # Failed: web on the 3rd (regressed), api on the 5th and web on the 14th (rolled back).
    assert change_failure_rate(LEDGER, START, END) == (0.5, 3, 6)


def test_time_to_restore__ledger__median_failure_to_next_success() -> None:
    # 72 h (web regressed -> fix), 2 h (api rollback), 1.5 h (failed api -> retry),
    # 48 h (web rollback after the period) -> median of 1.5, 2, 48, 72 is 25 h.
    assert time_to_restore(LEDGER, START, END) == (timedelta(hours=25), 4, 0)


def test_time_to_restore__failure_not_yet_fixed__counted_as_unrestored() -> None:
    ledger = [row("api", at(2, 10)), row("api", at(3, 10), "failed")]
    assert time_to_restore(ledger, START, END) == (None, 0, 1)


def test_dora_figures__ledger__all_four_together() -> None:
    figures = dora_figures(iter(LEDGER), START, END)
    assert figures.changes == 6
    assert figures.lead_time == timedelta(hours=4)
    assert figures.change_failure_rate == 0.5
    assert figures.time_to_restore == timedelta(hours=25)
    assert (figures.restored, figures.unrestored) == (4, 0)


def test_dora_figures__other_environment__measured_on_its_own() -> None:
    figures = dora_figures(LEDGER, START, END, environment="staging")
    assert figures.changes == 1
    assert figures.change_failure_rate == 0.0


def test_dora_figures__empty_ledger__nothing_to_measure() -> None:
    figures = dora_figures([], START, END)
    assert figures.changes == 0 and figures.per_week == 0.0
    assert figures.lead_time is None
    assert figures.change_failure_rate is None
    assert figures.time_to_restore is None


def test_deployment_frequency__empty_period__refused() -> None:
    with pytest.raises(ValueError, match="period"):
        deployment_frequency(LEDGER, END, START)
