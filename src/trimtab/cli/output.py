"""Human output: plain-text tables, records and lines; with the global --json, one JSON document.

Everything is printed verbatim. Stored and user text (error messages, breadcrumbs, reasons,
descriptions) is full of brackets and colons — `[/seats]`, `div.seat[data-seat='F7']` — that a
markup-parsing printer such as Rich reads as styles or emoji codes, then crashes on or swallows.
So this module never interprets text: it measures, wraps and writes it. Tables fit
`MAX_WIDTH` columns; a table that cannot fit turns into one block of `column  value` lines per
row. Rich draws only the live progress of a deploy (`progress_console`), with markup, emoji and
highlighting off.

Kept free of Rich at import time: most commands print a table, and a CLI call should not pay for
a rendering library it does not use (see bench/cli.py).
"""

from __future__ import annotations

import json
import os
import re
import sys
import textwrap
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

MAX_WIDTH = 100
GAP = "  "
# Below this, a wrapped column is too narrow to read: lay the table out vertically instead.
MIN_COLUMN = 8
# Words longer than this may be cut to keep a table horizontal (URLs, ids).
LONG_WORD = 24
NONE = "—"
_ISO_TIME = re.compile(r"^(\d{4}-\d\d-\d\d)T(\d\d:\d\d)(:\d\d)?(\.\d+)?(\+00:00|Z)$")


def width() -> int:
    """The width human output fits: `MAX_WIDTH`, or less when COLUMNS says the terminal is
    narrower."""
    try:
        columns = int(os.environ.get("COLUMNS", ""))
    except ValueError:
        columns = MAX_WIDTH
    return max(40, min(MAX_WIDTH, columns))


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def say(text: str = "", *, err: bool = False) -> None:
    """One line (or several), exactly as given."""
    stream = sys.stderr if err else sys.stdout
    stream.write(f"{text}\n")
    stream.flush()


def say_wrapped(text: str, indent: str = "") -> None:
    """Prose (a verdict's reasons, a refusal) wrapped to `width()`, continued under `indent`."""
    for part in _wrap(text, width() - len(indent)):
        say(f"{indent}{part}")
        indent = " " * len(indent)


def cell(value: Any) -> str:
    """A value as a person reads it: times without seconds' fractions, lists as lists,
    mappings as `name=value`, numbers without float noise."""
    if isinstance(value, str):
        if match := _ISO_TIME.match(value):
            return f"{match.group(1)} {match.group(2)}{match.group(3) or ''}"
        return value
    if value is None:
        return NONE
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e6 else f"{value:,.0f}"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={_inner(v)}" for k, v in value.items()) or NONE
    if isinstance(value, list | tuple):
        return ", ".join(_inner(v) for v in value) or NONE
    return str(value)


def duration(seconds: float | None) -> str:
    """`173098.17` → `2 d 0 h`, `2700` → `45 min`: the two largest units a person reads."""
    if seconds is None:
        return NONE
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def percent(ratio: float | None) -> str:
    return NONE if ratio is None else f"{ratio * 100:.1f} %"


def _inner(value: Any) -> str:
    # A list or mapping inside a cell: parenthesized so its commas do not read as the outer's.
    text = cell(value)
    return f"({text})" if isinstance(value, Mapping | list | tuple) and value else text


def emit(
    data: Any,
    *,
    as_json: bool,
    columns: Sequence[str] | None = None,
    title: str | None = None,
) -> None:
    """Print `data` (a dict or a list of dicts) as JSON, as `key value` lines (one dict whose
    keys are the columns) or as a table of `columns`."""
    if as_json:
        print_json(data)
        return
    rows = data if isinstance(data, list) else [data]
    if title:
        say(f"\n{title}")
    if not rows:
        say("(none)")
        return
    columns = list(columns or rows[0].keys())
    if isinstance(data, dict) and columns == list(data.keys()):
        record(data)
    else:
        table([{c: row.get(c) for c in columns} for row in rows], columns)


