"""Property tests of grouping: any event dict an SDK (or an attacker) sends gets a fingerprint,
the same one every time, unchanged by what does not decide the issue (ids, timestamps, line
numbers, tags, breadcrumbs, locals), and never an exception.

Events are drawn in Sentry's shape with every field also allowed to be any JSON value, so odd
types turn up where a well-formed value is expected ("frames": 7, "in_app": "yes", a number as
a function name).
"""

from __future__ import annotations

import copy
import re
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tests.core.json_values import any_values, awkward_scalars
from trimtab.core.event_fields import LEVELS
from trimtab.core.grouping import CULPRIT_MAX, TITLE_MAX, GroupingResult, group_event

WORDS = st.text(st.sampled_from("abcdefgxyz_."), min_size=1, max_size=8)
TEXT = st.one_of(WORDS, st.text(max_size=20), awkward_scalars)


def _odd(shape: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A field as SDKs send it, or (less often) any JSON value instead."""
    return st.one_of(shape, shape, any_values)


FRAMES = st.fixed_dictionaries(
    {},
    optional={
        "module": _odd(WORDS),
        "filename": _odd(st.sampled_from(["app.py", "https://cdn.example/main.8f3a2c1d.js", ""])),
        "abs_path": _odd(WORDS),
        "function": _odd(st.one_of(WORDS, st.sampled_from(["?", "<anonymous>", "f at 0x7f3a"]))),
        "context_line": _odd(TEXT),
        "in_app": _odd(st.booleans()),
        "lineno": _odd(st.integers(0, 10_000)),
    },
)
STACKTRACES = _odd(
    st.fixed_dictionaries({}, optional={"frames": _odd(st.lists(FRAMES, max_size=6))})
)
EXCEPTIONS = st.fixed_dictionaries(
    {},
    optional={
        "type": _odd(WORDS),
        "value": _odd(TEXT),
        "stacktrace": STACKTRACES,
        "mechanism": any_values,
    },
)
THREADS = st.fixed_dictionaries(
    {}, optional={"crashed": _odd(st.booleans()), "stacktrace": STACKTRACES, "id": any_values}
)
EVENTS = st.fixed_dictionaries(
    {},
    optional={
        "exception": _odd(
            st.one_of(
                st.fixed_dictionaries({"values": _odd(st.lists(EXCEPTIONS, max_size=3))}),
                st.lists(EXCEPTIONS, max_size=3),
                EXCEPTIONS,
            )
        ),
        "stacktrace": STACKTRACES,
        "threads": _odd(st.fixed_dictionaries({"values": _odd(st.lists(THREADS, max_size=3))})),
        "logentry": _odd(
            st.fixed_dictionaries({}, optional={"message": _odd(TEXT), "formatted": _odd(TEXT)})
        ),
        "message": _odd(st.one_of(TEXT, st.fixed_dictionaries({"formatted": _odd(TEXT)}))),
        "fingerprint": _odd(
            st.lists(
                _odd(st.sampled_from(["{{ default }}", "{{ transaction }}", "{{ error.value }}"])),
                max_size=4,
            )
        ),
        "level": _odd(st.sampled_from(["error", "warn", "FATAL", " info ", "bogus"])),
        "culprit": _odd(TEXT),
        "transaction": _odd(TEXT),
        "title": _odd(TEXT),
    },
)

# Fields that say when and where an event happened, not which bug it is.
IRRELEVANT = st.fixed_dictionaries(
    {},
    optional=dict.fromkeys(
        [
            "event_id",
            "timestamp",
            "received",
            "start_timestamp",
            "tags",
            "extra",
            "contexts",
            "breadcrumbs",
            "user",
            "request",
            "server_name",
            "environment",
            "release",
            "sdk",
            "modules",
        ],
        any_values,
    ),
)
# The same fields of a frame: where in the file, and the values of locals.
IRRELEVANT_FRAME = st.fixed_dictionaries(
    {},
    optional=dict.fromkeys(["lineno", "colno", "vars", "pre_context", "post_context"], any_values),
)


def _check(result: GroupingResult) -> None:
    assert re.fullmatch(r"[0-9a-f]{32}", result.fingerprint)
    assert isinstance(result.title, str) and 0 < len(result.title) <= TITLE_MAX
    assert isinstance(result.culprit, str) and len(result.culprit) <= CULPRIT_MAX
    assert result.level in LEVELS
    assert result.grouping_components
    assert all(isinstance(c, str) for c in result.grouping_components)


def _frames_of(event: dict[str, Any]) -> list[dict[str, Any]]:
    """Every frame dict inside `event`, wherever the protocol allows one."""
    stacks: list[Any] = [event.get("stacktrace")]
    exception = event.get("exception")
    values = exception.get("values") if isinstance(exception, dict) else exception
    if isinstance(exception, dict) and "values" not in exception:
        values = [exception]
    threads = event.get("threads")
    thread_values = threads.get("values") if isinstance(threads, dict) else None
    for holder in [
        *(values if isinstance(values, list) else []),
        *(thread_values if isinstance(thread_values, list) else []),  # any JSON value, say True
    ]:
        if isinstance(holder, dict):
            stacks.append(holder.get("stacktrace"))
    frames = []
    for stack in stacks:
        if isinstance(stack, dict) and isinstance(stack.get("frames"), list):
            frames.extend(f for f in stack["frames"] if isinstance(f, dict))
    return frames


@given(st.one_of(EVENTS, st.dictionaries(st.text(max_size=10), any_values, max_size=6)))
def test_group_event__any_event__a_fingerprint_the_same_each_time(event: dict[str, Any]) -> None:
    original = copy.deepcopy(event)
    result = group_event(event)
    _check(result)
    assert group_event(copy.deepcopy(original)) == result
    assert event == original


@given(EVENTS, IRRELEVANT, st.data())
def test_group_event__ids_times_and_line_numbers_changed__same_fingerprint(
    event: dict[str, Any], noise: dict[str, Any], data: st.DataObject
) -> None:
    before = group_event(event).fingerprint
    changed = copy.deepcopy(event)
    changed.update(noise)
    for frame in _frames_of(changed):
        frame.update(data.draw(IRRELEVANT_FRAME))
    assert group_event(changed).fingerprint == before


@given(
    st.lists(WORDS, min_size=1, max_size=3),
    st.lists(WORDS, max_size=3),
    st.integers(0, 10**12),
    st.integers(0, 10**12),
    st.sampled_from(["message", "logentry"]),
)
def test_group_event__messages_differing_in_a_number__same_fingerprint(
    before: list[str], after: list[str], first: int, second: int, field: str
) -> None:
    def event(number: int) -> dict[str, Any]:
        text = " ".join([*before, str(number), *after])
        return {"message": text} if field == "message" else {"logentry": {"message": text}}

    assert group_event(event(first)).fingerprint == group_event(event(second)).fingerprint


@given(EXCEPTIONS.filter(lambda e: isinstance(e.get("type"), str) and e["type"]), WORDS)
def test_group_event__exception_of_another_type__another_fingerprint(
    exception: dict[str, Any], other_type: str
) -> None:
    renamed = {**exception, "type": exception["type"] + "X" + other_type}
    first = group_event({"exception": {"values": [exception]}})
    second = group_event({"exception": {"values": [renamed]}})
    assert first.fingerprint != second.fingerprint
