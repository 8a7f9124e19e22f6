"""The window verdict, from tests/cases/verdict, plus the statistics under it."""

from __future__ import annotations

import itertools
import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from trimtab.core.verdict import (
    IssueFacts,
    Thresholds,
    Verdict,
    VerdictError,
    compute_verdict,
    humanize_delta,
    rate_increase_p_value,
)

CASES = Path(__file__).parent.parent / "cases" / "verdict"


def _cases() -> list[Any]:
    files = sorted(CASES.glob("*.json"))
    assert files, f"no cases in {CASES}"
    return [pytest.param(json.loads(f.read_text()), id=f.stem) for f in files]


def _hours(spec: Any) -> list[int]:
    """Hourly counts: a list, {"each": n, "hours": h} or {"pattern": [...], "hours": h}."""
    if isinstance(spec, list):
        return spec
    pattern = spec["pattern"] if "pattern" in spec else [spec["each"]]
    return list(itertools.islice(itertools.cycle(pattern), spec["hours"]))


def _dt(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _verdict(data: dict[str, Any], **overrides: Any) -> Verdict:
    issues = [
        IssueFacts(
            id=i["id"],
            title=i["title"],
            first_seen=datetime.fromisoformat(i["first_seen"]),
            first_release=i["first_release"],
            events=i["events"],
            regressed_in=i.get("regressed_in"),
            regressed_at=_dt(i.get("regressed_at")),
        )
        for i in data["issues"]
    ]
    kwargs: dict[str, Any] = {
        "release": data["release"],
        "deployed_at": datetime.fromisoformat(data["deployed_at"]),
        "window_start": datetime.fromisoformat(data["window_start"]),
        "window_end": datetime.fromisoformat(data["window_end"]),
        "now": datetime.fromisoformat(data["now"]),
        "hourly_before": _hours(data["hourly_before"]),
        "hourly_after": _hours(data["hourly_after"]),
        "issues": issues,
        "crash_free_before": data.get("crash_free_before"),
        "crash_free_after": data.get("crash_free_after"),
    }
    kwargs.update(overrides)
    return compute_verdict(**kwargs)


@pytest.mark.parametrize("case", _cases())
def test_verdict_case__input__gives_expected_status_numbers_and_issues(
    case: dict[str, Any],
) -> None:
    verdict = _verdict(case["input"])
    expected = case["expected"]
    assert verdict.status == expected["status"], verdict.reasons
    assert verdict.final == expected["final"]
    numbers = verdict.numbers
    for name, value in expected["numbers"].items():
        got = getattr(numbers, name)
        assert got == (value if value is None else pytest.approx(value, rel=1e-9)), name
    if "p_value_below" in expected:
        assert numbers.p_value is not None and numbers.p_value < expected["p_value_below"]
    if "p_value_above" in expected:
        assert numbers.p_value is not None and numbers.p_value > expected["p_value_above"]
    for group in ("new_issues", "regressed_issues", "cleared_issues", "other_issues"):
        got_issues = [
            {"id": f.id, "relation": f.relation, "note": f.note} for f in getattr(numbers, group)
        ]
        assert got_issues == expected[group], group
    for fragment in expected.get("reasons_contain", []):
        assert any(fragment in reason for reason in verdict.reasons), (fragment, verdict.reasons)


def _binomial_sf_by_sum(k: int, n: int, p: float) -> float:
    return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k, n + 1))


@pytest.mark.parametrize(
    ("before", "hours_before", "after", "hours_after"),
    [
        (10, 100, 3, 10),
        (10, 100, 0, 10),
        (50, 168, 40, 24),
        (0, 168, 5, 24),
        (300, 168, 20, 24),
        (5, 24, 5, 24),
    ],
)
def test_rate_increase_p_value__small_counts__equals_the_exact_binomial_tail(
    before: int, hours_before: int, after: int, hours_after: int
) -> None:
    share = hours_after / (hours_before + hours_after)
    expected = _binomial_sf_by_sum(after, before + after, share)
    got = rate_increase_p_value(before, hours_before, after, hours_after)
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-15)


def test_rate_increase_p_value__large_counts__close_to_normal_approximation() -> None:
    before, after = 168_000, 24_600  # 1000/h before, 1025/h after
    n, share = before + after, 24 / 192
    z = (after - 0.5 - n * share) / math.sqrt(n * share * (1 - share))
    normal = 0.5 * math.erfc(z / math.sqrt(2))
    assert rate_increase_p_value(before, 168, after, 24) == pytest.approx(normal, rel=0.05)


def test_rate_increase_p_value__no_hours__refused() -> None:
    with pytest.raises(VerdictError):
        rate_increase_p_value(10, 0, 10, 5)


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(seconds=42), "42 s"),
        (timedelta(minutes=12, seconds=59), "12 min"),
        (timedelta(hours=2, minutes=59), "2 h"),
        (timedelta(hours=3), "3 h"),
        (timedelta(hours=47), "47 h"),
        (timedelta(days=4, hours=23), "4 d"),
        (-timedelta(hours=5), "5 h"),
    ],
)
def test_humanize_delta__length__short_and_rounded_down(delta: timedelta, text: str) -> None:
    assert humanize_delta(delta) == text


def test_compute_verdict__thresholds__are_parameters() -> None:
    case = json.loads((CASES / "significant_but_small_rise_suspicious.json").read_text())
    strict = _verdict(case["input"], thresholds=Thresholds(regressed_ratio=1.25))
    assert strict.status == "regressed"


def test_compute_verdict__as_dict__is_json_ready() -> None:
    case = json.loads((CASES / "scenario_issue_two_hours_after_deploy_is_tied.json").read_text())
    data = _verdict(case["input"]).as_dict()
    text = json.dumps(data)
    assert "first seen 2 h after the deploy" in text
    assert data["status"] == "suspicious"


@pytest.mark.parametrize(
    "overrides",
    [
        {"hourly_after": [1, -1]},
        {"crash_free_before": 99.5, "crash_free_after": 0.99},
        {"window_end": datetime(2026, 11, 1, tzinfo=UTC)},
    ],
)
def test_compute_verdict__inconsistent_input__refused(overrides: dict[str, Any]) -> None:
    case = json.loads((CASES / "end_of_window_healthy.json").read_text())
    with pytest.raises(VerdictError):
        _verdict(case["input"], **overrides)
