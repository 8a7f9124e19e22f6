"""Translate trimtab flag configs into the Unleash client API v2 features JSON.

`translate_flags` gives what `GET /api/client/features` serves: `{"version": 2, "features":
[...], "segments": [...]}`, so an unmodified Unleash SDK answers like `trimtab.core.evaluation`
for the same context. Where Unleash cannot express a rule the translation carries an
`UnleashGap` (flag, path, why) instead of dropping it silently; the feature is still emitted as
close as Unleash allows, and the server can show the gaps on the flag.

The mapping:

- Context: trimtab `targetingKey` is Unleash `userId`; the attributes `sessionId`,
  `remoteAddress`, `environment`, `appName` and `currentTime` are Unleash's own fields; every
  other attribute is a property. Values are sent in trimtab's text form (`flags.values`).
  `context_to_unleash` / `context_from_unleash` convert whole contexts. Constraints on an
  attribute named `userId` or `properties` are gaps (the names are taken).
- Rules become strategies, in order (`sortOrder`), with their constraints (`IN`, `NOT_IN`,
  `STR_CONTAINS`, `STR_STARTS_WITH`, `STR_ENDS_WITH`, `NUM_*`, `SEMVER_EQ/GT/LT`,
  `DATE_BEFORE/AFTER`; `equals` is `IN` with one value; `negate` is `inverted`) and segments
  (Unleash segment ids). A fixed variant is a `default` strategy (`userWithId` when the rule
  is just "targetingKey in [...]"), a rollout is a `flexibleRollout` with `groupId` = salt,
  a split is a 100% `flexibleRollout` whose strategy variants carry the weights. Both use the
  same hashing as trimtab (`flags.bucketing`). Gaps: `regex` (Rust and Python regexes differ),
  `case_insensitive` on in / not_in / equals, fractional percentages, sub-millisecond dates,
  backslashes in values.
- String, number and JSON flags: every rule's strategy carries its variant (payload typed
  string / number / json), and a last `default` strategy serves the default variant, unless
  that variant is named `disabled` (as in flags imported from Unleash): then a user no rule
  serves gets Unleash's own "disabled" answer. A flag
  that is off (or whose prerequisites fail) answers with Unleash's `disabled` variant, which
  Unleash SDKs turn into the application's code default: the off variant's value is not sent.
- Boolean flags map to `isEnabled`. Strategies are OR-ed, so a rule serving false only matters
  before later rules that serve true: it becomes negated constraints on those later strategies
  (one strategy per negated constraint, at most 64). A rollout or split that serves false
  before a rule that serves true, a split mixing true and false, and an off variant of true
  are gaps. A flag that never serves true gets a 0% rollout (no strategies would mean "on").
- A rule's named strategy (`flags.strategies`): one trimtab reads as constraints adds them to
  the rule's strategy; a custom one is sent as that strategy with its parameters (and the
  rule's constraints), and is a gap, since trimtab's own evaluation skips the rule.
- Prerequisites become `dependencies` (`enabled: true`, plus `variants`); Unleash allows one
  level, so a parent that has prerequisites of its own is a gap.
- The fallback is evaluated at translation time: pass `unhealthy`, and while a bound
  dependency is unhealthy the feature serves its fallback variant to everyone. The server must
  translate again (new ETag) when dependency health changes.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from trimtab.core.flags import unleash_values
from trimtab.core.flags.config import validate_flag_config, validate_segments
from trimtab.core.flags.strategies import strategy_constraints
from trimtab.core.flags.values import as_text

__all__ = [
    "UNLEASH_CONTEXT_FIELDS",
    "UnleashGap",
    "UnleashTranslation",
    "context_from_unleash",
    "context_to_unleash",
    "translate_flags",
]

UNLEASH_CONTEXT_FIELDS = ("sessionId", "remoteAddress", "environment", "appName", "currentTime")
MAX_GUARD_STRATEGIES = 64


def _never() -> dict[str, Any]:
    # A 0% rollout: an enabled Unleash feature without strategies would be on for everyone.
    return {"name": "flexibleRollout", "parameters": {"rollout": "0", "stickiness": "default"}}


@dataclass(frozen=True, slots=True)
class UnleashGap:
    """Something in flag `flag` at `path` that Unleash SDKs cannot evaluate like trimtab."""

    flag: str
    path: str
    message: str


@dataclass(frozen=True, slots=True)
class UnleashTranslation:
    """The features JSON and the gaps found while building it."""

    features: dict[str, Any]
    gaps: tuple[UnleashGap, ...]

    def gaps_for(self, key: str) -> list[UnleashGap]:
        """The gaps of one flag."""
        return [gap for gap in self.gaps if gap.flag == key]


def translate_flags(
    configs: Iterable[Mapping[str, Any]],
    *,
    segments: Mapping[str, Sequence[Any]] | None = None,
    segment_ids: Mapping[str, int] | None = None,
    unhealthy: Collection[str] = frozenset(),
    project: str = "default",
) -> UnleashTranslation:
    """Translate an environment's flag configs into Unleash's client features JSON.

    `segments` holds the definitions rules refer to; `segment_ids` their Unleash ids (default:
    1, 2, ... in name order); `unhealthy` the dependencies failing now (for fallbacks).
    Raises FlagConfigError for an invalid config.
    """
    flags = [validate_flag_config(config, segments=segments or {}) for config in configs]
    used = sorted({name for flag in flags for rule in flag["rules"] for name in rule["segments"]})
    definitions = validate_segments({name: (segments or {})[name] for name in used})
    ids = dict(segment_ids) if segment_ids is not None else {}
    for name in used:
        ids.setdefault(name, max(ids.values(), default=0) + 1)
    by_key = {flag["key"]: flag for flag in flags}
    gaps: list[UnleashGap] = []
    features = [
        _FlagTranslator(flag, by_key, definitions, ids, gaps).feature(unhealthy, project)
        for flag in flags
    ]
    unleash_segments = []
    for name in used:
        segment_gaps: list[UnleashGap] = []  # already reported on the flags that use it
        translator = _FlagTranslator({"key": "", "salt": ""}, {}, definitions, ids, segment_gaps)
        constraints = [
            translator.constraint(c, f"segments.{name}[{i}]")
            for i, c in enumerate(definitions[name])
        ]
        unleash_segments.append({"id": ids[name], "name": name, "constraints": constraints})
    payload = {"version": 2, "features": features, "segments": unleash_segments}
    return UnleashTranslation(payload, tuple(dict.fromkeys(gaps)))


def context_to_unleash(context: Mapping[str, Any]) -> dict[str, Any]:
    """A trimtab evaluation context as an Unleash context (userId, fields, properties)."""
    unleash: dict[str, Any] = {}
    properties: dict[str, str] = {}
    for name, value in context.items():
        if isinstance(value, datetime):
            text: str | None = (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
        else:
            text = as_text(value)
        if text is None:
            continue
        if name == "targetingKey":
            unleash["userId"] = text
        elif name in UNLEASH_CONTEXT_FIELDS:
            unleash[name] = text
        else:
            properties[name] = text
    unleash["properties"] = properties
    return unleash


def context_from_unleash(context: Mapping[str, Any]) -> dict[str, Any]:
    """An Unleash context (as sent to /api/frontend) as a trimtab evaluation context."""
    result: dict[str, Any] = {}
    properties = context.get("properties")
    if isinstance(properties, Mapping):
        result.update(properties)
    for name, value in context.items():
        if name == "userId":
            result["targetingKey"] = value
        elif name != "properties":
            result[name] = value
    return result


class _FlagTranslator:
    def __init__(
        self,
        flag: Mapping[str, Any],
        flags: Mapping[str, Mapping[str, Any]],
        segments: Mapping[str, list[dict[str, Any]]],
        segment_ids: Mapping[str, int],
        gaps: list[UnleashGap],
    ) -> None:
        self.flag = flag
        self.flags = flags
        self.segments = segments
        self.segment_ids = segment_ids
        self.gaps = gaps

    def gap(self, path: str, message: str) -> None:
        self.gaps.append(UnleashGap(self.flag["key"], path, message))

    def feature(self, unhealthy: Collection[str], project: str) -> dict[str, Any]:
        flag = self.flag
        is_boolean = flag["type"] == "boolean"
        off_is_true = is_boolean and flag["variants"][flag["off_variant"]] is True
        if off_is_true and (not flag["enabled"] or flag["prerequisites"]):
            self.gap("off_variant", "Unleash answers false for a flag that is off")
        if '"' in flag["salt"] or "\\" in flag["salt"]:
            self.gap("salt", "Unleash SDKs cannot parse a groupId with quotes or backslashes")
        fallback = flag["fallback"]
        if fallback is not None and not set(fallback["dependencies"]).isdisjoint(unhealthy):
            strategies = self.fallback_strategies(fallback["variant"])
        elif is_boolean:
            strategies = self.boolean_strategies()
        else:
            strategies = self.variant_strategies()
        for order, strategy in enumerate(strategies):
            strategy.setdefault("constraints", [])
            strategy.setdefault("segments", [])
            strategy.setdefault("variants", [])
            strategy["sortOrder"] = order
        feature: dict[str, Any] = {
            "name": flag["key"],
            "type": "release",
            "enabled": flag["enabled"],
            "stale": False,
            "impressionData": False,
            "project": project,
            "strategies": strategies,
            "variants": [],
        }
        dependencies = self.dependencies()
        if dependencies:
            feature["dependencies"] = dependencies
        return feature

    def fallback_strategies(self, variant: str) -> list[dict[str, Any]]:
        if self.flag["type"] == "boolean":
            serves_true = self.flag["variants"][variant] is True
            return [{"name": "default", "parameters": {}}] if serves_true else [_never()]
        return [{"name": "default", "parameters": {}, "variants": [self.variant(variant, None)]}]

    def variant_strategies(self) -> list[dict[str, Any]]:
        strategies = []
        for i, rule in enumerate(self.flag["rules"]):
            strategy = self.rule_strategy(rule, i)
            serve = rule["serve"]
            if "variant" in serve:
                strategy["variants"] = [self.variant(serve["variant"], None)]
            elif "rollout" in serve:
                rollout = serve["rollout"]
                strategy["variants"] = [self.variant(rollout["variant"], rollout["stickiness"])]
            else:
                strategy["variants"] = [
                    self.variant(entry["variant"], serve["stickiness"], entry["weight"])
                    for entry in serve["split"]
                ]
            strategies.append(strategy)
        if self.flag["default_variant"] == "disabled":
            # Unleash's own name for "no variant" (flags imported from Unleash): a user no
            # rule serves gets what Unleash SDKs answer then, isEnabled false and "disabled".
            return strategies or [_never()]
        default = self.variant(self.flag["default_variant"], None)
        strategies.append({"name": "default", "parameters": {}, "variants": [default]})
        return strategies

    def boolean_strategies(self) -> list[dict[str, Any]]:
        values = self.flag["variants"]
        rules = self.flag["rules"]
        served = [self.served_values(rule) for rule in rules]
        default_true = values[self.flag["default_variant"]] is True
        guards: list[list[dict[str, Any]]] = []
        strategies: list[dict[str, Any]] = []
        for i, rule in enumerate(rules):
            later_true = default_true or any(True in s for s in served[i + 1 :])
            if served[i] == {True}:
                strategies.extend(self.guarded(self.rule_strategy(rule, i), guards, f"rules[{i}]"))
            elif served[i] == {False}:
                if not later_true:
                    continue
                if "variant" not in rule["serve"]:
                    self.gap(
                        f"rules[{i}].serve",
                        "a rollout or split serving false before a rule serving true: Unleash "
                        "strategies are OR-ed and a rollout cannot be negated",
                    )
                    continue
                if self.custom_strategy(rule, f"rules[{i}]"):
                    continue  # trimtab never applies it either: nothing to exclude
                clause = self.all_constraints(rule, f"rules[{i}]")
                if not clause:
                    break  # serves false to everyone: nothing after it can serve true
                guards.append(clause)
            else:
                self.gap(f"rules[{i}].serve.split", "Unleash cannot split isEnabled by weight")
        else:
            if default_true:
                base = {"name": "default", "parameters": {}}
                strategies.extend(self.guarded(base, guards, "default_variant"))
        return strategies or [_never()]

    def served_values(self, rule: Mapping[str, Any]) -> set[bool]:
        values = self.flag["variants"]
        serve = rule["serve"]
        if "variant" in serve:
            return {values[serve["variant"]]}
        if "rollout" in serve:
            return {values[serve["rollout"]["variant"]]}
        return {values[entry["variant"]] for entry in serve["split"] if entry["weight"] > 0}

    def guarded(
        self, base: dict[str, Any], guards: list[list[dict[str, Any]]], path: str
    ) -> list[dict[str, Any]]:
        if not guards:
            return [base]
        count = 1
        for clause in guards:
            count *= len(clause)
        if count > MAX_GUARD_STRATEGIES:
            self.gap(path, f"excluding the earlier false rules needs {count} Unleash strategies")
            return [base]
        strategies = []
        for negations in itertools.product(*guards):
            strategy = dict(base)
            strategy["constraints"] = [
                *base.get("constraints", []),
                *({**c, "inverted": not c["inverted"]} for c in negations),
            ]
            strategies.append(strategy)
        return strategies

    def all_constraints(self, rule: Mapping[str, Any], path: str) -> list[dict[str, Any]]:
        constraints = [
            self.constraint(c, f"{path}.constraints[{j}]")
            for j, c in enumerate(rule["constraints"])
        ]
        for name in rule["segments"]:
            constraints.extend(
                self.constraint(c, f"segments.{name}[{j}]")
                for j, c in enumerate(self.segments[name])
            )
        constraints.extend(self.strategy_meaning(rule, path) or [])
        return constraints

    def strategy_meaning(self, rule: Mapping[str, Any], path: str) -> list[dict[str, Any]] | None:
        """The Unleash constraints of the rule's named strategy; None without one, or when
        trimtab cannot read it (a custom strategy)."""
        if "strategy" not in rule:
            return None
        meaning = strategy_constraints(rule["strategy"])
        if meaning is None:
            return None
        return [self.constraint(c, f"{path}.strategy") for c in meaning]

    def custom_strategy(self, rule: Mapping[str, Any], path: str) -> bool:
        """Whether the rule names a strategy trimtab cannot evaluate (reported as a gap)."""
        if "strategy" not in rule or strategy_constraints(rule["strategy"]) is not None:
            return False
        self.gap(
            f"{path}.strategy",
            f"strategy {rule['strategy']['name']!r} is evaluated only by Unleash SDKs that "
            "implement it; OFREP, trimtab's SDK and the frontend API skip this rule",
        )
        return True

    def rule_strategy(self, rule: Mapping[str, Any], index: int) -> dict[str, Any]:
        path = f"rules[{index}]"
        for name in rule["segments"]:  # report the segments' gaps on this flag
            for j, c in enumerate(self.segments[name]):
                self.constraint(c, f"segments.{name}[{j}]")
        constraints = [
            self.constraint(c, f"{path}.constraints[{j}]")
            for j, c in enumerate(rule["constraints"])
        ]
        strategy: dict[str, Any] = {
            "name": "default",
            "parameters": {},
            "constraints": constraints,
            "segments": [self.segment_ids[name] for name in rule["segments"]],
        }
        serve = rule["serve"]
        salt = self.flag["salt"]
        if "strategy" in rule:  # only with a fixed variant (flags.config)
            if self.custom_strategy(rule, path):
                named = rule["strategy"]
                strategy.update(name=named["name"], parameters=dict(named["parameters"]))
            else:
                strategy["constraints"].extend(self.strategy_meaning(rule, path) or [])
        elif "variant" in serve:
            user_ids = self.user_ids(rule)
            if user_ids is not None:
                strategy.update(name="userWithId", parameters={"userIds": user_ids}, constraints=[])
        elif "rollout" in serve:
            rollout = serve["rollout"]
            percentage = rollout["percentage"]
            if percentage != int(percentage):
                self.gap(f"{path}.serve.rollout.percentage", "Unleash rollouts are whole percents")
            stickiness = self.context_name(rollout["stickiness"], f"{path}.serve.rollout")
            strategy["name"] = "flexibleRollout"
            strategy["parameters"] = {
                "rollout": str(int(percentage)),
                "stickiness": stickiness,
                "groupId": salt,
            }
        else:
            stickiness = self.context_name(serve["stickiness"], f"{path}.serve.stickiness")
            strategy["name"] = "flexibleRollout"
            strategy["parameters"] = {"rollout": "100", "stickiness": stickiness, "groupId": salt}
        return strategy

    def user_ids(self, rule: Mapping[str, Any]) -> str | None:
        constraints = rule["constraints"]
        if rule["segments"] or len(constraints) != 1:
            return None
        c = constraints[0]
        if (
            c["attribute"] != "targetingKey"
            or c["operator"] not in ("in", "equals")
            or c["negate"]
            or c["case_insensitive"]
        ):
            return None
        ids = [as_text(value) or "" for value in c["values"]]
        # userWithId splits its parameter on commas and trims spaces.
        if any(not i or "," in i or i != i.strip() or '"' in i or "\\" in i for i in ids):
            return None
        return ",".join(ids)

    def constraint(self, c: Mapping[str, Any], path: str) -> dict[str, Any]:
        return unleash_values.constraint(c, path, self.gap)

    def context_name(self, attribute: str, path: str) -> str:
        return unleash_values.context_name(attribute, path, self.gap)

    def variant(self, name: str, stickiness: str | None, weight: int = 1000) -> dict[str, Any]:
        if name == "disabled":
            self.gap(f"variants.{name}", "Unleash SDKs use 'disabled' for a flag that is off")
        # Gaps in the stickiness attribute are reported on the rule's strategy.
        sticky = unleash_values.unleash_name(stickiness) if stickiness else "default"
        return {
            "name": name,
            "weight": weight,
            "weightType": "variable",
            "stickiness": sticky,
            "payload": unleash_values.payload(self.flag["type"], self.flag["variants"][name]),
        }

    def dependencies(self) -> list[dict[str, Any]]:
        dependencies = []
        for i, item in enumerate(self.flag["prerequisites"]):
            path = f"prerequisites[{i}]"
            dependency: dict[str, Any] = {"feature": item["flag"], "enabled": True}
            parent = self.flags.get(item["flag"])
            if parent is not None and parent["prerequisites"]:
                self.gap(path, "Unleash allows one level: the parent has prerequisites of its own")
            variants = item["variants"]
            if variants and parent is not None and parent["type"] == "boolean":
                true_names = {n for n, v in parent["variants"].items() if v is True}
                if not true_names <= set(variants):
                    self.gap(f"{path}.variants", "Unleash sees a boolean parent only as on or off")
            elif variants:
                dependency["variants"] = list(variants)
            dependencies.append(dependency)
        return dependencies
