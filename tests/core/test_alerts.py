"""The pure alert rules: URL checks, kind matching, retry classification and backoff."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from trimtab.core import alerts

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("rule", "kind", "expected"),
    [
        ("issue.new", "issue.new", True),
        ("issue.new", "issue.regressed", False),
        ("deploy.*", "deploy.failed", True),
        ("deploy.*", "flag.auto_off", False),
        ("*", "release.verdict", True),
    ],
)
def test_kind_matches(rule: str, kind: str, expected: bool) -> None:
    assert alerts.kind_matches(rule, kind) is expected


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, "delivered"),
        (204, "delivered"),
        (500, "retry"),
        (429, "retry"),
        (None, "retry"),
        (404, "failed"),
        (301, "failed"),
        (400, "failed"),
    ],
)
def test_classify(status: int | None, outcome: str) -> None:
    assert alerts.classify(status) == outcome


def test_next_attempt__doubles_then_stops_at_max_attempts() -> None:
    delays = [alerts.next_attempt(NOW, n) for n in range(1, alerts.MAX_ATTEMPTS + 1)]
    assert [d - NOW for d in delays[:-1] if d] == [
        timedelta(seconds=s) for s in (30, 60, 120, 240, 480)
    ]
    assert delays[-1] is None


def test_next_attempt__retry_after_longer__honoured_but_capped() -> None:
    assert alerts.next_attempt(NOW, 1, 600) == NOW + timedelta(seconds=600)
    assert alerts.next_attempt(NOW, 1, 10**9) == NOW + alerts.MAX_BACKOFF


def test_render__unknown_format__refused() -> None:
    with pytest.raises(alerts.InvalidTarget):
        alerts.render(
            "teams",
            kind="issue.new",
            project="shop",
            environment=None,
            title="t",
            data={},
            created_at=NOW,
            link=None,
            notification_id=1,
        )
