"""Named strategies on a rule: Unleash's activation strategies (built-in or custom) carried with
their parameters, so a flag that uses one can live in trimtab.

A rule may hold `"strategy": {"name": ..., "parameters": {name: text}}` beside its constraints
(and only with a fixed `serve.variant`: a strategy decides whether the rule applies). Where
trimtab can say what the strategy means, it becomes constraints, evaluated by trimtab like any
other and sent to Unleash SDKs as such:

- `default`: no constraint (everyone);
- `userWithId` (`userIds`, comma-separated): `targetingKey in [...]`;
- `remoteAddress` (`IPs`, comma-separated, exact addresses only): `remoteAddress in [...]`.

Anything else — a custom strategy, `applicationHostname` (the SDK's own host), a CIDR range —
trimtab cannot evaluate: `strategy_constraints` answers None, trimtab's evaluation (OFREP,
trimtab's SDK, the frontend API) skips the rule, and Unleash SDKs get the named strategy with
its parameters (an SDK that implements it evaluates it). The translation reports that as a gap.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["MAX_PARAMETERS", "normalize_strategy", "strategy_constraints"]

MAX_PARAMETERS = 30
MAX_PARAMETER_TEXT = 10_000
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,99}$")


class StrategyError(ValueError):
    """A strategy that is not {name, parameters} within bounds; `path` is inside the strategy."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


def normalize_strategy(value: Any) -> dict[str, Any]:
    """`{"name", "parameters"}` checked and bounded. Raises StrategyError."""
    if not isinstance(value, Mapping) or set(value) - {"name", "parameters"}:
        raise StrategyError("", "must be an object {name, parameters}")
    name = value.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise StrategyError("name", "a strategy name: a letter, then letters, digits, _ . -")
    parameters = value.get("parameters", {})
    if not isinstance(parameters, Mapping) or len(parameters) > MAX_PARAMETERS:
        raise StrategyError("parameters", f"an object of at most {MAX_PARAMETERS} texts")
    checked: dict[str, str] = {}
    for key, text in parameters.items():
        if not isinstance(key, str) or not 0 < len(key) <= 100:
            raise StrategyError("parameters", "parameter names are 1-100 characters")
        if isinstance(text, bool) or not isinstance(text, str | int | float):
            raise StrategyError(f"parameters.{key}", "must be text (or a number)")
        text = str(text)
        if len(text) > MAX_PARAMETER_TEXT:
            raise StrategyError(f"parameters.{key}", f"at most {MAX_PARAMETER_TEXT} characters")
        checked[key] = text
    return {"name": name, "parameters": checked}


def strategy_constraints(strategy: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    """The constraints that mean `strategy` (normalized), or None when trimtab cannot say."""
    name = strategy["name"]
    parameters = strategy["parameters"]
    if name == "default":
        return []
    if name == "userWithId":
        return _in("targetingKey", parameters.get("userIds", ""))
    if name == "remoteAddress":
        addresses = _split(parameters.get("IPs", ""))
        if any("/" in address for address in addresses):
            return None  # a CIDR range: no operator for it
        return _in("remoteAddress", parameters.get("IPs", ""))
    return None


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _in(attribute: str, text: str) -> list[dict[str, Any]] | None:
    values = _split(text)
    if not values:
        return None  # Unleash: an empty list matches nobody; no `in` constraint says that
    return [
        {
            "attribute": attribute,
            "operator": "in",
            "values": values,
            "negate": False,
            "case_insensitive": False,
        }
    ]
