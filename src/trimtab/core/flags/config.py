"""Validation and normalization of a flag config (the JSON shape is described in
`trimtab.core.evaluation`).

`validate_flag_config` returns a new dict with every default filled in, so what the server stores
is exactly what the SDK evaluates. Every problem raises FlagConfigError with the path of the bad
field (`rules[2].constraints[0].values`), so an API can point at it.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from trimtab.core.flags.regex import RegexError, compile_regex
from trimtab.core.flags.strategies import StrategyError, normalize_strategy
from trimtab.core.flags.values import as_number, parse_datetime, parse_network, parse_semver

FLAG_TYPES = ("boolean", "string", "number", "json")
SET_OPERATORS = frozenset({"in", "not_in", "equals"})
STRING_OPERATORS = frozenset({"contains", "starts_with", "ends_with"})
NUMBER_OPERATORS = frozenset({"num_eq", "num_gt", "num_gte", "num_lt", "num_lte"})
SEMVER_OPERATORS = frozenset({"semver_eq", "semver_gt", "semver_lt"})
DATE_OPERATORS = frozenset({"date_before", "date_after"})
# An IP address (IPv4 or IPv6) in one of the networks (CIDR like 10.0.0.0/8, or one address).
CIDR_OPERATORS = frozenset({"in_cidr"})
OPERATORS = (
    SET_OPERATORS
    | STRING_OPERATORS
    | NUMBER_OPERATORS
    | SEMVER_OPERATORS
    | DATE_OPERATORS
    | CIDR_OPERATORS
    | {"regex"}
)
_TEXT_OPERATORS = SET_OPERATORS | STRING_OPERATORS | {"regex"}
_MULTI_VALUE_OPERATORS = STRING_OPERATORS | CIDR_OPERATORS | {"in", "not_in"}

DEFAULT_STICKINESS = "targetingKey"
MAX_REGEX_LENGTH = 1000
MAX_VALUES = 10_000
MAX_RULES = 1000
MAX_JSON_DEPTH = 32
BOOLEAN_VARIANTS = {"on": True, "off": False}

_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}\Z")
_INTEGER_TEXT = re.compile(r"[+-]?\d+\Z")
# The fields of a config that are per environment (the rest is the flag's definition).
ENVIRONMENT_FIELDS = (
    "enabled",
    "default_variant",
    "off_variant",
    "rules",
    "prerequisites",
    "fallback",
    "salt",
)
_FLAG_FIELDS = frozenset({"key", "type", "variants", *ENVIRONMENT_FIELDS})
_RULE_FIELDS = frozenset({"id", "constraints", "segments", "serve", "strategy"})
_CONSTRAINT_FIELDS = frozenset(
    {"attribute", "operator", "values", "value", "negate", "case_insensitive"}
)


class FlagConfigError(ValueError):
    """A flag config (or segment) is invalid; `path` names the field, `message` says why."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message


