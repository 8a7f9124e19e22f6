"""Constraints compiled into predicates over the evaluation context.

Each normalized constraint becomes one closure `check(context) -> bool` that does the attribute
lookup, the comparison and the negation, with its values parsed once (a frozenset for `in`,
a compiled regex, a parsed version or date).

Missing attributes (absent, None, or not readable for the operator) follow Unleash so that
translated flags agree: `not_in` is true, every other operator is false; `negate` then flips
the result.

Regexes are searched (not anchored), compiled once and cached, limited to MAX_REGEX_LENGTH
characters of pattern and MAX_REGEX_INPUT characters of input: a longer input does not match,
which bounds the time one evaluation can take.
"""

from __future__ import annotations

import operator as op
from collections.abc import Callable, Mapping
from typing import Any

from trimtab.core.flags.config import (
    CIDR_OPERATORS,
    DATE_OPERATORS,
    NUMBER_OPERATORS,
    SEMVER_OPERATORS,
    SET_OPERATORS,
)
from trimtab.core.flags.regex import compile_regex
from trimtab.core.flags.values import (
    as_number,
    as_text,
    parse_address,
    parse_datetime,
    parse_network,
    parse_semver,
)

Check = Callable[[Mapping[str, Any]], bool]

MAX_REGEX_INPUT = 4096
_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "num_eq": op.eq,
    "num_gt": op.gt,
    "num_gte": op.ge,
    "num_lt": op.lt,
    "num_lte": op.le,
    "semver_eq": op.eq,
    "semver_gt": op.gt,
    "semver_lt": op.lt,
    "date_before": op.lt,
    "date_after": op.gt,
}


def compile_constraint(constraint: Mapping[str, Any]) -> Check:
    """A predicate for one normalized constraint (see `validate_flag_config`)."""
    operator = constraint["operator"]
    if operator in SET_OPERATORS:
        return _set_check(constraint)
    if operator == "regex":
        return _regex_check(constraint)
    if operator in CIDR_OPERATORS:
        return _cidr_check(constraint)
    if operator in NUMBER_OPERATORS:
        target = as_number(constraint["values"][0])
        return _ordered_check(constraint, as_number, target)
    if operator in SEMVER_OPERATORS:
        return _ordered_check(constraint, parse_semver, parse_semver(constraint["values"][0]))
    if operator in DATE_OPERATORS:
        target_date = parse_datetime(constraint["values"][0])
        return _ordered_check(constraint, parse_datetime, target_date)
    return _string_check(constraint)


def _texts(constraint: Mapping[str, Any]) -> list[str]:
    texts = [as_text(value) or "" for value in constraint["values"]]
    if constraint["case_insensitive"]:
        return [text.lower() for text in texts]
    return texts


def _set_check(constraint: Mapping[str, Any]) -> Check:
    attribute: str = constraint["attribute"]
    values = frozenset(_texts(constraint))
    wanted: bool = constraint["operator"] != "not_in"
    negate: bool = constraint["negate"]
    fold: bool = constraint["case_insensitive"]
    if wanted and not negate and not fold:
        # The common case ("country in [KR, JP]") without the general branches.
        def check_in(context: Mapping[str, Any]) -> bool:
            value = context.get(attribute)
            if value.__class__ is str:
                return value in values
            return as_text(value) in values

        return check_in

    missing = (not wanted) != negate

    def check(context: Mapping[str, Any]) -> bool:
        value = context.get(attribute)
        text: str | None = value if value.__class__ is str else as_text(value)
        if text is None:
            return missing
        if fold:
            text = text.lower()
        return ((text in values) == wanted) != negate

    return check


def _string_check(constraint: Mapping[str, Any]) -> Check:
    attribute: str = constraint["attribute"]
    needles = tuple(_texts(constraint))
    negate: bool = constraint["negate"]
    fold: bool = constraint["case_insensitive"]
    operator = constraint["operator"]

    def matches(text: str) -> bool:
        if operator == "starts_with":
            return text.startswith(needles)
        if operator == "ends_with":
            return text.endswith(needles)
        return any(needle in text for needle in needles)

    def check(context: Mapping[str, Any]) -> bool:
        value = context.get(attribute)
        text = value if value.__class__ is str else as_text(value)
        if text is None:
            return negate
        if fold:
            text = text.lower()
        return matches(text) != negate

    return check


def _regex_check(constraint: Mapping[str, Any]) -> Check:
    attribute: str = constraint["attribute"]
    search = compile_regex(constraint["values"][0], constraint["case_insensitive"]).search
    negate: bool = constraint["negate"]

    def check(context: Mapping[str, Any]) -> bool:
        text = as_text(context.get(attribute))
        if text is None or len(text) > MAX_REGEX_INPUT:
            return negate
        return (search(text) is not None) != negate

    return check


def _cidr_check(constraint: Mapping[str, Any]) -> Check:
    attribute: str = constraint["attribute"]
    networks = tuple(n for n in map(parse_network, constraint["values"]) if n is not None)
    negate: bool = constraint["negate"]

    def check(context: Mapping[str, Any]) -> bool:
        address = parse_address(context.get(attribute))
        if address is None:
            return negate
        # An IPv4 address is never in an IPv6 network and vice versa (`in` says False).
        return any(address in network for network in networks) != negate

    return check


def _ordered_check(
    constraint: Mapping[str, Any], parse: Callable[[object], Any], target: Any
) -> Check:
    attribute: str = constraint["attribute"]
    compare = _COMPARISONS[constraint["operator"]]
    negate: bool = constraint["negate"]

    def check(context: Mapping[str, Any]) -> bool:
        value = parse(context.get(attribute))
        if value is None:
            return negate
        return bool(compare(value, target)) != negate

    return check
