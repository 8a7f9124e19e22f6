"""Property tests of flag evaluation: any valid flag config and any context give a result of
the flag's declared type (one of its variants), or its default with a reason, never an
exception; any invalid config is a `FlagConfigError`; rollouts and splits are sticky, only grow
with the percentage, and share users out within statistical bounds.

The bounds are wide (six standard deviations over 4,000 keys) and the inputs derandomized (the
"ci" profile in tests/conftest.py), so these tests cannot flake: they fail only when bucketing
is wrong.
"""

from __future__ import annotations

import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.core.json_values import any_values, plain_values
from trimtab.core.evaluation import (
    CompiledFlag,
    ErrorCode,
    EvaluationResult,
    FlagConfigError,
    Reason,
    compile_flag,
    compile_flags,
    evaluate,
    evaluate_key,
    validate_flag_config,
)
from trimtab.core.flags.config import FLAG_TYPES

KEYS = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,11}", fullmatch=True)
ATTRIBUTES = ["targetingKey", "country", "version", "email", "age", "currentTime", "plan"]
DEPENDENCIES = ["billing-api", "search", "mail"]
SEGMENTS = {
    "beta": [{"attribute": "plan", "operator": "in", "values": ["beta", "staff"]}],
    "adults": [{"attribute": "age", "operator": "num_gte", "values": [18]}],
}
TEXTS = st.text(max_size=12)
SEMVERS = st.sampled_from(["1.2.3", "0.0.1-rc.1", "10.0.0+build.5", "1.2.3-alpha.10", "2.0.0"])
DATES = st.sampled_from(
    ["2024-05-01T12:00:00Z", "2024-05-01", "2024-05-01T12:00:00+09:00", "0001-01-01T00:00:00+01:00"]
)
NUMBERS = st.one_of(
    st.integers(-(2**53), 2**53), st.floats(allow_nan=False, allow_infinity=False), st.just("42")
)
REGEXES = st.sampled_from(["^a", "b+", "(x|y)z$", "[0-9]{2}", "@example\\.com$", "^([a-z0-9]+)+@"])
TEXT_OPERATORS = ["in", "not_in", "equals", "contains", "starts_with", "ends_with", "regex"]


@st.composite
def constraints(draw: st.DrawFn) -> dict[str, Any]:
    operator = draw(
        st.sampled_from(
            [
                *TEXT_OPERATORS,
                *("num_eq", "num_gt", "num_gte", "num_lt", "num_lte"),
                *("semver_eq", "semver_gt", "semver_lt", "date_before", "date_after"),
            ]
        )
    )
    if operator in ("in", "not_in", "contains", "starts_with", "ends_with"):
        values = draw(st.lists(st.one_of(TEXTS, st.integers(), st.booleans()), min_size=1))
    elif operator == "equals":
        values = [draw(st.one_of(TEXTS, st.integers(), st.booleans()))]
    elif operator == "regex":
        values = [draw(REGEXES)]
    elif operator.startswith("num"):
        values = [draw(NUMBERS)]
    elif operator.startswith("semver"):
        values = [draw(SEMVERS)]
    else:
        values = [draw(DATES)]
    constraint: dict[str, Any] = {
        "attribute": draw(st.sampled_from(ATTRIBUTES)),
        "operator": operator,
        "values": values,
        "negate": draw(st.booleans()),
    }
    if operator in TEXT_OPERATORS:
        constraint["case_insensitive"] = draw(st.booleans())
    return constraint


PERCENTAGES = st.integers(0, 100_000).map(lambda thousandths: thousandths / 1000)


@st.composite
def serves(draw: st.DrawFn, names: list[str]) -> dict[str, Any]:
    kind = draw(st.sampled_from(["variant", "rollout", "split"]))
    stickiness = draw(st.sampled_from(["targetingKey", "email", "plan"]))
    if kind == "variant":
        return {"variant": draw(st.sampled_from(names))}
    if kind == "rollout":
        return {
            "rollout": {
                "percentage": draw(PERCENTAGES),
                "variant": draw(st.sampled_from(names)),
                "stickiness": stickiness,
            }
        }
    chosen = draw(st.lists(st.sampled_from(names), min_size=1, unique=True))
    weights = draw(st.lists(st.integers(0, 1000), min_size=len(chosen), max_size=len(chosen)))
    weights[0] = max(weights[0], 1)
    split = [{"variant": n, "weight": w} for n, w in zip(chosen, weights, strict=True)]
    return {"split": split, "stickiness": stickiness}


VALUES_BY_TYPE: dict[str, st.SearchStrategy[Any]] = {
    "boolean": st.booleans(),
    "string": TEXTS,
    "number": st.one_of(
        st.integers(-(2**53), 2**53), st.floats(allow_nan=False, allow_infinity=False)
    ),
    "json": plain_values,
}


