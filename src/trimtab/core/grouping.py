"""Decide which issue an event belongs to: event dict -> fingerprint, title, culprit, level.

The fingerprint is a hash of *grouping components*, short strings kept on the result so anyone
can see why two events were or were not grouped. Which components, in order of precedence
(close to what Sentry does, so issues split the way Sentry users expect):

1. The SDK's `fingerprint` array: each entry is taken literally, except variables:
   `{{ default }}` expands to the components of rules 2-5, and `{{ transaction }}`,
   `{{ level }}`, `{{ message }}`, `{{ error.type }}`, `{{ error.value }}` to those fields.
2. Exceptions (`exception.values`, all of a chain): each one's type, then its frames as
   "module in function" (filename when there is no module; the context line when there is no
   function). Only in-app frames count when any frame of the event is in-app, else all do.
   Line numbers never count, so an edit above the crash keeps the issue. Consecutive
   identical frames (recursion) count once. The exception *value* counts only for an
   exception without usable frames, and then normalized as in rule 4: values often carry ids
   and memory addresses ("<Foo object at 0x7f3a...>") that would split one bug into many.
3. A stacktrace without an exception (`stacktrace`, or the crashed thread in `threads`).
4. The message: `logentry.message` (the template, e.g. "payment %s failed"), else
   `logentry.formatted`, else `message`; with e-mails, UUIDs, dates, times, IP addresses,
   hex (0x... and long mixed hex) and numbers replaced by placeholders, so
   "payment 1234 failed" and "payment 5678 failed" are one issue.
5. Nothing usable: all such events share one issue.

The title keeps the exception value as sent ("ZeroDivisionError: division by zero") or the
message's first line; the culprit is the in-app frame nearest the crash
("app.payments in charge"), else the SDK's `culprit`, else the `transaction`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from trimtab.core.event_fields import normalize_level

__all__ = [
    "GROUPING_CONFIG",
    "GroupingResult",
    "default_components",
    "group_event",
    "normalize_message",
]

# Part of every hash: changing how components are built must change this, so old and new
# fingerprints never collide by accident.
GROUPING_CONFIG = "trimtab-grouping:1"

TITLE_MAX = 200
CULPRIT_MAX = 200
_MESSAGE_MAX = 2048  # longer messages are grouped on their start; bounds regex work
_VALUE_MAX = 1024
_CONTEXT_LINE_MAX = 120
# Bounds a hostile event's components (they may be stored for debugging). Real chains and
# stacks are far smaller; Relay too trims stacks to 250 frames.
_MAX_EXCEPTIONS = 25
_MAX_FRAMES = 250
_MAX_FRAME_PART = 256


@dataclass(frozen=True, slots=True)
class GroupingResult:
    fingerprint: str  # 32 hex characters
    title: str
    culprit: str
    level: str
    grouping_components: list[str]


def group_event(event: Mapping[str, Any]) -> GroupingResult:
    """Group one event as the SDK sent it (any shape: bad fields are ignored, not fatal)."""
    exceptions = _exceptions(event)
    components = default_components(event, exceptions)
    custom = _sdk_fingerprint(event.get("fingerprint"))
    if custom:
        components = _expand_fingerprint(custom, components, event, exceptions)
    # A JSON array is an unambiguous encoding (["a b"] differs from ["a", "b"]), and ASCII
    # escapes keep it stable for any text, lone surrogates included.
    encoded = json.dumps([GROUPING_CONFIG, *components]).encode("ascii")
    return GroupingResult(
        fingerprint=hashlib.blake2b(encoded, digest_size=16).hexdigest(),
        title=_title(event, exceptions),
        culprit=_culprit(event, exceptions),
        level=normalize_level(event.get("level")),
        grouping_components=components,
    )


def default_components(
    event: Mapping[str, Any], exceptions: list[dict[str, Any]] | None = None
) -> list[str]:
    """The components rules 2-5 of the module docstring give for `event`."""
    if exceptions is None:
        exceptions = _exceptions(event)
    if exceptions:
        stacks = [_frames(exc.get("stacktrace")) for exc in exceptions]
        in_app_only = any(f.get("in_app") is True for frames in stacks for f in frames)
        out: list[str] = []
        for i, (exc, frames) in enumerate(zip(exceptions, stacks, strict=True)):
            out.append(f"exception[{i}].type={_text(exc.get('type'))}")
            keys = _frame_keys(frames, in_app_only)
            if keys:
                out.extend(f"exception[{i}].frame={key}" for key in keys)
            else:
                value = _text(exc.get("value"))[:_VALUE_MAX]
                out.append(f"exception[{i}].value={normalize_message(value)}")
        return out
    frames = _frames(event.get("stacktrace")) or _thread_frames(event)
    keys = _frame_keys(frames, any(_in_app(f) for f in frames))
    if keys:
        return [f"stacktrace.frame={key}" for key in keys]
    message = _grouping_message(event)
    if message:
        return [f"message={normalize_message(message[:_MESSAGE_MAX])}"]
    return ["fallback"]


_PLACEHOLDER_PATTERNS = [
    ("email", r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"),
    (
        "uuid",
        r"\b[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}\b",
    ),
    (
        "date",
        r"\b\d{4}-\d{2}-\d{2}"
        r"(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z\b|[+-]\d{2}:?\d{2}\b)?)?",
    ),
    ("time", r"\b\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\b"),
    ("ip4", r"\b(?:\d{1,3}\.){3}\d{1,3}\b"),
    (
        "ip6",
        r"(?<![\w:])(?:(?:[0-9a-fA-F]{1,4}:){7}[0-9a-fA-F]{1,4}"
        r"|(?:[0-9a-fA-F]{1,4}:){1,6}:(?:[0-9a-fA-F]{1,4}(?::[0-9a-fA-F]{1,4})*)?|::1)(?![\w:])",
    ),
    ("hex0x", r"\b0[xX][0-9a-fA-F]+\b"),
    # Long hex needs a letter and a digit: pure digits are numbers, pure letters are words.
    ("hexlong", r"\b(?=[0-9a-fA-F]*[a-fA-F])(?=[0-9a-fA-F]*\d)[0-9a-fA-F]{8,}\b"),
    # A number standing alone, with an optional unit ("250ms", "3.5MB", "80%"); digits
    # inside words ("utf8", "v2", "user_42") are part of the word.
    (
        "num",
        r"(?<!\w)[-+]?\d+(?:[.,]\d+)*(?:(?:ms|us|ns|[smhd]|[kKmMgGtT]i?[bB]|[bB])\b|%|\b)",
    ),
]
_PLACEHOLDERS = {
    "email": "<email>",
    "uuid": "<uuid>",
    "date": "<date>",
    "time": "<time>",
    "ip4": "<ip>",
    "ip6": "<ip>",
    "hex0x": "<hex>",
    "hexlong": "<hex>",
    "num": "<num>",
}
_PLACEHOLDER_RE = re.compile("|".join(f"(?P<{n}>{p})" for n, p in _PLACEHOLDER_PATTERNS))
_SPACES_RE = re.compile(r"\s+")


def normalize_message(text: str) -> str:
    """Replace the variable parts of a message by placeholders and collapse whitespace.

    >>> normalize_message("payment 1234 failed for bob@example.com")
    'payment <num> failed for <email>'
    """
    replaced = _PLACEHOLDER_RE.sub(lambda m: _PLACEHOLDERS[m.lastgroup or "num"], text)
    return _SPACES_RE.sub(" ", replaced).strip()


def _exceptions(event: Mapping[str, Any]) -> list[dict[str, Any]]:
    raw = event.get("exception")
    if isinstance(raw, dict):
        raw = raw.get("values", [raw] if "type" in raw or "value" in raw else None)
    if not isinstance(raw, list):
        return []
    usable = [exc for exc in raw if isinstance(exc, dict) and (exc.get("type") or exc.get("value"))]
    return usable[-_MAX_EXCEPTIONS:]  # the last is the one raised: keep the nearest


def _frames(stacktrace: Any) -> list[dict[str, Any]]:
    if not isinstance(stacktrace, dict):
        return []
    frames = stacktrace.get("frames")
    if not isinstance(frames, list):
        return []
    # Frames are listed outermost first: the last ones are nearest the crash.
    return [f for f in frames[-_MAX_FRAMES:] if isinstance(f, dict)]


def _thread_frames(event: Mapping[str, Any]) -> list[dict[str, Any]]:
    threads = event.get("threads")
    if isinstance(threads, dict):
        threads = threads.get("values")
    if not isinstance(threads, list):
        return []
    with_frames = [t for t in threads if isinstance(t, dict) and _frames(t.get("stacktrace"))]
    chosen = [t for t in with_frames if t.get("crashed") is True] or (
        with_frames if len(with_frames) == 1 else []
    )
    return _frames(chosen[0].get("stacktrace")) if chosen else []


def _in_app(frame: dict[str, Any]) -> bool:
    return frame.get("in_app") is True


def _frame_keys(frames: list[dict[str, Any]], in_app_only: bool) -> list[str]:
    keys: list[str] = []
    for frame in frames:
        if in_app_only and frame.get("in_app") is not True:
            continue
        key = _frame_key(frame)
        if key and (not keys or keys[-1] != key):
            keys.append(key)
    return keys


def _frame_key(frame: dict[str, Any]) -> str | None:
    where = _text(frame.get("module"))[:_MAX_FRAME_PART] or _normalize_filename(
        (_text(frame.get("filename")) or _text(frame.get("abs_path")))[:_MAX_FRAME_PART]
    )
    function = _text(frame.get("function"))[:_MAX_FRAME_PART]
    if function and function not in ("?", "<anonymous>", "<unknown>"):
        what = _ADDRESS_RE.sub("<hex>", function) if "0x" in function else function
    else:
        what = _text(frame.get("context_line")).strip()[:_CONTEXT_LINE_MAX]
    if not where and not what:
        return None
    return f"{where} in {what}"


_ADDRESS_RE = re.compile(r"0x[0-9a-fA-F]+")
_URL_PREFIX_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://[^/]*")
# Bundle names carry a content hash that changes on every deploy: main.8f3a2c1d.chunk.js
_FILE_HASH_RE = re.compile(r"(?<=[.-])[0-9a-fA-F]{7,}(?=[.-])|(?<=[.-])[0-9a-zA-Z_]{20,}(?=\.)")


def _display_filename(filename: str) -> str:
    # The same script served from another host or with another cache-buster is the same code.
    return _URL_PREFIX_RE.sub("", filename).split("?", 1)[0].split("#", 1)[0]


def _normalize_filename(filename: str) -> str:
    return _FILE_HASH_RE.sub("<hash>", _display_filename(filename))


def _grouping_message(event: Mapping[str, Any]) -> str:
    logentry = event.get("logentry")
    if isinstance(logentry, dict):
        text = _text(logentry.get("message")) or _text(logentry.get("formatted"))
        if text:
            return text
    return _message_text(event.get("message"))


def _display_message(event: Mapping[str, Any]) -> str:
    logentry = event.get("logentry")
    if isinstance(logentry, dict):
        text = _text(logentry.get("formatted")) or _text(logentry.get("message"))
        if text:
            return text
    return _message_text(event.get("message"))


def _message_text(message: Any) -> str:
    if isinstance(message, dict):  # the old "sentry.interfaces.Message" shape
        return _text(message.get("formatted")) or _text(message.get("message"))
    return _text(message)


def _title(event: Mapping[str, Any], exceptions: list[dict[str, Any]]) -> str:
    if exceptions:
        main = exceptions[-1]  # the protocol lists a chain oldest first; the last was raised
        kind = _text(main.get("type"))
        value = _first_line(_text(main.get("value")))
        title = f"{kind}: {value}" if kind and value else kind or value
    else:
        title = _first_line(_display_message(event))
    return _truncate(title or _text(event.get("title")) or "<unlabeled event>", TITLE_MAX)


def _culprit(event: Mapping[str, Any], exceptions: list[dict[str, Any]]) -> str:
    frames = _frames(exceptions[-1].get("stacktrace")) if exceptions else []
    frames = frames or _frames(event.get("stacktrace")) or _thread_frames(event)
    in_app = [f for f in frames if _in_app(f)]
    if in_app or frames:
        nearest = (in_app or frames)[-1]
        where = _text(nearest.get("module")) or _display_filename(_text(nearest.get("filename")))
        function = _text(nearest.get("function"))
        culprit = f"{where} in {function}" if where and function else where or function
        if culprit:
            return _truncate(culprit, CULPRIT_MAX)
    return _truncate(_text(event.get("culprit")) or _text(event.get("transaction")), CULPRIT_MAX)


def _sdk_fingerprint(raw: Any) -> list[str]:
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list):
        return []
    return [_text(part) for part in raw if part is not None]


_VARIABLE_RE = re.compile(r"^\{\{\s*([\w.]+)\s*\}\}$")


def _expand_fingerprint(
    parts: list[str],
    default: list[str],
    event: Mapping[str, Any],
    exceptions: list[dict[str, Any]],
) -> list[str]:
    main = exceptions[-1] if exceptions else {}
    variables = {
        "transaction": lambda: _text(event.get("transaction")),
        "level": lambda: normalize_level(event.get("level")),
        "message": lambda: _display_message(event),
        "error.type": lambda: _text(main.get("type")),
        "type": lambda: _text(main.get("type")),
        "error.value": lambda: _text(main.get("value")),
        "value": lambda: _text(main.get("value")),
    }
    out: list[str] = []
    for part in parts:
        match = _VARIABLE_RE.match(part)
        name = match.group(1) if match else None
        if name == "default":
            out.extend(default)
        elif name in variables:
            out.append(f"fingerprint.{name}={variables[name]()}")
        else:
            out.append(f"fingerprint={part}")
    return out


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, (dict, list)):
        return ""
    return str(value)


def _first_line(text: str) -> str:
    # Only the start can make a title: do not split a megabyte message into lines.
    for line in text.lstrip()[: TITLE_MAX * 2].splitlines():
        if line.strip():
            return line.strip()
    return ""


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
