"""The flag evaluation core, from the JSON cases in tests/cases/evaluation plus the statistical
properties of rollouts and splits, which do not fit in a case file."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from trimtab.core.evaluation import (
    CompiledFlag,
    EvaluationResult,
    FlagConfigError,
    compile_flag,
    compile_flags,
    evaluate,
    evaluate_key,
    find_prerequisite_cycle,
    rollout_bucket,
    validate_flag_config,
)

CASES_DIR = Path(__file__).parents[1] / "cases" / "evaluation"
USERS = [f"user-{i}" for i in range(100_000)]


def load_cases() -> list[Any]:
    """Every case of every file, as pytest params named "<file>: <case name>"."""
    return [
        pytest.param(case, id=f"{path.stem}: {case['name']}")
        for path in sorted(CASES_DIR.glob("*.json"))
        for case in json.loads(path.read_text())
    ]


def compile_case(case: dict[str, Any]) -> tuple[CompiledFlag | None, dict[str, CompiledFlag]]:
    """The case's flag and the rule set it is evaluated in (its prerequisite flags and itself)."""
    segments = case.get("segments")
    others = compile_flags(case.get("flags", []), segments)
    if case["flag"] is None:
        return None, others
    flag = compile_flag(case["flag"], segments)
    return flag, {**others, flag.key: flag}


def run_case(case: dict[str, Any]) -> EvaluationResult:
    """Evaluate a (valid) case the way the server and the SDK do."""
    flag, flags = compile_case(case)
    key = flag.key if flag is not None else case["key"]
    return evaluate_key(
        flags,
        key,
        case["context"],
        unhealthy=frozenset(case.get("unhealthy", [])),
        expected_type=case.get("expected_type"),
    )


def assert_same_json(actual: Any, expected: Any) -> None:
    # == alone would accept 1 for true and 1.0 for 1.
    assert json.dumps(actual, sort_keys=True) == json.dumps(expected, sort_keys=True)


@pytest.mark.parametrize("case", load_cases())
def test_evaluate__json_case__gives_the_expected_result(case: dict[str, Any]) -> None:
    expect = case["expect"]
    if "config_error" in expect:
        with pytest.raises(FlagConfigError) as raised:
            compile_case(case)
        assert raised.value.path == expect["config_error"]
        return
    result = run_case(case)
    assert_same_json(result.value, expect["value"])
    assert (result.variant, result.reason, result.error_code) == (
        expect["variant"],
        expect["reason"],
        expect.get("error_code"),
    )
    if "rule_id" in expect:
        assert result.rule_id == expect["rule_id"]
    assert (result.error_message is not None) == (result.error_code is not None)


@pytest.mark.parametrize("case", load_cases())
def test_validate_flag_config__normalized_config__is_a_fixed_point(case: dict[str, Any]) -> None:
    if "config_error" in case["expect"] or case["flag"] is None:
        return
    normalized = validate_flag_config(case["flag"], segments=case.get("segments"))
    assert validate_flag_config(normalized, segments=case.get("segments")) == normalized
    assert json.loads(json.dumps(normalized)) == normalized


def test_validate_flag_config__boolean_flag__fills_in_every_default() -> None:
    normalized = validate_flag_config({"key": "kill", "rules": [{"serve": {"variant": "on"}}]})
    assert normalized == {
        "key": "kill",
        "type": "boolean",
        "variants": {"on": True, "off": False},
        "enabled": False,
        "default_variant": "on",
        "off_variant": "off",
        "rules": [{"id": "rule-1", "constraints": [], "segments": [], "serve": {"variant": "on"}}],
        "prerequisites": [],
        "fallback": None,
        "salt": "kill",
    }


def test_flag_config_error__message__names_the_path_and_the_reason() -> None:
    with pytest.raises(ValueError, match=r"^rules\[0\]\.serve\.rollout\.percentage: must be from"):
        compile_flag({"key": "k", "rules": [{"serve": {"rollout": {"percentage": 150}}}]})


def _rollout(percentage: float, salt: str = "checkout") -> CompiledFlag:
    return compile_flag(
        {
            "key": "rollout",
            "enabled": True,
            "default_variant": "off",
            "salt": salt,
            "rules": [{"serve": {"rollout": {"percentage": percentage, "variant": "on"}}}],
        }
    )


def _included(flag: CompiledFlag) -> set[str]:
    return {user for user in USERS if evaluate(flag, {"targetingKey": user}).value is True}


def test_rollout__25_percent__includes_25_percent_of_100000_keys_within_1_percent() -> None:
    assert 24_000 <= len(_included(_rollout(25))) <= 26_000


def test_rollout__fractional_percentage__includes_that_fraction() -> None:
    assert 400 <= len(_included(_rollout(0.5))) <= 600


def test_rollout__raised_from_10_to_50_percent__keeps_every_user_already_in() -> None:
    at_10, at_50 = _included(_rollout(10)), _included(_rollout(50))
    assert 9_000 <= len(at_10) <= 11_000 and 49_000 <= len(at_50) <= 51_000
    assert at_10 <= at_50


def test_rollout__another_salt__picks_other_users() -> None:
    first, second = _included(_rollout(50, "a")), _included(_rollout(50, "b"))
    # Independent halves overlap on about a quarter of all users.
    assert 23_000 <= len(first & second) <= 27_000


def test_rollout_bucket__many_keys__cover_all_buckets_evenly() -> None:
    counts = Counter(rollout_bucket("salt", user) // 1000 for user in USERS)
    assert set(counts) == set(range(100))
    assert min(counts.values()) >= 800 and max(counts.values()) <= 1200


def test_split__weights_50_30_20__distribute_100000_keys_within_1_percent() -> None:
    flag = compile_flag(
        {
            "key": "theme",
            "type": "string",
            "enabled": True,
            "variants": {"a": "A", "b": "B", "c": "C", "never": "N"},
            "default_variant": "a",
            "off_variant": "a",
            "rules": [
                {
                    "serve": {
                        "split": [
                            {"variant": "a", "weight": 500},
                            {"variant": "never", "weight": 0},
                            {"variant": "b", "weight": 300},
                            {"variant": "c", "weight": 200},
                        ]
                    }
                }
            ],
        }
    )
    counts = Counter(evaluate(flag, {"targetingKey": user}).variant for user in USERS)
    assert counts.keys() == {"a", "b", "c"}
    for variant, share in {"a": 0.5, "b": 0.3, "c": 0.2}.items():
        assert abs(counts[variant] / len(USERS) - share) <= 0.01, (variant, counts)


def test_evaluate__same_flag_twice__returns_the_shared_result_object() -> None:
    flag = compile_flag({"key": "kill", "enabled": True})
    assert evaluate(flag, {}) is evaluate(flag, {"targetingKey": "x"})


def test_find_prerequisite_cycle__cycle__names_its_flags() -> None:
    configs = {
        "a": {"key": "a", "prerequisites": [{"flag": "b"}]},
        "b": {"key": "b", "prerequisites": [{"flag": "c"}, {"flag": "missing"}]},
        "c": {"key": "c", "prerequisites": [{"flag": "a"}]},
        "d": {"key": "d", "prerequisites": [{"flag": "a"}]},
    }
    assert find_prerequisite_cycle(configs) == ["a", "b", "c", "a"]


def test_find_prerequisite_cycle__shared_parents_without_cycle__finds_none() -> None:
    configs = {
        "a": {"key": "a"},
        "b": {"key": "b", "prerequisites": [{"flag": "a"}]},
        "c": {"key": "c", "prerequisites": [{"flag": "a"}, {"flag": "b"}]},
    }
    assert find_prerequisite_cycle(configs) is None
