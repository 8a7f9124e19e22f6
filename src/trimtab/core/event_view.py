"""The parts of a Sentry event that ingest reads, decoded without the rest.

Ingest keeps an event's payload as the SDK sent it (compressed bytes) and reads only a few of
its fields: what grouping, the indexed columns, the derived tags and contexts, and the count of
JavaScript frames need (`domain.reports.ingest.prepare_event`). Most of a server SDK's event is
what nobody reads there: each frame's local variables and the source lines around it,
breadcrumbs, the module list, `extra`. A 37 KB sentry-sdk event keeps about 6 KB of what ingest
reads. Parsing all of it into Python objects, then walking and freeing them, was the largest
piece of an event's CPU in the request (`orjson.loads` ~0.1 ms on the 2-core host).

`decode_event_view` decodes the payload with msgspec against the typed schema below: a known
key is decoded, anything else is checked for well-formed JSON and skipped without building
objects (about half the time of the whole parse; docs/benchmarks.md). Its fields have the
same values a whole parse gives, so grouping and indexing cannot tell the two apart. Where that
could not hold, it answers None and the caller parses the whole payload as before:

- the payload is not valid UTF-8 (msgspec does not look inside the strings it skips; the whole
  parse refuses it, 400);
- a number of thousands of digits may be in it (Python refuses to read one, so the whole parse
  refuses the event; msgspec would skip it unread);
- a field it reads holds an integer past 64 bits (orjson reads those as floats, msgspec keeps
  them exact: `str()` of the two differs in a title or a fingerprint);
- msgspec refuses the JSON (NaN, lone surrogates, a nesting too deep: the whole parse has its own
  answers for those) or a read field has a shape the schema does not describe (an exception
  list holding a string, say): the readers tolerate any shape; the schema does not try to;
- Python's recursion limit was raised past the depth orjson allows (see `_ORJSON_MAX_DEPTH`).

The schema lists what the readers (`core.event_fields`, `core.grouping`, `core.user_agent`,
`core.js_frames.js_frame_count`) read, plus a few neighbouring fields of the protocol
(https://develop.sentry.dev/sdk/data-model/event-payloads/). A reader that starts reading a
field not listed here must add it: tests/domain/test_event_view.py compares `prepare_event` on
the view and on the whole event for real SDK events, the grouping and event-field cases and
generated events, and fails when any of several read fields is taken out of the schema.
"""

from __future__ import annotations

import re
import sys
from typing import Any, TypedDict, cast

import msgspec
import orjson

__all__ = ["decode_event_view"]


class _Frame(TypedDict, total=False):
    # Every frame attribute of the protocol but `vars`, `pre_context` and `post_context`.
    filename: Any
    function: Any
    raw_function: Any
    module: Any
    package: Any
    platform: Any
    abs_path: Any
    lineno: Any
    colno: Any
    in_app: Any
    context_line: Any
    instruction_addr: Any
    addr_mode: Any
    symbol: Any
    symbol_addr: Any
    image_addr: Any
    function_id: Any
    trust: Any
    lang: Any
    stack_start: Any
    data: Any


class _Stacktrace(TypedDict, total=False):
    frames: list[_Frame] | None
    frames_omitted: Any
    lang: Any
    snapshot: Any


class _Exception(TypedDict, total=False):
    type: Any
    value: Any
    module: Any
    thread_id: Any
    mechanism: Any
    stacktrace: _Stacktrace | None
    raw_stacktrace: _Stacktrace | None


class _Exceptions(_Exception, total=False):
    # {"values": [...]}, or one exception object on its own (which grouping also reads).
    values: list[_Exception] | None


class _Thread(TypedDict, total=False):
    id: Any
    name: Any
    crashed: Any
    current: Any
    main: Any
    state: Any
    stacktrace: _Stacktrace | None
    raw_stacktrace: _Stacktrace | None


class _Threads(TypedDict, total=False):
    values: list[_Thread] | None


class _Request(TypedDict, total=False):
    # Not `data` (the request body) nor `cookies`.
    url: Any
    method: Any
    headers: Any
    query_string: Any
    fragment: Any
    env: Any
    api_target: Any


class _Event(TypedDict, total=False):
    # Not `breadcrumbs`, `extra`, `modules`, `debug_meta`, `spans`, `measurements`, `_meta`.
    event_id: Any
    timestamp: Any
    level: Any
    platform: Any
    logger: Any
    transaction: Any
    server_name: Any
    release: Any
    dist: Any
    environment: Any
    tags: Any
    user: Any
    contexts: Any
    fingerprint: Any
    message: Any
    logentry: Any
    culprit: Any
    title: Any
    type: Any
    exception: _Exceptions | list[_Exception] | None
    threads: _Threads | list[_Thread] | None
    stacktrace: _Stacktrace | None
    request: _Request | None


_DECODER = msgspec.json.Decoder(_Event)
# orjson refuses JSON nested deeper than this. msgspec goes as deep as Python's recursion limit
# lets it, 1,000 by default: below this, so it never takes what orjson refuses. A process that
# raised the limit gets the whole parse.
_ORJSON_MAX_DEPTH = 1024


_DIGIT_RUN = re.compile(rb"[0-9]*")


def _has_long_digit_run(payload: bytes) -> bool:
    """Whether `payload` may hold a run of digits longer than Python reads as one integer
    (`sys.get_int_max_str_digits`, 4,300): the whole parse refuses such a number (400) where
    msgspec would skip it unread. Looked at every `step` bytes, so in a few µs: a run longer than
    twice `step` holds a sampled byte with at least `step` digits from it on. A shorter run may
    count too (the answer may be yes for less, never no for one)."""
    limit = sys.get_int_max_str_digits()
    if not limit:
        return False  # no limit: the whole parse takes any integer too
    step = limit // 2
    for pos in range(0, len(payload), step):
        if 0x30 <= payload[pos] <= 0x39:
            match = _DIGIT_RUN.match(payload, pos)
            if match is not None and match.end() - pos >= step:
                return True
    return False


def decode_event_view(payload: bytes) -> dict[str, Any] | None:
    """The fields of the event JSON `payload` that ingest reads, with the values a whole parse
    gives them; None when that cannot be vouched for (see the module docstring): parse the
    whole payload instead."""
    if sys.getrecursionlimit() > _ORJSON_MAX_DEPTH:
        return None
    if not payload.isascii():
        try:
            payload.decode("utf-8")
        except UnicodeDecodeError:
            return None
    if _has_long_digit_run(payload):
        return None
    try:
        view = _DECODER.decode(payload)
        # orjson writes exactly the integers it reads as integers (64 bits); past them it reads
        # a float, which msgspec does not. Writing the view (~6 KB) finds one in a few µs.
        orjson.dumps(view)
    except (msgspec.DecodeError, RecursionError, orjson.JSONEncodeError):
        return None
    return cast("dict[str, Any]", view)  # a TypedDict is a plain dict at run time
