"""How the flag pages word a flag's config: each rule as "when … → serve …", constraints and
segments as short phrases, a rollout or split with its stickiness, an audit entry's change in a
few words. Config JSON in, text out; nothing here reads the store.

The text is data for the templates, which escape it like any stored text.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from trimtab.domain.flags.flags import rollout_percentage

# Operators as a reader says them (core.flags.config has the list).
OPERATOR_WORDS = {
    "in": "is one of",
    "not_in": "is not one of",
    "equals": "is",
    "contains": "contains",
    "starts_with": "starts with",
    "ends_with": "ends with",
    "regex": "matches",
    "num_eq": "=",
    "num_gt": ">",
    "num_gte": "≥",
    "num_lt": "<",
    "num_lte": "≤",
    "semver_eq": "is version",
    "semver_gt": "is a version after",
    "semver_lt": "is a version before",
    "date_before": "is before",
    "date_after": "is after",
}
MAX_VALUES_SHOWN = 10


def _values(constraint: Mapping[str, Any]) -> str:
    values = constraint.get("values")
    if values is None:
        values = [constraint.get("value")]
    shown = [str(v) for v in list(values)[:MAX_VALUES_SHOWN]]
    more = len(values) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def constraint_text(constraint: Mapping[str, Any]) -> str:
    """`country is one of KR, JP`; a negated constraint reads `not (…)`."""
    operator = str(constraint.get("operator", ""))
    text = f"{constraint.get('attribute')} {OPERATOR_WORDS.get(operator, operator)} "
    text += _values(constraint)
    if constraint.get("case_insensitive"):
        text += " (any case)"
    return f"not ({text})" if constraint.get("negate") else text


def serve_text(serve: Mapping[str, Any]) -> str:
    """What a rule serves: a variant, a percentage of one, or a weighted split."""
    if "variant" in serve:
        return f"serve {serve['variant']}"
    if "rollout" in serve:
        rollout = serve["rollout"]
        return (
            f"serve {rollout['variant']} to {_percent(rollout['percentage'])} "
            f"(by {rollout.get('stickiness') or 'targetingKey'}); the rest go on"
        )
    if "split" in serve:
        parts = ", ".join(f"{e['variant']} {_percent(e['weight'])}" for e in serve["split"])
        return f"split {parts} (by {serve.get('stickiness') or 'targetingKey'})"
    return "serve ?"


def _percent(value: float) -> str:
    return f"{value:g}%"


def rule_lines(rules: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Each rule as {id, when: [phrases], serve: phrase}; `when` is empty for "everyone"."""
    lines = []
    for rule in rules:
        when = [constraint_text(c) for c in rule.get("constraints") or []]
        when += [f"in segment {name}" for name in rule.get("segments") or []]
        lines.append({"id": rule.get("id"), "when": when, "serve": serve_text(rule["serve"])})
    return lines


def segments_used(rules: Iterable[Mapping[str, Any]]) -> list[str]:
    return sorted({name for rule in rules for name in rule.get("segments") or []})


def change_text(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> str:
    """An audit entry's change in a few words: `on → off`, `rollout 25% → 50%`, `rules`."""
    before, after = before or {}, after or {}
    parts = []
    if "enabled" in after and before.get("enabled") != after.get("enabled"):
        parts.append(f"{_on(before.get('enabled'))} → {_on(after.get('enabled'))}")
    if "rules" in after:
        old, new = rollout_percentage(before), rollout_percentage(after)
        if old != new:
            parts.append(f"rollout {_maybe_percent(old)} → {_maybe_percent(new)}")
        elif before.get("rules") != after.get("rules"):
            parts.append("rules")
    skip = {"enabled", "rules", "off_reason", "automatic", "environments"}
    parts += sorted(k for k in after if k not in skip and k in before and before[k] != after[k])
    if after.get("serving"):
        parts.append(f"serving {after['serving']}")
    return "; ".join(parts)


def _on(value: Any) -> str:
    return "?" if value is None else ("on" if value else "off")


def _maybe_percent(value: float | None) -> str:
    return "none" if value is None else _percent(value)
