"""Regex constraints, run by RE2: time linear in the input, whatever the pattern.

A rule's pattern is written by a project admin, but the input comes from whoever calls an
evaluation surface — a browser with an sdk-client token, an app's user. With a backtracking
engine, `^([a-z0-9]+)+@example\\.com$` against 25 characters held the server's event loop for
seconds. RE2 has no backtracking: it refuses the few constructs that need it (backreferences,
lookaround) when the rule is saved, and matches everything else in linear time, in the server
and in every SDK process alike (this module is part of the shared core).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Protocol

import re2


class CompiledRegex(Protocol):
    def search(self, text: str) -> Any: ...


class RegexError(ValueError):
    """The pattern is not valid RE2 syntax (backreferences and lookaround are not)."""


def _options(case_insensitive: bool) -> Any:
    options = re2.Options()
    options.log_errors = False  # a refused pattern is a FlagConfigError, not a stderr line
    options.case_sensitive = not case_insensitive
    return options


@lru_cache(maxsize=1024)
def compile_regex(pattern: str, case_insensitive: bool = False) -> CompiledRegex:
    """A compiled, cached regex; many flags share a handful of patterns."""
    try:
        compiled: CompiledRegex = re2.compile(pattern, _options(case_insensitive))
    except re2.error as exc:
        message = exc.args[0] if exc.args else "invalid pattern"
        if isinstance(message, bytes):
            message = message.decode("utf-8", errors="replace")
        hint = "regexes use RE2 syntax: no backreferences or lookaround"
        raise RegexError(f"{message} ({hint})") from None
    return compiled
