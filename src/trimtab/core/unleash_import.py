"""Translate an Unleash document into trimtab flag configs and segments (the reverse of
`trimtab.core.unleash`).

`read_unleash` takes either what `GET /api/client/features` answers (`{"features": [...],
"segments": [...]}`) or an Unleash export (`features`, `featureStrategies`,
`featureEnvironments`, `segments`, `dependencies`, `featureTags`…, one environment) and gives
a `FlagImport` (`core.flag_imports`): full trimtab configs (see `trimtab.core.evaluation`),
segments, flag descriptions and tags, and every `ImportProblem` (what has no exact trimtab
form, with the path of the Unleash field and what was done instead). Nothing is dropped
without a problem saying so.

The mapping (an Unleash context as trimtab sees it is `unleash.context_from_unleash`):

- A feature without variants is a boolean flag. Its strategies are OR-ed, so each becomes one
  or more rules serving `on` (`default` = `off` when there are strategies; an enabled feature
  without strategies is on for everyone). `enabled: false` is the flag switched off.
- A feature with variants (feature-level or on a strategy) is a string, number or JSON flag
  (the payloads' type) with one more variant, `disabled`, which is both its default and its off
  variant: a user no strategy matches, or any user while the flag is off, gets `disabled`, as
  Unleash's getVariant answers. Variants without payload get "" (string) as value. The rules
  are: for each strategy, its feature-variant overrides (fixed variant), then a weighted split
  of its variants (a fixed variant when only one has weight).
- Strategies: `default`; `userWithId` (targetingKey in ids); `remoteAddress` (in_cidr for
  addresses and networks); `applicationHostname` (a case-insensitive `hostname` attribute,
  which the application must send: trimtab has no host of its own); `flexibleRollout` and
  `gradualRolloutUserId` / `SessionId` / `Random` (a rollout with the group id as salt). 0%
  never matches (the strategy is left out), 100% needs no stickiness. Stickiness `default` is
  Unleash's chain userId -> sessionId (-> remoteAddress for variants): one rule per link, each
  requiring the earlier attributes to be absent. Random stickiness has no sticky equivalent
  and is bucketed by the same chain (reported). A flexibleRollout below 100% with variants
  cannot be one trimtab rule (it is left out, reported). Custom strategies are left out
  (Unleash SDKs without the strategy answer false for them, too).
- Constraints: IN, NOT_IN, STR_CONTAINS / STARTS_WITH / ENDS_WITH (caseInsensitive), NUM_*,
  DATE_AFTER / BEFORE, SEMVER_EQ / GT / LT (and SEMVER_GTE / LTE as two rules), REGEX, IN_CIDR;
  `inverted` is `negate`. A constraint Unleash can never satisfy (no values, an unknown
  operator, a value it cannot parse) removes the strategy; one that always holds is left out.
- Segments keep their name (`unleash-<id>` when the name is not a trimtab name).
- Dependencies are prerequisites (`enabled: false`, "parent must be off", is reported and
  left out). A parent with variants must serve one of them (not `disabled`).
- One salt per flag: Unleash hashes with each strategy's `groupId` (rollouts and strategy
  variants) and the feature name (feature variants). When they differ, the most used one wins
  and the others are reported.

Dates: the evaluator never reads the clock, so callers put `currentTime` in the context, as
Unleash SDKs do for themselves (the server's evaluation surfaces do).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Collection, Mapping
from typing import Any

from trimtab.core.flag_imports import (
    FlagImport,
    ImportDocumentError,
    ImportProblem,
    never_on,
    parents_first,
)
from trimtab.core.flags.config import (
    MAX_RULES,
    FlagConfigError,
    validate_flag_config,
    validate_segments,
)
from trimtab.core.flags.regex import RegexError, compile_regex
from trimtab.core.flags.values import as_number, parse_datetime, parse_network, parse_semver

__all__ = [
    "DISABLED",
    "UnleashDocumentError",
    "read_unleash",
    "unleash_attribute",
]

DISABLED = "disabled"
MAX_FEATURES = 5000
MAX_STRATEGIES = 200
MAX_ALTERNATIVES = 64
_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}\Z")
_ALWAYS: list[list[dict[str, Any]]] = [[]]  # one alternative with no constraints
_NEVER: list[list[dict[str, Any]]] = []  # no alternative
_STRING_OPERATORS = {
    "STR_CONTAINS": "contains",
    "STR_STARTS_WITH": "starts_with",
    "STR_ENDS_WITH": "ends_with",
}
_ORDERED_OPERATORS = {
    "NUM_EQ": "num_eq",
    "NUM_GT": "num_gt",
    "NUM_GTE": "num_gte",
    "NUM_LT": "num_lt",
    "NUM_LTE": "num_lte",
    "DATE_AFTER": "date_after",
    "DATE_BEFORE": "date_before",
    "SEMVER_EQ": "semver_eq",
    "SEMVER_GT": "semver_gt",
    "SEMVER_LT": "semver_lt",
}
_CHAINS = {
    "rollout": ("targetingKey", "sessionId"),
    "variant": ("targetingKey", "sessionId", "remoteAddress"),
}


class UnleashDocumentError(ImportDocumentError):
    """The document is not an Unleash features document or export; says why."""


def unleash_attribute(context_name: str) -> str:
    """The trimtab context attribute of an Unleash context field."""
    return "targetingKey" if context_name == "userId" else context_name


def read_unleash(
    document: Any,
    *,
    environment: str | None = None,
    name_rule: Callable[[str], str | None] | None = None,
) -> FlagImport:
    """Translate an Unleash client features document or export. `environment` picks the
    environment of an export that holds several. `name_rule` turns an Unleash feature or
    segment name into the trimtab name to use (None: not usable); by default a name is used
    as is when it is a valid flag key. Raises UnleashDocumentError."""
    rule = name_rule or _as_is
    features, segments, tags = _normalize(document, environment)
    result = FlagImport()
    segment_names = _segments(segments, result, rule)
    by_name: dict[str, dict[str, Any]] = {}
    dependencies: dict[str, list[Any]] = {}
    keys: dict[str, str] = {}
    for i, feature in enumerate(features):
        if not isinstance(feature, Mapping) or not isinstance(feature.get("name"), str):
            raise UnleashDocumentError(f"features[{i}] is not an object with a name")
        name = feature["name"]
        key = rule(name)
        if key is None or key in keys.values():
            result.skipped.append(name)
            result.problems.append(
                ImportProblem(
                    name,
                    "name",
                    "not imported: not usable as a trimtab flag key"
                    + (f" (it would be {key!r}, taken)" if key else ""),
                )
            )
            continue
        if key != name:
            result.problems.append(
                ImportProblem(name, "name", f"imported as {key!r}: SDKs must ask for that key")
            )
        if name in by_name:
            raise UnleashDocumentError(f"feature {name!r} appears twice")
        translated = _Feature(feature, segment_names, result.segments, result.problems)
        keys[name] = key
        by_name[name] = translated.config()
        by_name[name]["key"] = key
        dependencies[name] = translated.dependencies()
        description = feature.get("description")
        if isinstance(description, str) and description:
            result.descriptions[key] = description[:2000]
        if tags.get(name):
            result.tags[key] = tags[name]
    _link_dependencies(by_name, dependencies, result.problems)
    result.flags = parents_first(by_name, result.problems)
    for config in result.flags:
        for item in config["prerequisites"]:
            item["flag"] = keys[item["flag"]]
    try:
        result.segments = validate_segments(result.segments)
    except FlagConfigError as exc:
        raise UnleashDocumentError(str(exc)) from exc
    for config in result.flags:
        try:
            validate_flag_config(config, segments=result.segments)
        except FlagConfigError as exc:  # a bug in this module, not in the document
            raise UnleashDocumentError(f"feature {config['key']!r}: {exc}") from exc
    return result


# --- the document ----------------------------------------------------------------------------


def _normalize(
    document: Any, environment: str | None
) -> tuple[list[Any], list[Any], dict[str, list[str]]]:
    if not isinstance(document, Mapping):
        raise UnleashDocumentError("an Unleash document is a JSON object")
    if isinstance(document.get("events"), list) and "features" not in document:
        document = _from_delta(document["events"])
    features = document.get("features")
    if not isinstance(features, list):
        raise UnleashDocumentError("no `features` list: not an Unleash features document")
    if len(features) > MAX_FEATURES:
        raise UnleashDocumentError(f"at most {MAX_FEATURES} features per import")
    segments = document.get("segments") or []
    if not isinstance(segments, list):
        raise UnleashDocumentError("`segments` must be a list")
    tags = _tags(document.get("featureTags") or document.get("tags") or [])
    if "featureStrategies" not in document and "featureEnvironments" not in document:
        return features, segments, tags
    return _from_export(document, features, environment), segments, tags


def _from_delta(events: list[Any]) -> dict[str, Any]:
    """The state after Unleash delta API events (hydration, feature/segment updates)."""
    features: dict[str, Any] = {}
    segments: dict[Any, Any] = {}
    for i, event in enumerate(events):
        kind = event.get("type") if isinstance(event, Mapping) else None
        if kind == "hydration":
            features = {f.get("name"): f for f in event.get("features") or []}
            segments = {g.get("id"): g for g in event.get("segments") or []}
        elif kind == "feature-updated" and isinstance(event.get("feature"), Mapping):
            features[event["feature"].get("name")] = event["feature"]
        elif kind == "feature-removed":
            features.pop(event.get("featureName"), None)
        elif kind == "segment-updated" and isinstance(event.get("segment"), Mapping):
            segments[event["segment"].get("id")] = event["segment"]
        elif kind == "segment-removed":
            segments.pop(event.get("segmentId"), None)
        else:
            raise UnleashDocumentError(f"events[{i}]: unknown delta event {kind!r}")
    return {"features": list(features.values()), "segments": list(segments.values())}


def _tags(raw: Any) -> dict[str, list[str]]:
    tags: dict[str, list[str]] = {}
    if not isinstance(raw, list):
        return tags
    for item in raw:
        if not isinstance(item, Mapping):
            continue
        feature = item.get("featureName")
        value = item.get("tagValue", item.get("value"))
        if isinstance(feature, str) and isinstance(value, str):
            text = re.sub(r"[^A-Za-z0-9._-]+", "-", value).strip("-.")[:60]
            if text and text not in tags.setdefault(feature, []):
                tags[feature].append(text)
    return tags


def _from_export(
    document: Mapping[str, Any], features: list[Any], environment: str | None
) -> list[dict[str, Any]]:
    strategies = document.get("featureStrategies") or []
    environments = document.get("featureEnvironments") or []
    if not isinstance(strategies, list) or not isinstance(environments, list):
        raise UnleashDocumentError("`featureStrategies` and `featureEnvironments` must be lists")
    names = {
        str(item.get("environment"))
        for item in [*strategies, *environments]
        if isinstance(item, Mapping) and item.get("environment") is not None
    }
    if len(names) > 1 and environment not in names:
        raise UnleashDocumentError(
            f"the export holds environments {sorted(names)}; name the one to import"
        )
    wanted = environment if environment in names else next(iter(names), None)

    def here(item: Any) -> bool:
        return isinstance(item, Mapping) and item.get("environment", wanted) == wanted

    dependencies: dict[str, list[Any]] = {}
    for item in document.get("dependencies") or []:
        if isinstance(item, Mapping) and isinstance(item.get("feature"), str):
            dependencies[item["feature"]] = list(item.get("dependencies") or [])
    result = []
    for feature in features:
        if not isinstance(feature, Mapping):
            raise UnleashDocumentError("every feature must be an object")
        name = feature.get("name")
        env = next(
            (e for e in environments if here(e) and e.get("featureName", e.get("name")) == name),
            None,
        )
        own = sorted(
            (s for s in strategies if here(s) and s.get("featureName") == name),
            key=lambda s: s.get("sortOrder") or 0,
        )
        variants = (env or {}).get("variants")
        if variants is None:
            variants = feature.get("variants") or []
        result.append(
            {
                **feature,
                "enabled": bool((env or {}).get("enabled", False)),
                "strategies": own,
                "variants": variants,
                "dependencies": dependencies.get(str(name), feature.get("dependencies") or []),
            }
        )
    return result


def _as_is(name: str) -> str | None:
    return name if _KEY.match(name) else None


def _segments(
    raw: list[Any], result: FlagImport, rule: Callable[[str], str | None]
) -> dict[int, tuple[str, list[list[dict[str, Any]]]]]:
    """Unleash segment id -> (trimtab name, its constraints in disjunctive form). A segment
    that is one list of constraints is imported as a trimtab segment; any other is inlined
    into the rules of the strategies that use it."""
    by_id: dict[int, tuple[str, list[list[dict[str, Any]]]]] = {}
    used: set[str] = set()
    for i, segment in enumerate(raw):
        if not isinstance(segment, Mapping) or not isinstance(segment.get("id"), int):
            raise UnleashDocumentError(f"segments[{i}] is not an object with an id")
        segment_id = segment["id"]
        raw_name = segment.get("name")
        name = rule(raw_name) if isinstance(raw_name, str) else None
        if name is None or name in used:
            name = f"unleash-{segment_id}"
        used.add(name)
        alternatives = _ALWAYS
        for j, c in enumerate(_list(segment.get("constraints"))):
            path = f"segments[{i}].constraints[{j}]"
            alternatives = _and(alternatives, _constraint(c, path, result.problems, ""))
        if len(alternatives) == 1:
            result.segments[name] = alternatives[0]
        else:
            result.problems.append(
                ImportProblem(
                    "",
                    f"segments[{i}]",
                    f"segment {name!r} is not one list of constraints: not imported as a "
                    "segment, its constraints are inlined in the rules that use it",
                )
            )
        by_id[segment_id] = (name, alternatives)
    return by_id


# --- constraints -----------------------------------------------------------------------------


def _and(
    left: list[list[dict[str, Any]]], right: list[list[dict[str, Any]]]
) -> list[list[dict[str, Any]]]:
    return [[*a, *b] for a in left for b in right]


def _constraint(
    c: Any, path: str, problems: list[ImportProblem], flag: str
) -> list[list[dict[str, Any]]]:
    """One Unleash constraint in disjunctive form: a list of alternatives, each a list of
    trimtab constraints (`_ALWAYS` / `_NEVER` for the trivial ones)."""

    def problem(message: str) -> None:
        problems.append(ImportProblem(flag, path, message))

    if not isinstance(c, Mapping) or not isinstance(c.get("contextName"), str):
        problem("not a constraint (no contextName): the strategy never matches")
        return _NEVER
    attribute = unleash_attribute(c["contextName"])
    operator = c.get("operator")
    inverted = bool(c.get("inverted", False))
    fold = bool(c.get("caseInsensitive", False))
    raw_values = c.get("values")
    if not isinstance(raw_values, list):
        raw_values = []
    values = [str(v) for v in raw_values if isinstance(v, str | int | float)]
    value = c.get("value")
    if value is None and values:
        value = values[0]

    def never() -> list[list[dict[str, Any]]]:
        # A constraint that cannot hold; inverted, one that always holds.
        return _ALWAYS if inverted else _NEVER

    def one(op: str, vals: list[Any], case_insensitive: bool = False) -> dict[str, Any]:
        return {
            "attribute": attribute,
            "operator": op,
            "values": vals,
            "negate": inverted,
            "case_insensitive": case_insensitive,
        }

    if operator in ("IN", "NOT_IN"):
        if not values:
            # IN [] never holds; NOT_IN [] always does (even for a missing attribute).
            return never() if operator == "IN" else (_NEVER if inverted else _ALWAYS)
        return [[one("in" if operator == "IN" else "not_in", values)]]
    if operator in _STRING_OPERATORS:
        if not values:
            return never()
        return [[one(_STRING_OPERATORS[operator], values, fold)]]
    if operator == "REGEX":
        pattern = value if isinstance(value, str) else None
        try:
            if pattern is None or len(pattern) > 1000:
                raise RegexError("missing or too long")
            compile_regex(pattern, fold)
        except RegexError as exc:
            problem(f"regex {pattern!r} cannot be used ({exc}): it never matches")
            return never()
        return [[one("regex", [pattern], fold)]]
    if operator == "IN_CIDR":
        networks = [v for v in values if parse_network(v) is not None]
        if len(networks) < len(values):
            problem("values that are not IP networks never match; they are left out")
        if not networks:
            return never()
        return [[one("in_cidr", networks)]]
    if operator in ("SEMVER_GTE", "SEMVER_LTE"):
        if parse_semver(value) is None:
            return never()
        strict = "semver_gt" if operator == "SEMVER_GTE" else "semver_lt"
        if inverted:
            return [[one(strict, [value]), one("semver_eq", [value])]]
        return [[one(strict, [value])], [one("semver_eq", [value])]]
    if operator in _ORDERED_OPERATORS:
        op = _ORDERED_OPERATORS[operator]
        if op.startswith("num_"):
            ok = as_number(value) is not None
        elif op.startswith("date_"):
            ok = parse_datetime(value) is not None
        else:
            ok = parse_semver(value) is not None
        if not ok:
            problem(f"{operator} value {value!r} cannot be read: the constraint never holds")
            return never()
        return [[one(op, [value])]]
    problem(f"unknown operator {operator!r}: Unleash never matches it, nor does trimtab")
    return never()


# --- features --------------------------------------------------------------------------------


class _Feature:
    def __init__(
        self,
        feature: Mapping[str, Any],
        segments: Mapping[int, tuple[str, list[list[dict[str, Any]]]]],
        known_segments: Collection[str],
        problems: list[ImportProblem],
    ) -> None:
        self.feature = feature
        self.name: str = feature["name"]
        self.segments = segments
        self.known_segments = known_segments
        self.segment_names: list[str] = []
        self.problems = problems
        strategies = feature.get("strategies") or []
        if not isinstance(strategies, list):
            raise UnleashDocumentError(f"feature {self.name!r}: strategies must be a list")
        if len(strategies) > MAX_STRATEGIES:
            raise UnleashDocumentError(
                f"feature {self.name!r}: at most {MAX_STRATEGIES} strategies"
            )
        self.strategies = [
            (i, s)
            for i, s in enumerate(strategies)
            if isinstance(s, Mapping) and not s.get("disabled", False)
        ]
        self.variants = self.variant_list(feature.get("variants"), "variants")
        self.has_variants = bool(self.variants) or any(
            s.get("variants") for _, s in self.strategies
        )
        self.groups: Counter[str] = Counter()
        self.rules: list[dict[str, Any]] = []

    def problem(self, path: str, message: str) -> None:
        self.problems.append(ImportProblem(self.name, path, message))

    def variant_list(self, raw: Any, path: str) -> list[dict[str, Any]]:
        if not isinstance(raw, list):
            return []
        result = []
        for i, v in enumerate(raw):
            if not isinstance(v, Mapping) or not isinstance(v.get("name"), str):
                self.problem(f"{path}[{i}]", "not a variant (no name): left out")
                continue
            if not _KEY.match(v["name"]) or v["name"] == DISABLED:
                self.problem(f"{path}[{i}].name", f"variant name {v['name']!r} is not usable")
                continue
            result.append(dict(v))
        return result

    def config(self) -> dict[str, Any]:
        flag_type, values = self.variant_values() if self.has_variants else ("boolean", {})
        for index, strategy in self.strategies:
            self.strategy_rules(index, strategy)
        if len(self.rules) > MAX_RULES:
            self.problem("strategies", f"more than {MAX_RULES} rules: the rest are left out")
            self.rules = self.rules[:MAX_RULES]
        salt = self.salt()
        config: dict[str, Any] = {
            "key": self.name,
            "type": flag_type,
            "enabled": bool(self.feature.get("enabled", False)),
            "rules": self.rules,
            "prerequisites": [],
            "salt": salt,
        }
        if flag_type == "boolean":
            # An enabled feature without strategies is on for everyone.
            config["default_variant"] = "off" if self.strategies else "on"
            config["off_variant"] = "off"
        else:
            config["variants"] = values
            config["default_variant"] = DISABLED
            config["off_variant"] = DISABLED
            if not self.strategies:
                # No strategy: Unleash serves the feature variants to everyone.
                self.variant_rules(None, _ALWAYS, self.variants, "variants", self.name)
                config["rules"] = self.rules
        for i, rule in enumerate(config["rules"]):
            rule["id"] = f"unleash-{i + 1}"
        return config

    def variant_values(self) -> tuple[str, dict[str, Any]]:
        every = list(self.variants)
        for index, strategy in self.strategies:
            every.extend(
                self.variant_list(strategy.get("variants"), f"strategies[{index}].variants")
            )
        kinds = Counter(
            (v.get("payload") or {}).get("type", "none")
            if isinstance(v.get("payload"), Mapping)
            else "none"
            for v in every
        )
        if set(kinds) <= {"json"}:
            flag_type = "json"
        elif set(kinds) <= {"number"}:
            flag_type = "number"
        else:
            flag_type = "string"
            if not set(kinds) <= {"string", "none", "csv"}:
                self.problem("variants", f"payload types {sorted(kinds)} are mixed: kept as text")
        values: dict[str, Any] = {DISABLED: {"json": None, "number": 0}.get(flag_type, "")}
        for v in every:
            payload = v.get("payload")
            if not isinstance(payload, Mapping):
                payload = {}
            text = payload.get("value", "")
            value: Any = text if isinstance(text, str) else json.dumps(text)
            if flag_type == "json":
                try:
                    value = json.loads(value)
                except ValueError:
                    self.problem(f"variants.{v['name']}", "the JSON payload does not parse")
            elif flag_type == "number":
                number = as_number(value)
                value = number if number is not None else 0
                if isinstance(value, float) and value.is_integer() and "." not in text:
                    value = int(value)
            if v["name"] in values and values[v["name"]] != value:
                self.problem(
                    f"variants.{v['name']}",
                    "two variants share this name with different payloads: the first is kept",
                )
                continue
            values[v["name"]] = value
        return flag_type, values

    def strategy_rules(self, index: int, strategy: Mapping[str, Any]) -> None:
        path = f"strategies[{index}]"
        self.segment_names = []
        name = strategy.get("name")
        parameters = strategy.get("parameters") or {}
        if not isinstance(parameters, Mapping):
            parameters = {}
        alternatives = _ALWAYS
        for j, c in enumerate(_list(strategy.get("constraints"))):
            alternatives = _and(
                alternatives, _constraint(c, f"{path}.constraints[{j}]", self.problems, self.name)
            )
        for j, segment_id in enumerate(_list(strategy.get("segments"))):
            if segment_id not in self.segments:
                self.problem(
                    f"{path}.segments[{j}]", f"unknown segment {segment_id}: never matches"
                )
                return
            name_of, segment = self.segments[segment_id]
            if name_of in self.known_segments:
                self.segment_names.append(name_of)
            else:
                alternatives = _and(alternatives, segment)
        group = str(parameters.get("groupId") or self.name)
        percentage: float = 100
        chain: tuple[str, ...] = ()
        if name == "default":
            pass
        elif name == "userWithId":
            ids = [i.strip() for i in str(parameters.get("userIds", "")).split(",") if i.strip()]
            if not ids:
                return
            alternatives = _and(alternatives, [[_plain("targetingKey", "in", ids)]])
        elif name == "remoteAddress":
            ips = [i.strip() for i in str(parameters.get("IPs", "")).split(",") if i.strip()]
            networks = [i for i in ips if parse_network(i) is not None]
            others = [i for i in ips if parse_network(i) is None]
            options = []
            if networks:
                options.append([_plain("remoteAddress", "in_cidr", networks)])
            if others:
                options.append([_plain("remoteAddress", "in", others)])
            alternatives = _and(alternatives, options)
        elif name == "applicationHostname":
            hosts = [
                h.strip() for h in str(parameters.get("hostNames", "")).split(",") if h.strip()
            ]
            if not hosts:
                return
            self.problem(
                path,
                "applicationHostname compares the SDK's host name; trimtab compares the context "
                "attribute `hostname`, which the application must send",
            )
            alternatives = _and(alternatives, [[_plain("hostname", "in", hosts, fold=True)]])
        elif name in (
            "flexibleRollout",
            "gradualRolloutUserId",
            "gradualRolloutSessionId",
            "gradualRolloutRandom",
        ):
            key = "rollout" if name == "flexibleRollout" else "percentage"
            if name.endswith(("UserId", "SessionId")) and not parameters.get("groupId"):
                self.problem(
                    f"{path}.parameters.groupId",
                    f"{name} without a groupId never matches in Unleash's Rust engine (the "
                    "Python, .NET, Ruby SDKs…): left out",
                )
                return
            number = as_number(parameters.get(key, 100 if name == "flexibleRollout" else 0))
            if number is None or not 0 <= number <= 100:
                self.problem(f"{path}.parameters.{key}", "not a percentage: never matches")
                return
            percentage = int(number)
            stickiness = {
                "gradualRolloutUserId": "userId",
                "gradualRolloutSessionId": "sessionId",
                "gradualRolloutRandom": "random",
            }.get(str(name), str(parameters.get("stickiness") or "default"))
            chain = self.chain(stickiness, "rollout", path)
        else:
            self.problem(
                path,
                f"custom strategy {name!r}: not imported (Unleash SDKs without it answer false)",
            )
            return
        if percentage == 0 or not alternatives:
            return
        if len(alternatives) > MAX_ALTERNATIVES:
            self.problem(path, f"needs {len(alternatives)} rules: left out")
            return
        strategy_variants = self.variant_list(strategy.get("variants"), f"{path}.variants")
        if not self.has_variants:
            for constraints in alternatives:
                self.bucketed(constraints, percentage, chain, group, {"variant": "on"})
            return
        if percentage != 100:
            self.problem(
                path,
                "a rollout below 100% that then picks a variant is two hashes trimtab cannot "
                "chain in one rule: the strategy is left out",
            )
            return
        if strategy_variants:
            self.variant_rules(
                parameters, alternatives, strategy_variants, f"{path}.variants", group
            )
        else:
            self.variant_rules(None, alternatives, self.variants, "variants", self.name)

    def chain(self, stickiness: str, kind: str, path: str) -> tuple[str, ...]:
        if stickiness == "random":
            self.problem(
                path,
                "random stickiness has no sticky equivalent: bucketed by userId, then sessionId",
            )
            return _CHAINS["rollout"]
        if stickiness == "default":
            return _CHAINS[kind]
        return (unleash_attribute(stickiness),)

    def bucketed(
        self,
        constraints: list[dict[str, Any]],
        percentage: float,
        chain: tuple[str, ...],
        group: str,
        serve: dict[str, Any],
    ) -> None:
        """Rules serving `serve` ({variant} or {split}) to `percentage` % of the users bucketed
        by the first attribute of `chain` they have."""
        if percentage == 100 and "split" not in serve:
            # Unleash's random fallback serves everyone; an explicit stickiness needs its value.
            present = [] if len(chain) != 1 else [_present(chain[0])]
            self.rules.append(self.rule([*constraints, *present], serve))
            return
        self.groups[group] += 1
        absent: list[dict[str, Any]] = []
        for attribute in chain:
            if "split" in serve:
                rule_serve = {**serve, "stickiness": attribute}
            else:
                rule_serve = {
                    "rollout": {
                        "percentage": percentage,
                        "stickiness": attribute,
                        "variant": serve["variant"],
                    }
                }
            self.rules.append(self.rule([*constraints, *absent], rule_serve))
            absent = [*absent, _absent(attribute)]

    def variant_rules(
        self,
        parameters: Mapping[str, Any] | None,
        alternatives: list[list[dict[str, Any]]],
        variants: list[dict[str, Any]],
        path: str,
        group: str,
    ) -> None:
        weighted = [v for v in variants if (as_number(v.get("weight")) or 0) > 0]
        if not weighted:
            # Unleash: a matching strategy without variants to pick from -> "disabled" while
            # the feature is on; trimtab serves the default (disabled) variant the same way.
            return
        stickiness = str(weighted[0].get("stickiness") or "default")
        if parameters is not None and parameters.get("stickiness"):
            stickiness = str(parameters["stickiness"])  # strategy variants use the strategy's
        chain = self.chain(stickiness, "variant", path)
        for constraints in alternatives:
            if parameters is None:
                for v in variants:
                    for override in _list(v.get("overrides")):
                        if not isinstance(override, Mapping):
                            continue
                        ids = [
                            str(x)
                            for x in _list(override.get("values"))
                            if isinstance(x, str | int)
                        ]
                        context_name = override.get("contextName")
                        if not ids or not isinstance(context_name, str):
                            continue
                        attribute = unleash_attribute(context_name)
                        override_constraint = _plain(attribute, "in", ids)
                        self.rules.append(
                            self.rule([*constraints, override_constraint], {"variant": v["name"]})
                        )
            if len(weighted) == 1:
                self.rules.append(self.rule(constraints, {"variant": weighted[0]["name"]}))
                continue
            split = [
                {"variant": v["name"], "weight": int(as_number(v.get("weight")) or 0)}
                for v in weighted
            ]
            self.bucketed(constraints, 100, chain, group, {"split": split})
            # Unleash picks at random for a user without any stickiness value, but serves one.
            self.problem(
                path,
                f"a user without {' or '.join(chain)} gets {weighted[0]['name']!r} (Unleash "
                "picks one at random)",
            )
            absent = [_absent(attribute) for attribute in chain]
            self.rules.append(self.rule([*constraints, *absent], {"variant": weighted[0]["name"]}))

    def rule(self, constraints: list[dict[str, Any]], serve: dict[str, Any]) -> dict[str, Any]:
        return {
            "constraints": list(constraints),
            "segments": list(self.segment_names),
            "serve": serve,
        }

    def dependencies(self) -> list[Any]:
        raw = self.feature.get("dependencies") or []
        return list(raw) if isinstance(raw, list) else []

    def salt(self) -> str:
        if not self.groups:
            return self.name
        salt, _ = self.groups.most_common(1)[0]
        for group in self.groups:
            if group != salt:
                self.problem(
                    "strategies",
                    f"groupId {group!r}: trimtab hashes every rule of a flag with one salt "
                    f"({salt!r}), so these users may land in other buckets",
                )
        return salt


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _plain(
    attribute: str, operator: str, values: list[Any], *, fold: bool = False
) -> dict[str, Any]:
    return {
        "attribute": attribute,
        "operator": operator,
        "values": values,
        "negate": False,
        "case_insensitive": fold,
    }


def _present(attribute: str) -> dict[str, Any]:
    return {**_absent(attribute), "negate": False}


def _absent(attribute: str) -> dict[str, Any]:
    # A search for "" matches every present value; negated it holds when the attribute is absent.
    return {
        "attribute": attribute,
        "operator": "regex",
        "values": ["^"],
        "negate": True,
        "case_insensitive": False,
    }


# --- dependencies ----------------------------------------------------------------------------


def _link_dependencies(
    by_name: dict[str, dict[str, Any]],
    raw: Mapping[str, list[Any]],
    problems: list[ImportProblem],
) -> None:
    for name, config in by_name.items():
        for i, dependency in enumerate(raw.get(name, [])):
            path = f"dependencies[{i}]"
            parent = dependency.get("feature") if isinstance(dependency, Mapping) else None
            if not isinstance(parent, str) or parent == name:
                problems.append(ImportProblem(name, path, "not a dependency: left out"))
                continue
            wanted = [str(v) for v in _list(dependency.get("variants")) if isinstance(v, str)]
            parent_config = by_name.get(parent)
            if dependency.get("enabled", True) is False:
                # trimtab prerequisites cannot say "while the parent is off": decided now.
                holds = parent_config is None or not parent_config["enabled"]
                problems.append(
                    ImportProblem(
                        name,
                        path,
                        f"depends on {parent!r} being off, which trimtab cannot re-check: "
                        + ("it is off now, so left out" if holds else "it is on, so never on"),
                    )
                )
                if not holds:
                    never_on(config)
                continue
            if parent_config is None:
                problems.append(
                    ImportProblem(
                        name, path, f"parent {parent!r} is not imported: never on, as in Unleash"
                    )
                )
                never_on(config)
                continue
            if raw.get(parent):
                problems.append(
                    ImportProblem(
                        name,
                        path,
                        f"{parent!r} has dependencies of its own; Unleash allows one level, so "
                        "this flag is never on",
                    )
                )
                never_on(config)
                continue
            if parent_config["type"] == "boolean" and wanted == [DISABLED]:
                wanted = []  # a parent without variants answers "disabled" while it is on
            if parent_config["type"] != "boolean" and not wanted:
                # A parent with variants is on when it serves one of them, not "disabled".
                wanted = [v for v in parent_config["variants"] if v != DISABLED]
            elif parent_config["type"] == "boolean" and wanted:
                problems.append(
                    ImportProblem(
                        name,
                        f"{path}.variants",
                        f"{parent!r} has no variants, so this dependency never holds",
                    )
                )
                never_on(config)
                continue
            config["prerequisites"].append({"flag": parent, "variants": wanted})