def validate_flag_config(
    config: Mapping[str, Any], *, segments: Mapping[str, Sequence[Any]] | None = None
) -> dict[str, Any]:
    """Check a flag config and return it normalized (defaults filled in, shorthands expanded).

    `segments` (name -> constraints) lets rules' segment references be checked; without it only
    their shape is. Raises FlagConfigError.
    """
    if not isinstance(config, Mapping):
        raise FlagConfigError("", "a flag config must be a JSON object")
    _no_unknown_fields(config, _FLAG_FIELDS, "")
    key = _text_field(config, "key", "")
    if not _KEY.match(key):
        raise FlagConfigError(
            "key",
            "use 1-128 letters, digits, '.', '_', ':' or '-', starting with a letter or digit",
        )
    flag_type = config.get("type", "boolean")
    if flag_type not in FLAG_TYPES:
        raise FlagConfigError("type", f"must be one of {', '.join(FLAG_TYPES)}")
    variants = _variants(config, flag_type)
    names = set(variants)
    is_boolean = flag_type == "boolean"
    default_variant = _variant_ref(config, "default_variant", names, "on" if is_boolean else None)
    off_variant = _variant_ref(config, "off_variant", names, "off" if is_boolean else None)
    enabled = config.get("enabled", False)
    if not isinstance(enabled, bool):
        raise FlagConfigError("enabled", "must be true or false")
    salt = config.get("salt", key)
    if not isinstance(salt, str) or not salt:
        raise FlagConfigError("salt", "must be a non-empty string")
    raw_rules = _list_field(config, "rules", "rules")
    if len(raw_rules) > MAX_RULES:
        raise FlagConfigError("rules", f"at most {MAX_RULES} rules")
    rules = [
        _rule(rule, f"rules[{i}]", i, variants, is_boolean, segments)
        for i, rule in enumerate(raw_rules)
    ]
    seen: set[str] = set()
    for i, rule in enumerate(rules):
        if rule["id"] in seen:
            raise FlagConfigError(f"rules[{i}].id", f"duplicate rule id {rule['id']!r}")
        seen.add(rule["id"])
    return {
        "key": key,
        "type": flag_type,
        "variants": variants,
        "enabled": enabled,
        "default_variant": default_variant,
        "off_variant": off_variant,
        "rules": rules,
        "prerequisites": _prerequisites(config, key),
        "fallback": _fallback(config, names),
        "salt": salt,
    }


def validate_segments(segments: Mapping[str, Sequence[Any]]) -> dict[str, list[dict[str, Any]]]:
    """Check segment definitions (name -> list of constraints) and return them normalized."""
    if not isinstance(segments, Mapping):
        raise FlagConfigError("segments", "must map segment names to lists of constraints")
    normalized = {}
    for name, constraints in segments.items():
        path = f"segments.{name}"
        if not isinstance(name, str) or not name:
            raise FlagConfigError(path, "a segment name must be a non-empty string")
        if isinstance(constraints, str | bytes) or not isinstance(constraints, Sequence):
            raise FlagConfigError(path, "must be a list of constraints")
        normalized[name] = [_constraint(c, f"{path}[{i}]") for i, c in enumerate(constraints)]
    return normalized


def _no_unknown_fields(data: Mapping[str, Any], allowed: frozenset[str], path: str) -> None:
    unknown = sorted(str(name) for name in data if name not in allowed)
    if unknown:
        where = f"{path}.{unknown[0]}" if path else unknown[0]
        raise FlagConfigError(where, f"unknown field; expected one of {', '.join(sorted(allowed))}")


def _text_field(data: Mapping[str, Any], name: str, path: str) -> str:
    where = f"{path}.{name}" if path else name
    value = data.get(name)
    if not isinstance(value, str) or not value:
        raise FlagConfigError(where, "required, a non-empty string")
    return value


def _list_field(data: Mapping[str, Any], name: str, path: str) -> Sequence[Any]:
    value = data.get(name)
    if value is None:
        return []
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise FlagConfigError(path, "must be a list")
    return value


def _variants(config: Mapping[str, Any], flag_type: str) -> dict[str, Any]:
    raw = config.get("variants")
    if raw is None:
        if flag_type == "boolean":
            return dict(BOOLEAN_VARIANTS)
        raise FlagConfigError("variants", f"a {flag_type} flag needs named variants")
    if not isinstance(raw, Mapping) or not raw:
        raise FlagConfigError("variants", "must be a non-empty object of name -> value")
    variants: dict[str, Any] = {}
    for name, value in raw.items():
        path = f"variants.{name}"
        if not isinstance(name, str) or not _KEY.match(name):
            raise FlagConfigError(path, "a variant name uses letters, digits, '.', '_', ':' or '-'")
        variants[name] = _variant_value(value, flag_type, path)
    return variants


