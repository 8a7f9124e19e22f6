"""Presentation helpers of the release pages: countdown text and the window chart's shapes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from trimtab.domain.releases.overview import WindowSeries
from trimtab.server.dashboard import release_view

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("left", "text"),
    [
        (timedelta(days=4, hours=21, minutes=5), "4 d 21 h"),
        (timedelta(hours=3, minutes=5), "3 h 5 min"),
        (timedelta(seconds=20), "1 min"),
        (timedelta(0), "ended"),
        (timedelta(minutes=-5), "ended"),
    ],
)
def test_remaining__time_left__days_hours_minutes(left: timedelta, text: str) -> None:
    assert release_view.remaining(NOW + left, NOW) == text


def _series(counts: list[int], crash_free: list[float | None]) -> WindowSeries:
    start = NOW - timedelta(hours=2)
    return WindowSeries(
        start=start,
        deployed_at=start + timedelta(hours=2, minutes=30),
        ends_at=start + timedelta(days=7),
        counts=counts,
        crash_free=crash_free,
    )


def test_chart__bars_before_and_after_the_deploy_hour__scaled_to_the_peak() -> None:
    chart = release_view.chart(_series([2, 0, 4, 1], [None] * 4), baseline_per_hour=1.0)
    assert [b.after for b in chart.bars] == [False, False, True, True]
    assert (chart.total_before, chart.total_after, chart.peak) == (2, 5, 4)
    tallest = max(chart.bars, key=lambda b: b.height)
    assert tallest.count == 4 and tallest.y == pytest.approx(4)
    assert chart.deploy_x == pytest.approx(release_view.CHART_WIDTH * 2.5 / 4)
    assert chart.baseline_y is not None and chart.crash_free_lines == []


def test_chart__crash_free_line__broken_where_an_hour_had_no_sessions() -> None:
    rates: list[float | None] = [100.0, 99.0, None, 90.0, 92.0, None]
    chart = release_view.chart(_series([0] * 6, rates))
    assert len(chart.crash_free_lines) == 2
    assert chart.crash_free_floor == 90.0  # below the usual 95 % floor: the scale follows
    first = chart.crash_free_lines[0].split()
    assert first[0].endswith(",2.0")  # 100 % at the top
    assert chart.crash_free_lines[1].split()[0].endswith(f",{release_view.CHART_HEIGHT - 2:.1f}")


def test_timeline__bars_marks_and_window_spans_on_one_axis() -> None:
    from trimtab.domain.releases.timeline import EnvironmentTimeline, RunMark, WindowSpan

    start = NOW - timedelta(hours=10)
    history = EnvironmentTimeline(
        environment="production",
        start=start,
        end=NOW,
        counts=[0, 2, 0, 0, 4, 0, 0, 0, 1, 0],
        crash_free=[None, 100.0, 99.0, None, None, None, None, None, 97.0, 98.0],
        runs=[
            RunMark(7, start + timedelta(hours=5), "release", "success", "shop@2.0", "ci"),
            RunMark(8, start + timedelta(hours=7, minutes=30), "rollback", "failed", None, "ci"),
        ],
        windows=[WindowSpan("shop@2.0", start + timedelta(hours=5), NOW + timedelta(days=6))],
    )
    t = release_view.timeline(history)
    step = release_view.CHART_WIDTH / 10
    assert [b.count for b in t.bars] == history.counts and t.peak == 4 and t.total == 7
    assert t.bars[4].height == release_view.CHART_HEIGHT - 4  # the peak fills the height
    assert [m.x for m in t.marks] == [5 * step, 7.5 * step]
    assert [m.label for m in t.marks] == ["shop@2.0", "run #8 (rollback)"]
    # A window still open runs to the chart's right edge, not past it.
    assert t.spans[0].x == 5 * step and t.spans[0].x + t.spans[0].width == t.width
    # Two stretches of hours with sessions: two crash-free lines.
    assert len(t.crash_free_lines) == 2
