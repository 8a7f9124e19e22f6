"""The issue search box, in the shape of Sentry's: `is:unresolved release:shop@2.3.0
environment:production browser:Chrome "cannot read"`.

`is:` names a status, `release:` and `environment:` (or `env:`) filter by what the issue was
seen with, any other `key:value` is a tag the issue's events carried, and the rest (a quoted
phrase keeps its spaces and colons, as a quoted value does: `browser.name:"Chrome Mobile"`) is
text looked for in the title and culprit. A word with
nothing after its colon ("KeyError:") is text, so pasting an error message searches for it.
Pure: the caller turns the result into a query.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_QUERY = 200
MAX_TAGS = 5
# Tag keys as the facets keep them (ingest cuts keys at 64 characters).
_KEY = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
# key:"quoted value" | "quoted text" | a word
_TOKEN = re.compile(r'([A-Za-z0-9_.\-]{1,64}):"([^"]*)"?|"([^"]*)"?|(\S+)')
_ALIASES = {"env": "environment"}
_SINGLE = ("is", "release", "environment")


class SearchError(ValueError):
    """The query cannot be read; the message says why, for the person who typed it."""


@dataclass(frozen=True)
class IssueSearch:
    status: str | None = None
    release: str | None = None
    environment: str | None = None
    tags: tuple[tuple[str, str], ...] = ()
    text: str | None = None


def parse(query: str, statuses: tuple[str, ...]) -> IssueSearch:
    """Read a search box; `statuses` are the values `is:` accepts."""
    if len(query) > MAX_QUERY:
        raise SearchError(f"a search is at most {MAX_QUERY} characters")
    single: dict[str, str] = {}
    tags: list[tuple[str, str]] = []
    words: list[str] = []
    for match in _TOKEN.finditer(query):
        quoted_key, quoted_value, quoted, word = match.groups()
        if quoted is not None:
            words.append(quoted)
            continue
        if quoted_key is not None:
            key, value = quoted_key, quoted_value
        else:
            key, colon, value = word.partition(":")
            if not colon or not value or not _KEY.fullmatch(key):
                words.append(word)
                continue
        named = _ALIASES.get(key.lower(), key.lower())
        if named in _SINGLE:
            key = named
        if key in _SINGLE:
            if key in single and single[key] != value:
                raise SearchError(f"{key}: is given twice ({single[key]!r} and {value!r})")
            single[key] = value
        else:
            tags.append((key, value[:200]))
    if len(tags) > MAX_TAGS:
        raise SearchError(f"at most {MAX_TAGS} tag terms (key:value) in one search")
    status = single.get("is")
    if status is not None and status not in statuses:
        raise SearchError(f"is: must be one of {', '.join(statuses)} (not {status!r})")
    text = " ".join(w for w in words if w).strip() or None
    return IssueSearch(
        status=status,
        release=single.get("release"),
        environment=single.get("environment"),
        tags=tuple(tags),
        text=text,
    )
