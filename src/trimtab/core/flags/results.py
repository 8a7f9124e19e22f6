"""The result of one evaluation, in the OpenFeature / OFREP vocabulary."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Reason(StrEnum):
    """Why a value was served (OFREP `reason`)."""

    STATIC = "STATIC"  # the flag is on and has no rules: everyone gets the default variant
    TARGETING_MATCH = "TARGETING_MATCH"  # a rule's constraints matched and it serves one variant
    SPLIT = "SPLIT"  # a percentage rollout or weighted split chose the variant
    DISABLED = "DISABLED"  # the flag is off: its off variant
    DEFAULT = "DEFAULT"  # the flag has rules but none served: its default variant
    FALLBACK = "FALLBACK"  # a dependency the flag is bound to is unhealthy: its fallback variant
    PREREQUISITE_FAILED = "PREREQUISITE_FAILED"  # a prerequisite flag is not on: its off variant
    ERROR = "ERROR"  # see error_code


class ErrorCode(StrEnum):
    """What went wrong when reason is ERROR (OFREP `errorCode`)."""

    FLAG_NOT_FOUND = "FLAG_NOT_FOUND"
    TARGETING_KEY_MISSING = "TARGETING_KEY_MISSING"
    INVALID_CONTEXT = "INVALID_CONTEXT"
    PARSE_ERROR = "PARSE_ERROR"
    TYPE_MISMATCH = "TYPE_MISMATCH"


@dataclass(frozen=True, slots=True)
class EvaluationResult:
    """The answer for one flag and one context.

    Results are shared between evaluations (the evaluator precomputes them), so `value` must be
    treated as read-only: copy a JSON value before changing it.
    """

    value: Any
    variant: str | None
    reason: str
    error_code: str | None = None
    error_message: str | None = None
    rule_id: str | None = None


def error_result(
    code: ErrorCode, message: str, value: Any = None, variant: str | None = None
) -> EvaluationResult:
    """An ERROR result; callers such as OFREP serve their own default for it."""
    return EvaluationResult(value, variant, Reason.ERROR, code, message)