def record(data: Mapping[str, Any]) -> None:
    """One object as aligned `key  value` lines; long values wrap under the value column."""
    if not data:
        say("(none)")
        return
    label = min(max(len(k) for k in data), 24)
    value_width = max(20, width() - label - len(GAP))
    for key, value in data.items():
        lines = _wrap(cell(value), value_width)
        say(f"{key.ljust(label)}{GAP}{lines[0]}".rstrip())
        for more in lines[1:]:
            say(f"{' ' * (label + len(GAP))}{more}".rstrip())


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> None:
    """Rows as a table that fits `width()`; wrapped cells, or one record per row when even
    wrapping cannot make the columns fit."""
    texts = [[cell(row.get(c)) for c in columns] for row in rows]
    # Headers are the JSON field names, spaced so a narrow column wraps them between words.
    headers = [c.replace("_", " ") for c in columns]
    widths = _fit(headers, texts, width())
    if widths is None:
        for index, row in enumerate(rows):
            if index:
                say()
            record({c: row.get(c) for c in columns})
        return
    _table_line([_wrap(h, w) for h, w in zip(headers, widths, strict=True)], widths)
    say(GAP.join("-" * w for w in widths))
    for texts_row in texts:
        _table_line([_wrap(t, w) for t, w in zip(texts_row, widths, strict=True)], widths)


def _fit(columns: Sequence[str], texts: list[list[str]], total: int) -> list[int] | None:
    """Column widths within `total`, narrowing the widest columns first; None if impossible."""
    natural = [
        max([len(c)] + [len(part) for row in texts for part in row[i].splitlines()])
        for i, c in enumerate(columns)
    ]
    room = total - len(GAP) * (len(columns) - 1)
    # A column may narrow down to its longest word (up to LONG_WORD): words are not cut apart.
    longest_word = [
        max(len(word) for text in [c, *(row[i] for row in texts)] for word in text.split() or [""])
        for i, c in enumerate(columns)
    ]
    floors = [
        min(n, max(MIN_COLUMN, min(w, LONG_WORD)))
        for n, w in zip(natural, longest_word, strict=True)
    ]
    widths = list(natural)
    # First take width a column holds only for its header ("event count" over two digits):
    # headers wrap between words at no cost to the values.
    content = [
        max([0] + [len(p) for row in texts for p in row[i].splitlines()])
        for i in range(len(columns))
    ]
    header_word = [max(len(word) for word in c.split() or [""]) for c in columns]
    soft = [max(v, h) for v, h in zip(content, header_word, strict=True)]
    for i in sorted(range(len(columns)), key=lambda i: soft[i] - widths[i]):
        excess = sum(widths) - room
        if excess <= 0:
            break
        widths[i] -= max(0, min(excess, widths[i] - soft[i]))
    # Water-filling: narrow the widest column one character at a time, so the excess is shared
    # among the wide columns instead of crushing one of them.
    while sum(widths) > room:
        shrinkable = [i for i, w in enumerate(widths) if w > floors[i]]
        if not shrinkable:
            return None
        widths[max(shrinkable, key=lambda i: widths[i])] -= 1
    return widths


def _wrap(text: str, size: int) -> list[str]:
    lines: list[str] = []
    for part in text.splitlines() or [""]:
        lines.extend(
            textwrap.wrap(part, size, break_on_hyphens=False, replace_whitespace=False) or [""]
        )
    return lines


def _table_line(cells: list[list[str]], widths: list[int]) -> None:
    for index in range(max(len(c) for c in cells)):
        parts = [c[index] if index < len(c) else "" for c in cells]
        say(GAP.join(p.ljust(w) for p, w in zip(parts, widths, strict=True)).rstrip())


def progress_console() -> Console:
    """The Rich console that draws a deploy's live progress: text stays text."""
    from rich.console import Console

    return Console(markup=False, emoji=False, highlight=False, soft_wrap=False)
