"""Presentation for the releases and deploy pages: countdowns, the window's error-rate chart as
inline SVG (readable without JavaScript), and the steps of a run grouped by wave.

Only shaping: every number comes from the domain (`domain.releases.overview`, `runs`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from trimtab.domain.releases.overview import WindowSeries
from trimtab.domain.releases.runs import StepView

CHART_WIDTH = 720
CHART_HEIGHT = 120
# The crash-free line's scale starts here (or lower, if the rate fell lower): 95..100 % is where
# the differences that matter are.
CRASH_FREE_FLOOR = 95.0
ACTIVE_RUN_STATES = frozenset({"running", "waiting_confirm"})


def remaining(until: datetime, now: datetime) -> str:
    """'4 d 21 h', '3 h 5 min', '12 min' left until `until`; 'ended' once past."""
    left = until - now
    if left <= timedelta(0):
        return "ended"
    days, rest = divmod(int(left.total_seconds()), 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{max(minutes, 1)} min"


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    count: int
    hour: datetime
    after: bool


@dataclass(frozen=True)
class Chart:
    """An hourly bar chart: bars after the deploy are drawn shaded as the window."""

    width: int
    height: int
    bars: list[Bar]
    deploy_x: float
    baseline_y: float | None
    peak: int
    total_before: int
    total_after: int
    crash_free_lines: list[str]
    crash_free_floor: float


def _crash_free_lines(series: WindowSeries, step: float) -> tuple[list[str], float]:
    """Polylines (SVG `points`) of the crash-free rate, broken where an hour had no sessions,
    on a scale from `floor` (at the bottom) to 100 % (at the top)."""
    known = [v for v in series.crash_free if v is not None]
    floor = min([*known, CRASH_FREE_FLOOR]) if known else CRASH_FREE_FLOOR
    span = max(100.0 - floor, 0.01)
    lines: list[str] = []
    points: list[str] = []
    for index, value in enumerate(series.crash_free):
        if value is None:
            if len(points) > 1:
                lines.append(" ".join(points))
            points = []
            continue
        y = 2 + (CHART_HEIGHT - 4) * (100.0 - value) / span
        points.append(f"{index * step + step / 2:.1f},{y:.1f}")
    if len(points) > 1:
        lines.append(" ".join(points))
    return lines, floor


def chart(series: WindowSeries, baseline_per_hour: float | None = None) -> Chart:
    hours = max(len(series.counts), 1)
    step = CHART_WIDTH / hours
    peak = max([*series.counts, 1, round(baseline_per_hour or 0)])
    bars = []
    before = after = 0
    for index, count in enumerate(series.counts):
        hour = series.start + timedelta(hours=index)
        is_after = hour >= series.deployed_at.replace(minute=0, second=0, microsecond=0)
        if is_after:
            after += count
        else:
            before += count
        height = (CHART_HEIGHT - 4) * count / peak
        bars.append(
            Bar(
                x=round(index * step, 2),
                y=round(CHART_HEIGHT - height, 2),
                width=round(max(step - 1, 0.5), 2),
                height=round(height, 2),
                count=count,
                hour=hour,
                after=is_after,
            )
        )
    lines, floor = _crash_free_lines(series, step)
    offset = (series.deployed_at - series.start) / timedelta(hours=1)
    baseline_y = None
    if baseline_per_hour is not None:
        baseline_y = round(CHART_HEIGHT - (CHART_HEIGHT - 4) * baseline_per_hour / peak, 2)
    return Chart(
        width=CHART_WIDTH,
        height=CHART_HEIGHT,
        bars=bars,
        deploy_x=round(min(offset * step, CHART_WIDTH), 2),
        baseline_y=baseline_y,
        peak=peak,
        total_before=before,
        total_after=after,
        crash_free_lines=lines,
        crash_free_floor=floor,
    )


def waves(steps: list[StepView]) -> list[tuple[int, list[StepView]]]:
    """Steps grouped by wave, numbered from 1 as the CLI shows them."""
    grouped: dict[int, list[StepView]] = {}
    for step in steps:
        grouped.setdefault(step.wave, []).append(step)
    return [(wave + 1, grouped[wave]) for wave in sorted(grouped)]


def percent(fraction: Any) -> str:
    """A 0..1 rate as '99.52 %'; '—' when unknown."""
    if fraction is None:
        return "—"
    return f"{100 * float(fraction):.2f} %"


def rate(value: Any) -> str:
    if value is None:
        return "—"
    return f"{float(value):.1f}/h"