@st.composite
def flag_configs(draw: st.DrawFn, key: str, others: list[str]) -> dict[str, Any]:
    """A valid flag config; `others` are keys it may name as prerequisites."""
    flag_type = draw(st.sampled_from(FLAG_TYPES))
    config: dict[str, Any] = {"key": key, "type": flag_type, "enabled": draw(st.booleans())}
    if flag_type == "boolean" and draw(st.booleans()):
        names = ["on", "off"]  # the implied variants
    else:
        names = draw(st.lists(KEYS, min_size=1, max_size=4, unique=True))
        values = VALUES_BY_TYPE[flag_type]
        config["variants"] = {name: draw(values) for name in names}
    config["default_variant"] = draw(st.sampled_from(names))
    config["off_variant"] = draw(st.sampled_from(names))
    rules = []
    for i in range(draw(st.integers(0, 3))):
        rule: dict[str, Any] = {
            "id": f"r{i}",
            "constraints": draw(st.lists(constraints(), max_size=3)),
            "serve": draw(serves(names)),
        }
        if draw(st.booleans()):
            rule["segments"] = draw(st.lists(st.sampled_from(sorted(SEGMENTS)), max_size=2))
        rules.append(rule)
    config["rules"] = rules
    if others and draw(st.booleans()):
        config["prerequisites"] = [
            {"flag": other, "variants": draw(st.lists(KEYS, max_size=2))}
            for other in draw(st.lists(st.sampled_from(others), min_size=1, max_size=2))
        ]
    if draw(st.booleans()):
        config["fallback"] = {
            "variant": draw(st.sampled_from(names)),
            "dependencies": draw(st.lists(st.sampled_from(DEPENDENCIES), min_size=1)),
        }
    if draw(st.booleans()):
        config["salt"] = draw(KEYS)
    return config


@st.composite
def rule_sets(draw: st.DrawFn) -> list[dict[str, Any]]:
    """One to three flags that may name each other as prerequisites (cycles included)."""
    keys = draw(st.lists(KEYS, min_size=1, max_size=3, unique=True))
    return [draw(flag_configs(key, [k for k in keys if k != key])) for key in keys]


CONTEXT_VALUES = st.one_of(any_values, SEMVERS, DATES, NUMBERS, TEXTS)
CONTEXTS = st.one_of(
    st.dictionaries(st.sampled_from(ATTRIBUTES), CONTEXT_VALUES, max_size=5),
    st.dictionaries(st.text(max_size=8), any_values, max_size=3),
    any_values,  # not an object: INVALID_CONTEXT unless it is None
)


def _is_of_type(value: Any, flag_type: str) -> bool:
    if flag_type == "boolean":
        return isinstance(value, bool)
    if flag_type == "string":
        return isinstance(value, str)
    if flag_type == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return True


def _check_result(
    flag: CompiledFlag, result: EvaluationResult, context: Any, expected: str | None
) -> None:
    variants = flag.config["variants"]
    assert isinstance(result, EvaluationResult)
    assert (result.error_code is None) == (result.reason != Reason.ERROR)
    if expected is not None and expected != flag.type:
        assert result.error_code == ErrorCode.TYPE_MISMATCH
        return
    if context is not None and not isinstance(context, dict):
        assert result.error_code == ErrorCode.INVALID_CONTEXT
        return
    if not flag.enabled:
        assert (result.reason, result.variant) == (Reason.DISABLED, flag.config["off_variant"])
    if result.reason == Reason.ERROR:
        assert result.error_code in (ErrorCode.TARGETING_KEY_MISSING, ErrorCode.PARSE_ERROR)
        if result.error_code == ErrorCode.PARSE_ERROR:
            assert flag.prerequisites  # only a prerequisite cycle is a parse error here
            return
        assert result.variant == flag.config["default_variant"]  # the default, with a reason
    assert result.variant in variants
    assert result.value == variants[result.variant] or result.value != result.value
    assert _is_of_type(result.value, flag.type)
    if result.reason in (Reason.TARGETING_MATCH, Reason.SPLIT):
        assert result.rule_id in {rule["id"] for rule in flag.config["rules"]}


@given(
    rule_sets(),
    CONTEXTS,
    st.frozensets(st.sampled_from(DEPENDENCIES)),
    st.one_of(st.none(), st.sampled_from(FLAG_TYPES)),
)
def test_evaluate__any_valid_config_and_context__a_variant_of_the_type_or_an_error(
    configs: list[dict[str, Any]], context: Any, unhealthy: frozenset[str], expected: str | None
) -> None:
    flags = compile_flags(configs, SEGMENTS)
    for key, flag in flags.items():
        result = evaluate_key(flags, key, context, unhealthy, expected)
        _check_result(flag, result, context, expected)
        assert evaluate_key(flags, key, context, unhealthy, expected) == result  # sticky


