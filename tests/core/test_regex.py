"""Flag regexes run on RE2: a pattern that backtracks catastrophically elsewhere is linear here,
and patterns RE2 cannot run are refused when the flag is saved."""

from __future__ import annotations

import pytest

from trimtab.core.evaluation import FlagConfigError, validate_flag_config
from trimtab.core.flags.regex import RegexError, compile_regex

# 2^n paths for a backtracking engine; Python's `re` takes minutes on 40 characters.
CATASTROPHIC = r"^([a-z0-9]+)+@example\.com$"


def test_compile_regex__nested_quantifier__long_hostile_input_answers() -> None:
    # No timing assertion: with a backtracking engine this call would not return for minutes,
    # so the test would hang, not pass.
    assert compile_regex(CATASTROPHIC).search("a" * 5000 + "!") is None
    assert compile_regex(CATASTROPHIC).search("ann@example.com") is not None


def test_compile_regex__case_insensitive__matches_other_case() -> None:
    assert compile_regex("^ANN@", True).search("ann@example.com") is not None
    assert compile_regex("^ANN@", False).search("ann@example.com") is None


@pytest.mark.parametrize("pattern", [r"(a)\1", r"foo(?=bar)", r"(?<!x)y"])
def test_compile_regex__backtracking_only_syntax__refused_with_reason(pattern: str) -> None:
    with pytest.raises(RegexError, match="RE2 syntax"):
        compile_regex(pattern)


def test_validate_flag_config__lookahead_regex__refused_at_save() -> None:
    config = {
        "key": "beta",
        "type": "boolean",
        "enabled": True,
        "rules": [
            {
                "constraints": [
                    {"attribute": "email", "operator": "regex", "values": ["foo(?=bar)"]}
                ],
                "serve": {"variant": "on"},
            }
        ],
    }
    with pytest.raises(FlagConfigError, match="invalid regex"):
        validate_flag_config(config)
