"""Translate a flagd flag definition document into trimtab flag configs (`read_flagd`).

flagd's document: `{"flags": {key: {"state": "ENABLED" | "DISABLED", "variants": {name:
value}, "defaultVariant": name, "targeting": JsonLogic}}, "$evaluators": {name: JsonLogic}}`.
Targeting answers a variant name (or null: the default). The translation:

- The type is the variants' (all booleans: boolean, strings: string, numbers: number, else
  json). `DISABLED` is the flag switched off; its off variant is the default variant.
- `if` chains become rules in order: `{"if": [cond, "a", cond2, "b", "c"]}` is "cond -> a",
  "cond2 -> b" and the last one, a variant, is the default (a nested `if` or `fractional`
  continues the chain). A bare `fractional` or variant name is one rule.
- Conditions: `and`, `or`, `!` (pushed down to single comparisons), `==`, `!=`, `===`, `!==`,
  `in` (a list: `in`; a string searched in a var: `contains`), `starts_with`, `ends_with`,
  `<` `<=` `>` `>=` (numbers), `sem_ver` (`=` `!=` `<` `<=` `>` `>=` `^` `~`), `$ref` to
  `$evaluators`, and `{"var": name}` for attributes (`targetingKey` is trimtab's too).
- `fractional` is a weighted split by targetingKey (or the one attribute its bucketing
  expression names). The proportions are kept, but flagd hashes differently, so users are
  re-bucketed (reported).
- Anything else (`$flagd.timestamp`, `$flagd.flagKey` in conditions, arithmetic, a variant
  chosen by an expression, other operators) is reported with its path; the branch that needs
  it is left out, never silently changed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from trimtab.core.flag_imports import FlagImport, ImportDocumentError, ImportProblem, parents_first
from trimtab.core.flags.config import MAX_RULES, FlagConfigError, validate_flag_config
from trimtab.core.flags.values import as_number, parse_semver

__all__ = ["FlagdDocumentError", "read_flagd"]

MAX_FLAGS = 5000
MAX_DEPTH = 32
MAX_ALTERNATIVES = 64
_KEY = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}\Z")

Alternatives = list[list[dict[str, Any]]]


class FlagdDocumentError(ImportDocumentError):
    """The document is not a flagd flag definition document; says why."""


class _Unsupported(Exception):
    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


def read_flagd(document: Any) -> FlagImport:
    """Translate a flagd flag definition document. Raises FlagdDocumentError."""
    if not isinstance(document, Mapping) or not isinstance(document.get("flags"), Mapping):
        raise FlagdDocumentError("no `flags` object: not a flagd flag definition document")
    flags = document["flags"]
    if len(flags) > MAX_FLAGS:
        raise FlagdDocumentError(f"at most {MAX_FLAGS} flags per import")
    evaluators = document.get("$evaluators") or {}
    if not isinstance(evaluators, Mapping):
        raise FlagdDocumentError("`$evaluators` must be an object")
    result = FlagImport()
    configs: dict[str, dict[str, Any]] = {}
    for key, flag in flags.items():
        if not isinstance(key, str) or not _KEY.match(key):
            result.skipped.append(str(key))
            result.problems.append(
                ImportProblem(str(key), "", "not imported: not usable as a trimtab flag key")
            )
            continue
        if not isinstance(flag, Mapping):
            raise FlagdDocumentError(f"flags.{key} is not an object")
        translator = _Flag(key, flag, evaluators, result.problems)
        config = translator.config()
        try:
            configs[key] = validate_flag_config(config)
        except FlagConfigError as exc:
            raise FlagdDocumentError(f"flags.{key}: {exc}") from exc
        metadata = flag.get("metadata")
        if isinstance(metadata, Mapping) and isinstance(metadata.get("description"), str):
            result.descriptions[key] = metadata["description"][:1000]
    result.flags = parents_first(configs, result.problems)
    return result


def _flag_type(values: list[Any]) -> str:
    if values and all(isinstance(v, bool) for v in values):
        return "boolean"
    if values and all(isinstance(v, str) for v in values):
        return "string"
    if values and all(as_number(v) is not None and not isinstance(v, str) for v in values):
        return "number"
    return "json"


class _Flag:
    def __init__(
        self,
        key: str,
        flag: Mapping[str, Any],
        evaluators: Mapping[str, Any],
        problems: list[ImportProblem],
    ) -> None:
        self.key = key
        self.flag = flag
        self.evaluators = evaluators
        self.problems = problems
        self.rules: list[dict[str, Any]] = []
        self.names: set[str] = set()

    def problem(self, path: str, message: str) -> None:
        self.problems.append(ImportProblem(self.key, path, message))

    def config(self) -> dict[str, Any]:
        variants = self.flag.get("variants")
        if not isinstance(variants, Mapping) or not variants:
            raise FlagdDocumentError(f"flags.{self.key}: no variants")
        self.names = set(variants)
        default = self.flag.get("defaultVariant")
        if not isinstance(default, str) or default not in variants:
            first = next(iter(variants))
            self.problem(
                "defaultVariant",
                f"{default!r} is not a variant (flagd answers the code default): {first!r}",
            )
            default = first
        config: dict[str, Any] = {
            "key": self.key,
            "type": _flag_type(list(variants.values())),
            "variants": dict(variants),
            "enabled": self.flag.get("state", "ENABLED") == "ENABLED",
            "default_variant": default,
            "off_variant": default,
            "salt": self.key,
        }
        targeting = self.flag.get("targeting")
        if targeting not in (None, {}):
            final = self.branch(targeting, [[]], "targeting", 0)
            if final is not None:
                config["default_variant"] = final
        if len(self.rules) > MAX_RULES:
            self.problem("targeting", f"more than {MAX_RULES} rules: the rest are left out")
            self.rules = self.rules[:MAX_RULES]
        for i, rule in enumerate(self.rules):
            rule["id"] = f"flagd-{i + 1}"
        config["rules"] = self.rules
        return config

    def branch(self, logic: Any, guard: Alternatives, path: str, depth: int) -> str | None:
        """Rules for `logic` under `guard`; a variant that everyone else gets (a last else
        branch at the top) is returned, for the default, instead of becoming a rule."""
        if depth > MAX_DEPTH:
            self.problem(path, "nested too deep: left out")
            return None
        if logic is None:
            return None
        if isinstance(logic, str):
            if logic not in self.names:
                self.problem(path, f"{logic!r} is not a variant: flagd serves the default")
                return None
            if guard == [[]]:
                return logic
            self.add(guard, {"variant": logic})
            return None
        if isinstance(logic, Mapping) and len(logic) == 1:
            operator, args = next(iter(logic.items()))
            if operator == "if" and isinstance(args, list) and args:
                return self.if_chain(args, guard, f"{path}.if", depth)
            if operator == "fractional" and isinstance(args, list):
                try:
                    self.add(guard, self.fractional(args, f"{path}.fractional"))
                except _Unsupported as exc:
                    self.problem(exc.path, exc.message + ": left out")
                return None
            if operator == "$ref":
                try:
                    target = self.evaluator(args, path)
                except _Unsupported as exc:
                    self.problem(exc.path, exc.message + ": left out")
                    return None
                return self.branch(target, guard, path, depth + 1)
        self.problem(path, "a variant computed by this expression: left out")
        return None

    def if_chain(self, args: list[Any], guard: Alternatives, path: str, depth: int) -> str | None:
        # flagd takes the first branch whose condition holds, even when what it serves is
        # null (the default), so each branch also needs the earlier conditions to be false.
        earlier: list[tuple[Any, str]] = []
        for i in range(0, len(args) - 1, 2):
            condition, then = args[i], args[i + 1]
            try:
                holds = _and(guard, self.condition(condition, f"{path}[{i}]", False, depth))
                for previous, where in earlier:
                    holds = _and(holds, self.condition(previous, where, True, depth))
            except _Unsupported as exc:
                self.problem(
                    exc.path, exc.message + ": this branch and the later ones are left out"
                )
                return None
            self.branch(then, holds, f"{path}[{i + 1}]", depth + 1)
            earlier.append((condition, f"{path}[{i}]"))
        if len(args) % 2 == 0:
            return None
        last = args[-1]
        if guard == [[]] and isinstance(last, str):
            # Everyone no branch served: the flag's default. (Exact unless a branch serves
            # null for some of its users, who then get flagd's default instead.)
            return self.branch(last, guard, f"{path}[{len(args) - 1}]", depth + 1)
        otherwise = guard
        try:
            for previous, where in earlier:
                otherwise = _and(otherwise, self.condition(previous, where, True, depth))
        except _Unsupported:  # already reported above
            return None
        self.branch(last, otherwise, f"{path}[{len(args) - 1}]", depth + 1)
        return None

    def add(self, guard: Alternatives, serve: dict[str, Any]) -> None:
        if len(guard) > MAX_ALTERNATIVES:
            self.problem("targeting", f"a branch needs {len(guard)} rules: left out")
            return
        for constraints in guard:
            self.rules.append({"constraints": constraints, "serve": serve})

    def evaluator(self, name: Any, path: str) -> Any:
        if not isinstance(name, str) or name not in self.evaluators:
            raise _Unsupported(path, f"$ref to an unknown evaluator {name!r}")
        return self.evaluators[name]

    def fractional(self, args: list[Any], path: str) -> dict[str, Any]:
        stickiness = "targetingKey"
        buckets = args
        if args and not isinstance(args[0], list):
            stickiness = self.bucketing(args[0], path)
            buckets = args[1:]
        split: list[dict[str, Any]] = []
        total = 0
        for i, bucket in enumerate(buckets):
            if (
                not isinstance(bucket, list)
                or not bucket
                or not isinstance(bucket[0], str)
                or bucket[0] not in self.names
            ):
                raise _Unsupported(f"{path}[{i}]", "not a [variant, weight] pair")
            weight = bucket[1] if len(bucket) > 1 else 1
            if isinstance(weight, bool) or not isinstance(weight, int) or weight < 0:
                raise _Unsupported(f"{path}[{i}]", "a weight must be a whole number")
            split.append({"variant": bucket[0], "weight": weight})
            total += weight
        if total <= 0:
            raise _Unsupported(path, "no weight to split")
        self.problem(
            path,
            "flagd hashes fractional buckets differently: the proportions are kept, but "
            "users are bucketed anew",
        )
        return {"split": split, "stickiness": stickiness}

    def bucketing(self, expression: Any, path: str) -> str:
        if isinstance(expression, Mapping) and "var" in expression:
            return self.attribute(expression, path)
        if isinstance(expression, Mapping) and isinstance(expression.get("cat"), list):
            names = [
                self.attribute(part, path)
                for part in expression["cat"]
                if not (isinstance(part, Mapping) and part.get("var") == "$flagd.flagKey")
                and not isinstance(part, str)
            ]
            if len(names) == 1:
                return names[0]
        raise _Unsupported(path, "a bucketing expression other than one attribute")

    def attribute(self, expression: Any, path: str) -> str:
        if not isinstance(expression, Mapping) or len(expression) != 1 or "var" not in expression:
            raise _Unsupported(path, "not a {var: name}")
        name = expression["var"]
        if isinstance(name, list) and name:
            name = name[0]
        if not isinstance(name, str) or not name or name.startswith("$flagd."):
            raise _Unsupported(path, f"the attribute {name!r} has no trimtab equivalent")
        return name

    def condition(self, logic: Any, path: str, negate: bool, depth: int) -> Alternatives:
        """A JsonLogic condition (negated when `negate`) in disjunctive form."""
        if depth > MAX_DEPTH:
            raise _Unsupported(path, "nested too deep")
        if isinstance(logic, bool):
            return [[]] if logic != negate else []
        if not isinstance(logic, Mapping) or len(logic) != 1:
            raise _Unsupported(path, "not a JsonLogic condition")
        operator, args = next(iter(logic.items()))
        here = f"{path}.{operator}"
        if operator == "$ref":
            return self.condition(self.evaluator(args, here), here, negate, depth + 1)
        if operator == "!":
            inner = args[0] if isinstance(args, list) and len(args) == 1 else args
            return self.condition(inner, here, not negate, depth + 1)
        if operator in ("and", "or") and isinstance(args, list):
            parts = [
                self.condition(a, f"{here}[{i}]", negate, depth + 1) for i, a in enumerate(args)
            ]
            if (operator == "and") != negate:  # and, or a negated or (De Morgan)
                result: Alternatives = [[]]
                for part in parts:
                    result = _and(result, part)
                return result
            return [alternative for part in parts for alternative in part]
        if not isinstance(args, list):
            raise _Unsupported(here, f"operator {operator!r} with {args!r}")
        return self.comparison(operator, args, here, negate)

    def comparison(self, operator: str, args: list[Any], path: str, negate: bool) -> Alternatives:
        def one(attribute: str, op: str, values: list[Any], flip: bool = False) -> Alternatives:
            return [
                [
                    {
                        "attribute": attribute,
                        "operator": op,
                        "values": values,
                        "negate": negate != flip,
                        "case_insensitive": False,
                    }
                ]
            ]

        if operator in ("==", "===", "!=", "!==") and len(args) == 2:
            var, value = (args[0], args[1]) if _is_var(args[0]) else (args[1], args[0])
            attribute = self.attribute(var, path)
            flip = operator.startswith("!")
            if isinstance(value, bool):
                return one(attribute, "in", ["true" if value else "false"], flip)
            if isinstance(value, int | float):
                return one(attribute, "num_eq", [value], flip)
            if isinstance(value, str):
                return one(attribute, "in", [value], flip)
            raise _Unsupported(path, f"comparison with {value!r}")
        if operator == "in" and len(args) == 2:
            if _is_var(args[0]) and isinstance(args[1], list) and args[1]:
                values = [v for v in args[1] if isinstance(v, str | int | float)]
                return one(self.attribute(args[0], path), "in", [str(v) for v in values])
            if isinstance(args[0], str) and _is_var(args[1]):
                return one(self.attribute(args[1], path), "contains", [args[0]])
            raise _Unsupported(path, "`in` other than var-in-list or text-in-var")
        if operator in ("starts_with", "ends_with") and len(args) == 2:
            if _is_var(args[0]) and isinstance(args[1], str):
                return one(self.attribute(args[0], path), operator, [args[1]])
            raise _Unsupported(path, f"{operator} other than (var, text)")
        if operator in ("<", "<=", ">", ">=") and len(args) == 2:
            names = {"<": "num_lt", "<=": "num_lte", ">": "num_gt", ">=": "num_gte"}
            mirror = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}
            if _is_var(args[0]) and as_number(args[1]) is not None:
                return one(self.attribute(args[0], path), names[operator], [args[1]])
            if _is_var(args[1]) and as_number(args[0]) is not None:
                return one(self.attribute(args[1], path), names[mirror[operator]], [args[0]])
            raise _Unsupported(path, f"{operator} other than between a var and a number")
        if operator == "sem_ver" and len(args) == 3:
            return self.sem_ver(args, path, negate)
        raise _Unsupported(path, f"operator {operator!r} has no trimtab equivalent")

    def sem_ver(self, args: list[Any], path: str, negate: bool) -> Alternatives:
        var, op, version = args
        attribute = self.attribute(var, path)
        if not isinstance(version, str) or parse_semver(version.lstrip("v")) is None:
            raise _Unsupported(path, f"{version!r} is not a semantic version")
        version = version.lstrip("v")
        major, minor, _ = (int(part) for part in version.split("-")[0].split("+")[0].split("."))

        def c(operator: str, value: str, flip: bool = False) -> dict[str, Any]:
            return {
                "attribute": attribute,
                "operator": operator,
                "values": [value],
                "negate": flip,
                "case_insensitive": False,
            }

        # Each operator as a positive DNF over semver_eq/gt/lt (flip = not).
        at_least = [[c("semver_gt", version)], [c("semver_eq", version)]]
        forms: dict[str, Alternatives] = {
            "=": [[c("semver_eq", version)]],
            "!=": [[c("semver_eq", version, True), c("semver_lt", "0.0.0-0", True)]],
            ">": [[c("semver_gt", version)]],
            "<": [[c("semver_lt", version)]],
            ">=": at_least,
            "<=": [[c("semver_lt", version)], [c("semver_eq", version)]],
            "^": _and(at_least, [[c("semver_lt", f"{major + 1}.0.0-0")]]),
            "~": _and(at_least, [[c("semver_lt", f"{major}.{minor + 1}.0-0")]]),
        }
        if op not in forms:
            raise _Unsupported(path, f"sem_ver operator {op!r}")
        if not negate:
            return forms[op]
        negations = {"=": "!=", "!=": "=", ">": "<=", "<=": ">", "<": ">=", ">=": "<"}
        if op in negations:
            return forms[negations[op]]
        raise _Unsupported(path, f"a negated sem_ver {op!r}")


def _is_var(value: Any) -> bool:
    return isinstance(value, Mapping) and "var" in value


def _and(left: Alternatives, right: Alternatives) -> Alternatives:
    return [[*a, *b] for a in left for b in right]
