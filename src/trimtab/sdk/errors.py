"""The SDK's one exception hierarchy (see the package docstring for when each is raised)."""

from __future__ import annotations


class TrimtabError(Exception):
    """Base of every exception the SDK raises on purpose."""


class ConfigurationError(TrimtabError, ValueError):
    """A constructor argument is invalid (a bad URL, an empty key, a negative interval).

    Raised only while building a client or a guard, never while evaluating a flag.
    """


class DependencyUnavailable(TrimtabError):
    """Raised inside a guarded block when the dependency's circuit breaker is open.

    The block did not run: the dependency failed too often recently, so the call is refused
    at once instead of waiting for another failure. Serve your fallback.
    """

    def __init__(self, dependency: str, retry_in_s: float | None = None) -> None:
        self.dependency = dependency
        self.retry_in_s = retry_in_s
        hint = f"; next trial in {retry_in_s:.1f}s" if retry_in_s is not None else ""
        super().__init__(f"dependency {dependency!r} is unavailable: its circuit is open{hint}")


class GuardTimeout(TrimtabError, TimeoutError):
    """Raised by an async guarded call that ran past its `timeout` (it was cancelled)."""

    def __init__(self, dependency: str, timeout_s: float) -> None:
        self.dependency = dependency
        self.timeout_s = timeout_s
        super().__init__(f"call to {dependency!r} took longer than {timeout_s:g}s")
