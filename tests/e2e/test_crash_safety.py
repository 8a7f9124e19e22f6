"""Crash safety: `trimtab serve` killed with SIGKILL at random moments under ingest and flag
changes loses nothing it acknowledged, and its store stays intact (tests/e2e/crash.py says what
each round checks). Three short rounds per backend here; `make soak` runs many long ones."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.e2e.crash import run_rounds

pytestmark = pytest.mark.live

ROUNDS = 3
SEED = int(os.environ.get("TRIMTAB_TEST_CRASH_SEED", "9"))


def test_sigkill_under_load__every_acknowledged_event_and_flag_change_survives(
    database_url: str, tmp_path: Path
) -> None:
    ledger, results = run_rounds(database_url, tmp_path / "live", rounds=ROUNDS, seed=SEED)

    problems = [f"round {n}: {p}" for n, r in enumerate(results, 1) for p in r.problems]
    assert problems == [], "\n".join(problems)
    assert len(results) == ROUNDS
    assert all(r.events_acked > 0 and r.changes_acked > 0 for r in results), results
    assert ledger.errors == {}, f"errors before any kill: {dict(ledger.errors)}"
