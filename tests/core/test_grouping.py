"""Grouping, run from tests/cases/grouping/*.json.

Each case is {name, description, event, expect}; `expect` may hold `title`, `culprit`,
`level`, `components` (the exact grouping components), `same_group_as` and
`different_group_from` (names of other cases). Fingerprints are never written in the cases:
what matters is which events share one, and the components say why.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from trimtab.core.grouping import group_event, normalize_message

CASES_DIR = Path(__file__).resolve().parents[1] / "cases"
CASES: dict[str, dict[str, Any]] = {
    path.stem: json.loads(path.read_text()) for path in sorted(CASES_DIR.glob("grouping/*.json"))
}
FIELDS = ("title", "culprit", "level", "components")


def _field_params() -> list[Any]:
    return [
        pytest.param(name, field, id=f"{name}-{field}")
        for name, case in CASES.items()
        for field in FIELDS
        if field in case["expect"]
    ]


def _relation_params(relation: str) -> list[Any]:
    return [
        pytest.param(name, other, id=f"{name}-{other}")
        for name, case in CASES.items()
        for other in case["expect"].get(relation, [])
    ]


def _grouped(name: str) -> Any:
    result = group_event(CASES[name]["event"])
    return {
        "fingerprint": result.fingerprint,
        "title": result.title,
        "culprit": result.culprit,
        "level": result.level,
        "components": result.grouping_components,
    }


def test_case_files__each__is_named_for_its_file_and_checks_something() -> None:
    assert len(CASES) >= 30
    for name, case in CASES.items():
        assert case["name"] == name
        assert case["description"]
        assert set(case["expect"]) <= {*FIELDS, "same_group_as", "different_group_from"}, name
        assert case["expect"], name


def test_case_files__relations__name_existing_cases() -> None:
    for case in CASES.values():
        expect = case["expect"]
        for other in [*expect.get("same_group_as", []), *expect.get("different_group_from", [])]:
            assert other in CASES, f"{case['name']} refers to unknown case {other}"


@pytest.mark.parametrize(("name", "field"), _field_params())
def test_group_event__case__gives_expected_field(name: str, field: str) -> None:
    assert _grouped(name)[field] == CASES[name]["expect"][field]


@pytest.mark.parametrize(("name", "other"), _relation_params("same_group_as"))
def test_group_event__case__shares_fingerprint_with_listed_case(name: str, other: str) -> None:
    assert _grouped(name)["fingerprint"] == _grouped(other)["fingerprint"]


@pytest.mark.parametrize(("name", "other"), _relation_params("different_group_from"))
def test_group_event__case__differs_from_listed_case(name: str, other: str) -> None:
    assert _grouped(name)["fingerprint"] != _grouped(other)["fingerprint"]


def test_group_event__any_event__fingerprint_is_32_hex_and_stable() -> None:
    for name, case in CASES.items():
        first, second = group_event(case["event"]), group_event(copy.deepcopy(case["event"]))
        assert re.fullmatch(r"[0-9a-f]{32}", first.fingerprint), name
        assert first == second


def test_group_event__any_event__leaves_the_event_unchanged() -> None:
    for case in CASES.values():
        event = copy.deepcopy(case["event"])
        group_event(event)
        assert event == case["event"]


def test_group_event__same_components_in_other_order__differ() -> None:
    a = {"fingerprint": ["a", "b"]}
    b = {"fingerprint": ["b", "a"]}
    joined = {"fingerprint": ["a b"]}
    fingerprints = {group_event(e).fingerprint for e in (a, b, joined)}
    assert len(fingerprints) == 3


def test_group_event__real_sdk_cases__are_present() -> None:
    sdk_cases = [case for case in CASES.values() if case.get("source", "").startswith("sentry-sdk")]
    assert len(sdk_cases) >= 5
    deep = CASES["sdk_python_deep_stack"]["event"]
    assert len(json.dumps(deep)) > 30_000
    assert len(deep["breadcrumbs"]["values"]) == 20


NORMALIZATION = json.loads((CASES_DIR / "message_normalization" / "cases.json").read_text())


@pytest.mark.parametrize(
    "case", NORMALIZATION["cases"], ids=[c["input"][:40] for c in NORMALIZATION["cases"]]
)
def test_normalize_message__case__gives_expected_text(case: dict[str, str]) -> None:
    assert normalize_message(case["input"]) == case["expected"]


def test_group_event__hostile_sizes__components_stay_bounded() -> None:
    frames = [{"module": "m" * 5000, "function": f"f{i}", "in_app": True} for i in range(10_000)]
    exception = {"type": "E", "value": "v" * 100_000, "stacktrace": {"frames": frames}}
    event = {"exception": {"values": [exception] * 1000}, "message": "x" * 1_000_000}
    result = group_event(event)
    assert len(result.grouping_components) <= 25 * 251
    assert max(len(c) for c in result.grouping_components) < 600
    assert len(result.title) <= 200