@given(rule_sets())
def test_validate_flag_config__valid_config__normalized_is_a_fixed_point(
    configs: list[dict[str, Any]],
) -> None:
    for config in configs:
        normalized = validate_flag_config(config, segments=SEGMENTS)
        assert validate_flag_config(normalized, segments=SEGMENTS) == normalized


# Wrong types, unhashable ones (a list where a name is looked up in a set) included.
REPLACEMENTS = st.one_of(st.sampled_from([[], {}, [[]], None, True, 0, 1.5, ""]), any_values)


def _places(node: Any) -> list[tuple[Any, Any]]:
    """Every (container, key or index) inside a config, at any depth."""
    keys = list(node) if isinstance(node, dict) else list(range(len(node)))
    places = [(node, key) for key in keys]
    for key in keys:
        if isinstance(node[key], dict | list):
            places.extend(_places(node[key]))
    return places


@st.composite
def broken_configs(draw: st.DrawFn) -> Any:
    """A valid config with one or two fields (any of them, at any depth) replaced by any value,
    or a field dropped; or any value at all."""
    if draw(st.integers(0, 9)) == 0:
        return draw(any_values)
    config = draw(flag_configs("k", ["other"]))
    for _ in range(draw(st.integers(1, 2))):
        container, key = draw(st.sampled_from(_places(config)))
        if isinstance(container, dict) and draw(st.integers(0, 4)) == 0:
            del container[key]
        else:
            container[key] = draw(REPLACEMENTS)
    return config


@settings(max_examples=300)
@given(broken_configs(), CONTEXTS)
def test_compile_flag__any_config__compiles_or_flag_config_error(config: Any, context: Any) -> None:
    try:
        flag = compile_flag(config, SEGMENTS)
    except FlagConfigError as exc:
        assert exc.message
        return
    _check_result(flag, evaluate(flag, context), context, None)


def _rollout_flag(salt: str, percentage: float) -> CompiledFlag:
    return compile_flag(
        {
            "key": "ramp",
            "enabled": True,
            "default_variant": "off",
            "salt": salt,
            "rules": [{"serve": {"rollout": {"percentage": percentage}}}],
        }
    )


USERS = [f"user-{i}" for i in range(4000)]


def _included(flag: CompiledFlag) -> set[str]:
    return {user for user in USERS if evaluate(flag, {"targetingKey": user}).value is True}


def _bound(p: float) -> float:
    """Six standard deviations of the share of len(USERS) keys, plus a rounding margin."""
    return 6 * math.sqrt(p * (1 - p) / len(USERS)) + 1 / len(USERS)


@settings(max_examples=25)  # each example evaluates 8,000 times
@given(KEYS, PERCENTAGES, PERCENTAGES)
def test_rollout__any_salt_and_percentages__sticky_growing_and_near_the_percentage(
    salt: str, first: float, second: float
) -> None:
    low, high = sorted((first, second))
    included = [_included(_rollout_flag(salt, p)) for p in (low, high)]
    assert included[0] <= included[1]  # raising the percentage only adds users
    for share, percentage in zip(included, (low, high), strict=True):
        p = percentage / 100
        assert abs(len(share) / len(USERS) - p) <= _bound(p)
    assert _included(_rollout_flag(salt, low)) == included[0]  # sticky


@settings(max_examples=25)
@given(KEYS, st.lists(st.integers(0, 100), min_size=2, max_size=4).filter(lambda w: sum(w) > 0))
def test_split__any_salt_and_weights__each_variant_near_its_weight(
    salt: str, weights: list[int]
) -> None:
    names = [f"v{i}" for i in range(len(weights))]
    flag = compile_flag(
        {
            "key": "split",
            "type": "string",
            "enabled": True,
            "variants": {name: name for name in names},
            "default_variant": names[0],
            "off_variant": names[0],
            "salt": salt,
            "rules": [
                {
                    "serve": {
                        "split": [
                            {"variant": n, "weight": w} for n, w in zip(names, weights, strict=True)
                        ]
                    }
                }
            ],
        }
    )
    counts = dict.fromkeys(names, 0)
    for user in USERS:
        result = evaluate(flag, {"targetingKey": user})
        assert result.reason == Reason.SPLIT
        counts[result.value] += 1
    for name, weight in zip(names, weights, strict=True):
        p = weight / sum(weights)
        assert abs(counts[name] / len(USERS) - p) <= _bound(p), (name, counts)
