"""The issue search box: status, release, environment, tag terms and free text."""

from __future__ import annotations

import pytest

from trimtab.core.issue_search import MAX_TAGS, IssueSearch, SearchError, parse

STATUSES = ("unresolved", "resolved", "ignored")


def test_parse__every_kind_of_term__split_into_filters_and_text() -> None:
    search = parse(
        'is:unresolved release:shop@2.3.0 env:production browser:Chrome "cannot read" amount',
        STATUSES,
    )
    assert search == IssueSearch(
        status="unresolved",
        release="shop@2.3.0",
        environment="production",
        tags=(("browser", "Chrome"),),
        text="cannot read amount",
    )


def test_parse__error_message_with_colons__stays_text() -> None:
    assert parse("KeyError: 'seat'", STATUSES) == IssueSearch(text="KeyError: 'seat'")
    assert parse('"http://x:1/y"', STATUSES).text == "http://x:1/y"


def test_parse__key_names__case_insensitive_for_the_named_filters_only() -> None:
    search = parse("Release:1.0 IS:resolved Browser:Firefox", STATUSES)
    assert search.release == "1.0" and search.status == "resolved"
    assert search.tags == (("Browser", "Firefox"),)


def test_parse__quoted_value__keeps_its_spaces() -> None:
    search = parse('browser.name:"Chrome Mobile" release:"shop 2"', STATUSES)
    assert search.tags == (("browser.name", "Chrome Mobile"),) and search.release == "shop 2"


def test_parse__empty__no_filter() -> None:
    assert parse("   ", STATUSES) == IssueSearch()


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("is:sleeping", "is: must be one of unresolved, resolved, ignored"),
        ("release:1 release:2", "release: is given twice"),
        (" ".join(f"k{i}:v" for i in range(MAX_TAGS + 1)), "at most 5 tag terms"),
        ("x" * 201, "at most 200 characters"),
    ],
)
def test_parse__unreadable__says_why(query: str, reason: str) -> None:
    with pytest.raises(SearchError, match=reason):
        parse(query, STATUSES)