def _variant_value(value: Any, flag_type: str, path: str) -> Any:
    if flag_type == "boolean" and not isinstance(value, bool):
        raise FlagConfigError(path, "a boolean flag's variants must be true or false")
    if flag_type == "string" and not isinstance(value, str):
        raise FlagConfigError(path, "a string flag's variants must be strings")
    if flag_type == "number" and (isinstance(value, str) or as_number(value) is None):
        raise FlagConfigError(path, "a number flag's variants must be finite numbers")
    if flag_type == "json":
        _check_json(value, path, 0)
        # A copy, so that later changes to the caller's dict cannot reach a compiled flag.
        return copy.deepcopy(value)
    return value


def _check_json(value: Any, path: str, depth: int) -> None:
    if depth > MAX_JSON_DEPTH:
        raise FlagConfigError(path, f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    if value is None or isinstance(value, str | bool | int):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise FlagConfigError(path, "JSON numbers must be finite")
        return
    if isinstance(value, Mapping):
        for name, item in value.items():
            if not isinstance(name, str):
                raise FlagConfigError(path, "JSON object keys must be strings")
            _check_json(item, f"{path}.{name}", depth + 1)
        return
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _check_json(item, f"{path}[{i}]", depth + 1)
        return
    raise FlagConfigError(path, f"not a JSON value: {type(value).__name__}")


def _variant_ref(
    data: Mapping[str, Any], field: str, names: set[str], default: str | None, path: str = ""
) -> str:
    where = f"{path}.{field}" if path else field
    value = data.get(field, default)
    if value is None:
        raise FlagConfigError(where, "required: the name of one of the flag's variants")
    if not isinstance(value, str) or value not in names:
        raise FlagConfigError(where, f"unknown variant {value!r}; variants: {sorted(names)}")
    return str(value)


def _attribute(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value or len(value) > 200:
        raise FlagConfigError(path, "must be a context attribute name (a non-empty string)")
    return value


def _rule(
    rule: Any,
    path: str,
    index: int,
    variants: Mapping[str, Any],
    is_boolean: bool,
    segments: Mapping[str, Sequence[Any]] | None,
) -> dict[str, Any]:
    if not isinstance(rule, Mapping):
        raise FlagConfigError(path, "a rule must be an object")
    _no_unknown_fields(rule, _RULE_FIELDS, path)
    rule_id = rule.get("id", f"rule-{index + 1}")
    if not isinstance(rule_id, str) or not rule_id:
        raise FlagConfigError(f"{path}.id", "must be a non-empty string")
    constraints = _list_field(rule, "constraints", f"{path}.constraints")
    segment_names = _list_field(rule, "segments", f"{path}.segments")
    for i, name in enumerate(segment_names):
        if not isinstance(name, str) or not name:
            raise FlagConfigError(f"{path}.segments[{i}]", "must be a segment name")
        if segments is not None and name not in segments:
            raise FlagConfigError(f"{path}.segments[{i}]", f"unknown segment {name!r}")
    normalized = {
        "id": rule_id,
        "constraints": [
            _constraint(c, f"{path}.constraints[{i}]") for i, c in enumerate(constraints)
        ],
        "segments": list(segment_names),
        "serve": _serve(rule.get("serve"), f"{path}.serve", variants, is_boolean),
    }
    if "strategy" in rule:  # a named (Unleash) strategy: core.flags.strategies
        try:
            normalized["strategy"] = normalize_strategy(rule["strategy"])
        except StrategyError as exc:
            where = f"{path}.strategy" + (f".{exc.path}" if exc.path else "")
            raise FlagConfigError(where, exc.message) from exc
        if "variant" not in normalized["serve"]:
            raise FlagConfigError(
                f"{path}.strategy", "a strategy decides whether a rule applies: serve a variant"
            )
    return normalized


def _serve(serve: Any, path: str, variants: Mapping[str, Any], is_boolean: bool) -> dict[str, Any]:
    names = set(variants)
    if not isinstance(serve, Mapping) or len(serve.keys() & {"variant", "rollout", "split"}) != 1:
        raise FlagConfigError(
            path, "must be one of {variant}, {rollout: {...}} or {split: [...], stickiness}"
        )
    if "variant" in serve:
        _no_unknown_fields(serve, frozenset({"variant"}), path)
        return {"variant": _variant_ref(serve, "variant", names, None, path)}
    if "rollout" in serve:
        _no_unknown_fields(serve, frozenset({"rollout"}), path)
        rollout = serve["rollout"]
        where = f"{path}.rollout"
        if not isinstance(rollout, Mapping):
            raise FlagConfigError(where, "must be an object {percentage, variant, stickiness}")
        _no_unknown_fields(rollout, frozenset({"percentage", "variant", "stickiness"}), where)
        # A boolean rollout almost always turns the flag on, so "variant" may be left out.
        true_names = [name for name, value in variants.items() if value is True]
        default = true_names[0] if is_boolean and len(true_names) == 1 else None
        return {
            "rollout": {
                "percentage": _percentage(rollout.get("percentage"), f"{where}.percentage"),
                "stickiness": _attribute(
                    rollout.get("stickiness", DEFAULT_STICKINESS), f"{where}.stickiness"
                ),
                "variant": _variant_ref(rollout, "variant", names, default, where),
            }
        }
    _no_unknown_fields(serve, frozenset({"split", "stickiness"}), path)
    split = serve["split"]
    where = f"{path}.split"
    if isinstance(split, str | bytes) or not isinstance(split, Sequence) or not split:
        raise FlagConfigError(where, "must be a non-empty list of {variant, weight}")
    entries = []
    total = 0
    seen: set[str] = set()
    for i, entry in enumerate(split):
        at = f"{where}[{i}]"
        if not isinstance(entry, Mapping):
            raise FlagConfigError(at, "must be an object {variant, weight}")
        _no_unknown_fields(entry, frozenset({"variant", "weight"}), at)
        name = _variant_ref(entry, "variant", names, None, at)
        if name in seen:
            raise FlagConfigError(f"{at}.variant", f"variant {name!r} appears twice in the split")
        seen.add(name)
        weight = entry.get("weight")
        if isinstance(weight, bool) or not isinstance(weight, int) or weight < 0:
            raise FlagConfigError(f"{at}.weight", "must be a whole number >= 0")
        entries.append({"variant": name, "weight": weight})
        total += weight
    if total <= 0:
        raise FlagConfigError(where, "the weights must add up to more than 0")
    stickiness = _attribute(serve.get("stickiness", DEFAULT_STICKINESS), f"{path}.stickiness")
    return {"split": entries, "stickiness": stickiness}


def _percentage(value: Any, path: str) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FlagConfigError(path, "must be a number from 0 to 100")
    if not (0 <= value <= 100):
        raise FlagConfigError(path, "must be from 0 to 100")
    if abs(value * 1000 - round(value * 1000)) > 1e-6:
        raise FlagConfigError(path, "at most three decimals (buckets are 0.001% wide)")
    return value


def _constraint(constraint: Any, path: str) -> dict[str, Any]:
    if not isinstance(constraint, Mapping):
        raise FlagConfigError(path, "a constraint must be an object")
    _no_unknown_fields(constraint, _CONSTRAINT_FIELDS, path)
    attribute = _attribute(constraint.get("attribute"), f"{path}.attribute")
    operator = constraint.get("operator")
    if not isinstance(operator, str) or operator not in OPERATORS:
        raise FlagConfigError(f"{path}.operator", f"must be one of {', '.join(sorted(OPERATORS))}")
    if "value" in constraint and "values" in constraint:
        raise FlagConfigError(path, "give either value or values, not both")
    raw = [constraint["value"]] if "value" in constraint else constraint.get("values")
    where = f"{path}.values"
    if isinstance(raw, str | bytes) or not isinstance(raw, Sequence) or not raw:
        raise FlagConfigError(where, "must be a non-empty list")
    if len(raw) > MAX_VALUES:
        raise FlagConfigError(where, f"at most {MAX_VALUES} values")
    if operator not in _MULTI_VALUE_OPERATORS and len(raw) != 1:
        raise FlagConfigError(where, f"{operator} takes exactly one value")
    negate = constraint.get("negate", False)
    case_insensitive = constraint.get("case_insensitive", False)
    if not isinstance(negate, bool):
        raise FlagConfigError(f"{path}.negate", "must be true or false")
    if not isinstance(case_insensitive, bool):
        raise FlagConfigError(f"{path}.case_insensitive", "must be true or false")
    if case_insensitive and operator not in _TEXT_OPERATORS:
        raise FlagConfigError(
            f"{path}.case_insensitive", f"applies to string operators only, not {operator}"
        )
    return {
        "attribute": attribute,
        "operator": operator,
        "values": [_constraint_value(operator, v, f"{where}[{i}]") for i, v in enumerate(raw)],
        "negate": negate,
        "case_insensitive": case_insensitive,
    }


def _constraint_value(operator: str, value: Any, path: str) -> Any:
    if operator in NUMBER_OPERATORS:
        if as_number(value) is None:
            raise FlagConfigError(path, f"{operator} needs a finite number")
        if isinstance(value, str):
            return int(value) if _INTEGER_TEXT.match(value) else float(value)
        return value
    if operator in SEMVER_OPERATORS:
        if parse_semver(value) is None:
            raise FlagConfigError(path, f"{value!r} is not a semantic version like 1.2.3 (no 'v')")
        return value
    if operator in DATE_OPERATORS:
        if parse_datetime(value) is None:
            raise FlagConfigError(path, f"{value!r} is not an ISO 8601 date-time")
        return value.isoformat() if isinstance(value, datetime) else value
    if operator in CIDR_OPERATORS:
        if parse_network(value) is None:
            raise FlagConfigError(path, f"{value!r} is not an IP network like 10.0.0.0/8 or ::1")
        return value
    if operator == "regex":
        if not isinstance(value, str) or not value or len(value) > MAX_REGEX_LENGTH:
            raise FlagConfigError(path, f"a regex is a string of 1-{MAX_REGEX_LENGTH} characters")
        try:
            compile_regex(value)
        except RegexError as exc:
            raise FlagConfigError(path, f"invalid regex: {exc}") from None
        return value
    if as_number(value) is None and not isinstance(value, str | bool):
        raise FlagConfigError(path, "must be a string, number or boolean")
    return value


def _prerequisites(config: Mapping[str, Any], key: str) -> list[dict[str, Any]]:
    normalized = []
    for i, item in enumerate(_list_field(config, "prerequisites", "prerequisites")):
        path = f"prerequisites[{i}]"
        if not isinstance(item, Mapping):
            raise FlagConfigError(path, "must be an object {flag, variants}")
        _no_unknown_fields(item, frozenset({"flag", "variants"}), path)
        flag = _text_field(item, "flag", path)
        if flag == key:
            raise FlagConfigError(f"{path}.flag", "a flag cannot be its own prerequisite")
        variants = _list_field(item, "variants", f"{path}.variants")
        for j, name in enumerate(variants):
            if not isinstance(name, str) or not name:
                raise FlagConfigError(f"{path}.variants[{j}]", "must be a variant name")
        normalized.append({"flag": flag, "variants": list(variants)})
    return normalized


def _fallback(config: Mapping[str, Any], names: set[str]) -> dict[str, Any] | None:
    fallback = config.get("fallback")
    if fallback is None:
        return None
    if not isinstance(fallback, Mapping):
        raise FlagConfigError("fallback", "must be an object {variant, dependencies}")
    _no_unknown_fields(fallback, frozenset({"variant", "dependencies"}), "fallback")
    variant = _variant_ref(fallback, "variant", names, None, "fallback")
    dependencies = _list_field(fallback, "dependencies", "fallback.dependencies")
    if not dependencies:
        raise FlagConfigError("fallback.dependencies", "name at least one dependency")
    for i, name in enumerate(dependencies):
        if not isinstance(name, str) or not name:
            raise FlagConfigError(f"fallback.dependencies[{i}]", "must be a dependency name")
    return {"variant": variant, "dependencies": list(dependencies)}
