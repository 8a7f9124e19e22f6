"""Human output is a Rich table; with the global --json, one JSON document on stdout."""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

console = Console(soft_wrap=False)
err_console = Console(stderr=True)


def print_json(data: Any) -> None:
    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")


_ISO_TIME = re.compile(r"^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)(\.\d+)?(\+00:00|Z)$")


def _cell(value: Any) -> str:
    if isinstance(value, str) and (match := _ISO_TIME.match(value)):
        return f"{match.group(1)} {match.group(2)}"
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(_cell(v) for v in value)
    if isinstance(value, dict):
        return orjson.dumps(value).decode()
    return str(value)


def emit(
    data: Any,
    *,
    as_json: bool,
    columns: Sequence[str] | None = None,
    title: str | None = None,
) -> None:
    """Print `data` (a dict or a list of dicts) as JSON or as a table of `columns`."""
    if as_json:
        print_json(data)
        return
    rows = data if isinstance(data, list) else [data]
    if not rows:
        console.print("[dim](none)[/dim]")
        return
    columns = list(columns or rows[0].keys())
    if isinstance(data, dict) and columns == list(data.keys()):
        table = Table(show_header=False, title=title, box=None)
        table.add_column(style="bold")
        table.add_column()
        for key in columns:
            table.add_row(key, _cell(data[key]))
    else:
        table = Table(title=title)
        for column in columns:
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(*(_cell(row.get(c)) for c in columns))
    console.print(table)
