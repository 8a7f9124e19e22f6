"""trimtab's Python SDK: what applications import.

Flags are evaluated in-process by `FlagClient` from a rule set it keeps fresh in the background
(pushed over server-sent events, ETag polling as the fallback), so an evaluation costs well
under a microsecond and keeps working while the trimtab server is down::

    from trimtab.sdk import FlagClient

    flags = FlagClient("https://trimtab.example.com", "tt_...", bootstrap_path="flags.json")
    if flags.bool_value("new-payment-page", False, {"targetingKey": user.id}):
        ...
    with flags.guard("billing-api", timeout=2.0):
        billing.charge(cart)

Exceptions — one hierarchy, all under `TrimtabError`:

- Evaluating a flag (`bool_value`, `string_value`, `number_value`, `json_value`, `evaluate`)
  never raises: on any failure it serves the last known rules, then the default you passed.
  Background I/O never raises into the application either; it logs on ``trimtab.sdk``.
- `ConfigurationError` (also a ValueError): an invalid argument when building a client or a
  guard — a bad URL, an empty key, an invalid dependency name.
- `DependencyUnavailable`: raised when entering `guard(name)` (or calling a `guarded`
  function) while that dependency's circuit breaker is open. The block did not run; serve the
  fallback. It is raised in the guarded code path only, by design.
- `GuardTimeout` (also a TimeoutError): an async guarded function ran past its `timeout` and
  was cancelled.

The OpenFeature provider lives in `trimtab.sdk.openfeature` (needs `openfeature-sdk`).
"""

from trimtab.sdk.breaker import BreakerPolicy, CircuitBreaker
from trimtab.sdk.client import FlagClient, FlagDetails
from trimtab.sdk.errors import (
    ConfigurationError,
    DependencyUnavailable,
    GuardTimeout,
    TrimtabError,
)
from trimtab.sdk.guard import Guard

__all__ = [
    "BreakerPolicy",
    "CircuitBreaker",
    "ConfigurationError",
    "DependencyUnavailable",
    "FlagClient",
    "FlagDetails",
    "Guard",
    "GuardTimeout",
    "TrimtabError",
]
