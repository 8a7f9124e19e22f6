"""Property tests of the imports: any JSON, and documents shaped like Unleash's and flagd's
with awkward values anywhere, give a FlagImport whose every config validates, or an
ImportDocumentError; never another exception (the API answers 422, never 500)."""

from __future__ import annotations

import contextlib
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.core.json_values import any_values
from trimtab.core.evaluation import compile_flags
from trimtab.core.flag_imports import FlagImport, ImportDocumentError, read_trimtab
from trimtab.core.flagd_import import read_flagd
from trimtab.core.unleash_import import read_unleash

NAMES = st.sampled_from(["a", "b", "Feature.X", "userId", "email", "version", "x y", ""])
OPERATORS = st.sampled_from(
    [
        "IN",
        "NOT_IN",
        "STR_CONTAINS",
        "NUM_GT",
        "DATE_AFTER",
        "SEMVER_GTE",
        "REGEX",
        "IN_CIDR",
        "?",
        None,
    ]
)
constraint = st.fixed_dictionaries(
    {"contextName": NAMES, "operator": OPERATORS},
    optional={
        "values": st.lists(any_values, max_size=3),
        "value": any_values,
        "inverted": any_values,
        "caseInsensitive": any_values,
    },
)
strategy = st.fixed_dictionaries(
    {
        "name": st.sampled_from(
            [
                "default",
                "flexibleRollout",
                "userWithId",
                "remoteAddress",
                "gradualRolloutUserId",
                "applicationHostname",
                "custom",
            ]
        )
    },
    optional={
        "parameters": st.dictionaries(
            st.sampled_from(
                ["rollout", "stickiness", "groupId", "userIds", "IPs", "percentage", "hostNames"]
            ),
            any_values,
        ),
        "constraints": st.lists(constraint, max_size=3),
        "segments": st.lists(st.integers(0, 3), max_size=2),
        "variants": st.lists(
            st.fixed_dictionaries(
                {"name": NAMES},
                optional={"weight": any_values, "payload": any_values, "stickiness": any_values},
            ),
            max_size=3,
        ),
    },
)
feature = st.fixed_dictionaries(
    {"name": NAMES},
    optional={
        "enabled": any_values,
        "strategies": st.lists(strategy, max_size=3),
        "variants": st.lists(
            st.fixed_dictionaries(
                {"name": NAMES},
                optional={"weight": any_values, "payload": any_values, "overrides": any_values},
            ),
            max_size=3,
        ),
        "dependencies": st.lists(
            st.fixed_dictionaries(
                {"feature": NAMES}, optional={"enabled": any_values, "variants": any_values}
            ),
            max_size=2,
        ),
    },
)
unleash_document = st.fixed_dictionaries(
    {"features": st.lists(feature, max_size=4)},
    optional={
        "segments": st.lists(
            st.fixed_dictionaries(
                {"id": st.integers(0, 3)},
                optional={"name": NAMES, "constraints": st.lists(constraint, max_size=2)},
            ),
            max_size=3,
        )
    },
)
logic = st.recursive(
    st.one_of(any_values, st.sampled_from(["on", "off"]), st.just({"var": "email"})),
    lambda inner: st.dictionaries(
        st.sampled_from(
            [
                "if",
                "and",
                "or",
                "!",
                "==",
                "in",
                "sem_ver",
                "fractional",
                "$ref",
                "starts_with",
                ">",
                "cat",
                "var",
            ]
        ),
        st.lists(inner, max_size=4),
        min_size=1,
        max_size=1,
    ),
    max_leaves=12,
)
flagd_document = st.fixed_dictionaries(
    {
        "flags": st.dictionaries(
            NAMES,
            st.fixed_dictionaries(
                {"variants": st.sampled_from([{"on": True, "off": False}, {"on": "a", "off": 2}])},
                optional={"state": any_values, "defaultVariant": any_values, "targeting": logic},
            ),
            max_size=3,
        )
    },
    optional={"$evaluators": st.dictionaries(NAMES, logic, max_size=2)},
)


def _usable(result: FlagImport) -> None:
    compile_flags(result.flags, result.segments)  # every config validates and compiles


@settings(max_examples=300)
@given(st.one_of(any_values, unleash_document))
def test_read_unleash__any_document__an_import_or_a_document_error(document: Any) -> None:
    with contextlib.suppress(ImportDocumentError):
        _usable(read_unleash(document))


@settings(max_examples=300)
@given(st.one_of(any_values, flagd_document))
def test_read_flagd__any_document__an_import_or_a_document_error(document: Any) -> None:
    with contextlib.suppress(ImportDocumentError):
        _usable(read_flagd(document))


@given(any_values)
def test_read_trimtab__any_json__an_import_or_a_document_error(document: Any) -> None:
    with contextlib.suppress(ImportDocumentError):
        _usable(read_trimtab(document, environment="production"))
