"""Hypothesis strategies for what arrives as JSON: any value, and the awkward ones on purpose.

Shared by the property tests of the cores (envelopes, grouping, evaluation). Integers reach past
64 bits and floats include NaN and infinities because SDKs send both (Python's json writes NaN;
a JS SDK can send 2**70), and text includes control characters and astral-plane characters.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

# Values a JSON parser can hand us that are awkward to store, format or hash.
awkward_scalars: st.SearchStrategy[Any] = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([2**63, -(2**63) - 1, 2**64, 10**30]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["", " ", "\x00", "\n\n", "{{ default }}", "0x7f3a", "?", "<anonymous>"]),
)

scalars: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)


def json_values(leaves: st.SearchStrategy[Any] = scalars, max_leaves: int = 8) -> Any:
    """Any JSON value (objects keyed by text) built from `leaves`."""
    return st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4),
            st.dictionaries(st.text(max_size=8), inner, max_size=4),
        ),
        max_leaves=max_leaves,
    )


# Built once: a recursive strategy is costly to set up, so tests share these.
plain_values = json_values()
any_values = json_values(st.one_of(scalars, awkward_scalars))
json_objects: st.SearchStrategy[dict[str, Any]] = st.dictionaries(
    st.text(max_size=8), plain_values, max_size=4
)
