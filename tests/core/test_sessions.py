"""Session items and crash-free rates, from tests/cases/sessions/*.json and
tests/cases/crash_free_rates/cases.json.

A session case gives `kind` ("session" or "sessions"), `payload`, `received_at` and either
`expect` (the fields to check; datetimes as ISO strings, properties such as is_crashed too;
a list for aggregates) or `expect_error` (text the InvalidSession message contains).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from trimtab.core.sessions import (
    InvalidSession,
    SessionAggregate,
    SessionUpdate,
    crash_free_rates,
    parse_session,
    parse_sessions,
)

CASES_DIR = Path(__file__).resolve().parents[1] / "cases"


def _cases() -> list[Any]:
    files = sorted((CASES_DIR / "sessions").glob("*.json"))
    assert len(files) >= 10
    return [pytest.param(json.loads(f.read_text()), id=f.stem) for f in files]


def _view(value: SessionUpdate | SessionAggregate, fields: list[str]) -> dict[str, Any]:
    got = {field: getattr(value, field) for field in fields}
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in got.items()}


def _parse(case: dict[str, Any]) -> Any:
    if case["kind"] == "session":
        return parse_session(case["payload"], datetime.fromisoformat(case["received_at"]))
    return parse_sessions(case["payload"])


@pytest.mark.parametrize("case", _cases())
def test_parse_session_items__case__gives_normalized_update_or_error(case: dict[str, Any]) -> None:
    if "expect_error" in case:
        with pytest.raises(InvalidSession) as caught:
            _parse(case)
        assert case["expect_error"] in str(caught.value)
        return
    got = _parse(case)
    expected = case["expect"]
    if case["kind"] == "session":
        assert _view(got, list(expected)) == expected
    else:
        assert [_view(g, list(e)) for g, e in zip(got, expected, strict=True)] == expected


CRASH_FREE = json.loads((CASES_DIR / "crash_free_rates" / "cases.json").read_text())["cases"]


@pytest.mark.parametrize("case", CRASH_FREE, ids=[str(c["counts"]) for c in CRASH_FREE])
def test_crash_free_rates__counts__give_expected_percentages(case: dict[str, Any]) -> None:
    rates = crash_free_rates(*case["counts"])
    assert {"sessions": rates.sessions, "users": rates.users} == pytest.approx(case["expected"])
