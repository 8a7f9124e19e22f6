"""How single trimtab constraints, values and attribute names are written for Unleash.

Used by `trimtab.core.unleash`; each function reports what Unleash cannot express through
`gap(path, message)` and still returns the closest Unleash form.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC
from typing import Any

from trimtab.core.flags.config import DATE_OPERATORS, NUMBER_OPERATORS, SET_OPERATORS
from trimtab.core.flags.values import as_text, parse_datetime

ReportGap = Callable[[str, str], None]

RESERVED_ATTRIBUTES = ("userId", "properties")
OPERATORS = {
    "in": "IN",
    "not_in": "NOT_IN",
    "equals": "IN",
    "contains": "STR_CONTAINS",
    "starts_with": "STR_STARTS_WITH",
    "ends_with": "STR_ENDS_WITH",
    "regex": "REGEX",
    "num_eq": "NUM_EQ",
    "num_gt": "NUM_GT",
    "num_gte": "NUM_GTE",
    "num_lt": "NUM_LT",
    "num_lte": "NUM_LTE",
    "semver_eq": "SEMVER_EQ",
    "semver_gt": "SEMVER_GT",
    "semver_lt": "SEMVER_LT",
    "date_before": "DATE_BEFORE",
    "date_after": "DATE_AFTER",
    "in_cidr": "IN_CIDR",
}


def unleash_name(attribute: str) -> str:
    """The Unleash context name of a trimtab attribute (no gap check)."""
    return "userId" if attribute == "targetingKey" else attribute


def context_name(attribute: str, path: str, gap: ReportGap) -> str:
    """The Unleash context name of an attribute used in a rule."""
    if attribute in RESERVED_ATTRIBUTES:
        gap(path, f"the attribute name {attribute!r} is taken in Unleash contexts")
    if '"' in attribute or "\\" in attribute:
        gap(path, "Unleash SDKs mangle quotes and backslashes in property names")
    return unleash_name(attribute)


def constraint(c: Mapping[str, Any], path: str, gap: ReportGap) -> dict[str, Any]:
    """One normalized trimtab constraint as an Unleash constraint."""
    operator = c["operator"]
    result: dict[str, Any] = {
        "contextName": context_name(c["attribute"], f"{path}.attribute", gap),
        "operator": OPERATORS[operator],
        "inverted": c["negate"],
        "caseInsensitive": c["case_insensitive"],
    }
    values = c["values"]
    if operator in SET_OPERATORS and c["case_insensitive"]:
        gap(path, "Unleash compares IN / NOT_IN values exactly; no case_insensitive")
    if operator == "regex":
        gap(path, "Unleash SDKs run Rust or JavaScript regexes, not Python's")
    if operator in NUMBER_OPERATORS:
        result["value"] = number_text(values[0])
    elif operator in DATE_OPERATORS:
        result["value"] = date_text(values[0], path, gap)
    elif operator.startswith("semver_") or operator == "regex":
        result["value"] = values[0]
    else:
        result["values"] = [as_text(value) or "" for value in values]
    texts = [result.get("value", ""), *result.get("values", [])]
    if operator != "regex" and any("\\" in text for text in texts):
        gap(path, "Unleash SDKs mangle backslashes in constraint values")
    return result


def number_text(value: int | float) -> str:
    """A number as Unleash's grammar reads it (`12`, `1.5`, `1e+20`)."""
    return repr(float(value)) if isinstance(value, float) else str(value)


def date_text(value: str, path: str, gap: ReportGap) -> str:
    """An ISO 8601 value as the RFC 3339 UTC form Unleash SDKs parse (milliseconds at most)."""
    moment = parse_datetime(value)
    assert moment is not None  # validated with the flag
    moment = moment.astimezone(UTC)
    if moment.microsecond % 1000:
        gap(path, "Unleash dates have millisecond precision")
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond // 1000:03d}"
    return text + "Z"


def payload(flag_type: str, value: Any) -> dict[str, str]:
    """A variant value as an Unleash variant payload."""
    if flag_type == "string":
        return {"type": "string", "value": value}
    if flag_type == "number":
        return {"type": "number", "value": number_text(value)}
    return {"type": "json", "value": json.dumps(value, separators=(",", ":"), ensure_ascii=False)}
