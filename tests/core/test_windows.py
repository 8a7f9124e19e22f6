"""Stabilization windows, freezes and the cron matcher, from tests/cases/windows."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from trimtab.core import windows
from trimtab.core.cron import (
    CronError,
    DurationError,
    format_duration,
    next_match,
    parse_cron,
    parse_duration,
    previous_match,
)
from trimtab.core.windows import (
    Freeze,
    FreezeError,
    Occurrence,
    StabilizationWindow,
    WindowError,
    WindowLengthError,
    check_deploy_allowed,
    current_occurrence,
    next_occurrence,
    open_window,
    validate_window_days,
)

CASES = Path(__file__).parent.parent / "cases" / "windows"


def _cases(call: str) -> list[Any]:
    found = []
    for path in sorted(CASES.glob("*.json")):
        case = json.loads(path.read_text())
        if case["call"] == call:
            found.append(pytest.param(case, id=path.stem))
    assert found, f"no {call} cases in {CASES}"
    return found


def _dt(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _freeze(data: dict[str, Any]) -> Freeze:
    duration = parse_duration(data["duration"]) if "duration" in data else None
    return Freeze(
        name=data["name"],
        reason=data.get("reason", ""),
        start=_dt(data["start"]) if "start" in data else None,
        end=_dt(data["end"]) if "end" in data else None,
        cron=data.get("cron"),
        duration=duration,
        timezone=data.get("timezone", "UTC"),
        environments=tuple(data.get("environments", ())),
    )


def _window(data: dict[str, Any]) -> StabilizationWindow:
    return StabilizationWindow(
        release=data["release"],
        environment=data["environment"],
        services=tuple(data["services"]),
        opened_at=_dt(data["opened_at"]),
        ends_at=_dt(data["ends_at"]),
    )


def _occurrence(occ: Occurrence | None) -> dict[str, str] | None:
    if occ is None:
        return None
    return {"start": occ.start.isoformat(), "end": occ.end.isoformat()}


@pytest.mark.parametrize("case", _cases("check_deploy_allowed"))
def test_check_deploy_allowed__case__gives_expected_decision(case: dict[str, Any]) -> None:
    def run() -> windows.Decision:
        return check_deploy_allowed(
            _dt(case["now"]),
            [_window(w) for w in case["windows"]],
            [_freeze(f) for f in case["freezes"]],
            override=case["override"],
            reason=case["reason"],
            environment=case["environment"],
        )

    expected = case["expected"]
    if "error" in expected:
        with pytest.raises(getattr(windows, expected["error"])) as caught:
            run()
        assert expected["message_contains"] in str(caught.value)
        return
    decision = run()
    got = {
        "allowed": decision.allowed,
        "overridden": decision.overridden,
        "reason": decision.reason,
        "refusals": [
            {
                "kind": r.kind,
                "name": r.name,
                "ends_at": r.ends_at.astimezone(UTC).isoformat(),
                "message": r.message,
            }
            for r in decision.refusals
        ],
    }
    assert got == expected


@pytest.mark.parametrize("case", _cases("occurrence"))
def test_freeze_occurrence__case__gives_current_and_next(case: dict[str, Any]) -> None:
    freeze = _freeze(case["freeze"])
    now = _dt(case["now"])
    assert _occurrence(current_occurrence(freeze, now)) == case["expected"]["current"]
    assert _occurrence(next_occurrence(freeze, now)) == case["expected"]["next"]


@pytest.mark.parametrize("case", _cases("cron"))
def test_cron__case__matches_and_misses_the_listed_minutes(case: dict[str, Any]) -> None:
    spec = parse_cron(case["expression"])
    for text in case["matches"]:
        assert spec.matches(_dt(text)), text
        assert next_match(spec, _dt(text)) == _dt(text)
        assert previous_match(spec, _dt(text)) == _dt(text)
    for text in case["misses"]:
        assert not spec.matches(_dt(text)), text


@pytest.mark.parametrize("case", _cases("cron_errors"))
def test_cron__malformed_expression__refused_saying_what_is_wrong(case: dict[str, Any]) -> None:
    for item in case["errors"]:
        with pytest.raises(CronError) as caught:
            parse_cron(item["expression"])
        assert item["message_contains"] in str(caught.value), item["expression"]


@pytest.mark.parametrize(
    "expression", ["0 18 * * 5", "*/7 3-5 * * *", "0 0 1 * 1", "15 10 29 * *", "0 12 * jan,jul sat"]
)
def test_next_and_previous_match__any_minute__agree_with_brute_force(expression: str) -> None:
    spec = parse_cron(expression)
    start = datetime(2026, 1, 30, 17, 3)
    minute = start
    while not spec.matches(minute):
        minute += timedelta(minutes=1)
        assert minute < start + timedelta(days=366 * 5)
    assert next_match(spec, start) == minute
    assert previous_match(spec, minute + timedelta(seconds=59)) == minute
    assert previous_match(spec, minute - timedelta(minutes=1), not_before=start) is None


def test_next_match__29_february__found_in_the_next_leap_year() -> None:
    spec = parse_cron("15 10 29 2 *")
    assert next_match(spec, datetime(2026, 1, 30)) == datetime(2028, 2, 29, 10, 15)
    assert previous_match(spec, datetime(2026, 1, 30)) == datetime(2024, 2, 29, 10, 15)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("62h", timedelta(hours=62)),
        ("2d", timedelta(days=2)),
        ("1d12h", timedelta(hours=36)),
        ("90m", timedelta(minutes=90)),
        ("1w", timedelta(weeks=1)),
        ("1h 30m", timedelta(minutes=90)),
    ],
)
def test_parse_duration__valid_text__reads_back_the_same(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected
    assert parse_duration(format_duration(expected)) == expected


@pytest.mark.parametrize("text", ["", "62", "h", "3x", "0h", "-2h", "2h and more", "1.5h"])
def test_parse_duration__invalid_text__refused(text: str) -> None:
    with pytest.raises(DurationError):
        parse_duration(text)


def test_open_window__default__lasts_seven_days_from_the_deploy() -> None:
    opened = datetime(2026, 11, 26, 15, tzinfo=UTC)
    window = open_window("shop@2.3.0", "production", ["web-front", "billing-api"], opened)
    assert window.ends_at == datetime(2026, 12, 3, 15, tzinfo=UTC)
    assert window.services == ("billing-api", "web-front")
    assert window.is_open(opened) and not window.is_open(window.ends_at)


@pytest.mark.parametrize("days", [1, 7, 14])
def test_validate_window_days__one_to_fourteen__accepted(days: int) -> None:
    assert validate_window_days(days) == days


@pytest.mark.parametrize("days", [0, 15, -3, True, 7.5, "7"])
def test_validate_window_days__outside_range_or_not_whole__refused(days: Any) -> None:
    with pytest.raises(WindowLengthError):
        validate_window_days(days)


def test_check_deploy_allowed__naive_now__refused_as_ambiguous() -> None:
    with pytest.raises(WindowError, match="timezone"):
        check_deploy_allowed(datetime(2026, 11, 28, 10), [], [])


def test_check_deploy_allowed__override_with_nothing_blocking__not_marked_overridden() -> None:
    decision = check_deploy_allowed(
        datetime(2026, 11, 28, 10, tzinfo=UTC), [], [], override=True, reason="hotfix"
    )
    assert decision.allowed and not decision.overridden and not decision.refusals


@pytest.mark.parametrize(
    "kwargs",
    [
        {"name": "x", "cron": "0 0 * * 6"},
        {"name": "x", "cron": "0 0 * * 6", "duration": timedelta(0)},
        {"name": "x", "cron": "every friday", "duration": timedelta(hours=1)},
        {"name": "x", "cron": "weekends", "timezone": "Mars/Olympus"},
        {"name": "x"},
        {"name": " ", "cron": "weekends"},
        {
            "name": "x",
            "start": datetime(2026, 1, 2, tzinfo=UTC),
            "end": datetime(2026, 1, 1, tzinfo=UTC),
        },
        {"name": "x", "start": datetime(2026, 1, 1), "end": datetime(2026, 1, 2)},
        {"name": "x", "cron": "weekends", "start": datetime(2026, 1, 1, tzinfo=UTC)},
    ],
)
def test_freeze__ill_defined__refused_with_freeze_error(kwargs: dict[str, Any]) -> None:
    with pytest.raises(WindowError):
        Freeze(**kwargs)


def test_freeze__unknown_named_schedule__message_lists_the_known_names() -> None:
    with pytest.raises(FreezeError, match="weekends"):
        Freeze.recurring("x", "holidays")


def test_freeze_as_dict__same_instant_other_offset__compares_equal() -> None:
    a = Freeze.one_off("x", _dt("2026-12-24T00:00:00+09:00"), _dt("2026-12-26T00:00:00+09:00"))
    b = Freeze.one_off("x", _dt("2026-12-23T15:00:00+00:00"), _dt("2026-12-25T15:00:00+00:00"))
    assert a.as_dict() == b.as_dict()
