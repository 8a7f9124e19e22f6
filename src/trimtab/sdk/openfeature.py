"""An OpenFeature provider that evaluates trimtab flags in-process.

    from openfeature import api
    from trimtab.sdk.openfeature import TrimtabProvider

    api.set_provider(TrimtabProvider(url="https://trimtab.example.com", sdk_key="tt_..."))
    enabled = api.get_client().get_boolean_value("new-payment-page", False, ctx)

It wraps a `FlagClient` (pass your own with `client=`, or let the provider build one), so it
gets the same push updates, offline bootstrap and dependency fallback. Needs the optional
`openfeature-sdk` package (`pip install openfeature-sdk`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

try:
    from openfeature.evaluation_context import EvaluationContext
    from openfeature.event import ProviderEventDetails
    from openfeature.exception import ErrorCode
    from openfeature.flag_evaluation import FlagResolutionDetails, FlagValueType
    from openfeature.provider import AbstractProvider, Metadata
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "trimtab.sdk.openfeature needs the openfeature-sdk package: pip install openfeature-sdk"
    ) from exc

from trimtab.sdk.client import FlagClient, FlagDetails

_ERROR_CODES = {code.value: code for code in ErrorCode}
READY_TIMEOUT_S = 5.0


def context_of(evaluation_context: EvaluationContext | None) -> dict[str, Any]:
    """OpenFeature's context as trimtab's: the targeting key under `targetingKey`."""
    if evaluation_context is None:
        return {}
    context = dict(evaluation_context.attributes)
    if evaluation_context.targeting_key is not None:
        context["targetingKey"] = evaluation_context.targeting_key
    return context


class TrimtabProvider(AbstractProvider):
    """OpenFeature provider backed by a local `FlagClient` (see the module docstring)."""

    def __init__(
        self,
        client: FlagClient | None = None,
        *,
        url: str | None = None,
        sdk_key: str | None = None,
        **client_options: Any,
    ) -> None:
        super().__init__()
        if client is None:
            if url is None or sdk_key is None:
                raise TypeError("pass a FlagClient, or url= and sdk_key=")
            client = FlagClient(url, sdk_key, **client_options)
            self._owns_client = True
        else:
            self._owns_client = False
        self.client = client
        self.client.on_change(self._rules_changed)

    def get_metadata(self) -> Metadata:
        return Metadata(name="trimtab")

    def initialize(self, evaluation_context: EvaluationContext) -> None:
        # Never fail initialization: without rules the provider serves the callers' defaults
        # until the first rule set arrives.
        self.client.wait_until_ready(READY_TIMEOUT_S)

    def shutdown(self) -> None:
        if self._owns_client:
            self.client.close()

    def _rules_changed(self) -> None:
        if hasattr(self, "_on_emit"):
            self.emit_provider_configuration_changed(ProviderEventDetails(message="rules changed"))

    def _resolve(
        self,
        key: str,
        default: Any,
        evaluation_context: EvaluationContext | None,
        expected_type: str,
    ) -> FlagResolutionDetails[Any]:
        details = self.client.evaluate(
            key, default, context_of(evaluation_context), expected_type=expected_type
        )
        return _resolution(details)

    def resolve_boolean_details(
        self,
        flag_key: str,
        default_value: bool,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[bool]:
        return self._resolve(flag_key, default_value, evaluation_context, "boolean")

    def resolve_string_details(
        self,
        flag_key: str,
        default_value: str,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[str]:
        return self._resolve(flag_key, default_value, evaluation_context, "string")

    def resolve_integer_details(
        self,
        flag_key: str,
        default_value: int,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[int]:
        result = self._resolve(flag_key, default_value, evaluation_context, "number")
        value = result.value
        if isinstance(value, float) and value.is_integer():
            result.value = int(value)
        elif not isinstance(value, int) or isinstance(value, bool):
            return _mismatch(default_value, f"flag {flag_key!r} is not an integer: {value!r}")
        return result

    def resolve_float_details(
        self,
        flag_key: str,
        default_value: float,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[float]:
        result = self._resolve(flag_key, default_value, evaluation_context, "number")
        if isinstance(result.value, int) and not isinstance(result.value, bool):
            result.value = float(result.value)
        return result

    def resolve_object_details(
        self,
        flag_key: str,
        default_value: Sequence[FlagValueType] | Mapping[str, FlagValueType],
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[Sequence[FlagValueType] | Mapping[str, FlagValueType]]:
        return self._resolve(flag_key, default_value, evaluation_context, "json")


def _resolution(details: FlagDetails) -> FlagResolutionDetails[Any]:
    if details.error_code is not None:
        return FlagResolutionDetails(
            value=details.value,
            error_code=_ERROR_CODES.get(details.error_code, ErrorCode.GENERAL),
            error_message=details.error_message,
            reason=details.reason,
        )
    return FlagResolutionDetails(
        value=details.value, reason=details.reason, variant=details.variant
    )


def _mismatch(default: Any, message: str) -> FlagResolutionDetails[Any]:
    return FlagResolutionDetails(
        value=default, error_code=ErrorCode.TYPE_MISMATCH, error_message=message, reason="ERROR"
    )


__all__ = ["TrimtabProvider", "context_of"]
