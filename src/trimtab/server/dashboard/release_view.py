"""Presentation for the releases and deploy pages: countdowns, the window's error-rate chart as
inline SVG (readable without JavaScript), and the steps of a run grouped by wave.

Only shaping: every number comes from the domain (`domain.releases.overview`, `runs`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from markupsafe import Markup, escape

from trimtab.domain.releases.overview import WindowSeries
from trimtab.domain.releases.runs import StepView
from trimtab.domain.releases.timeline import EnvironmentTimeline
from trimtab.server.dashboard.event_view import when

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


def _crash_free_lines(crash_free: list[float | None], step: float) -> tuple[list[str], float]:
    """Polylines (SVG `points`) of the crash-free rate, broken where an hour had no sessions,
    on a scale from `floor` (at the bottom) to 100 % (at the top)."""
    known = [v for v in crash_free if v is not None]
    floor = min([*known, CRASH_FREE_FLOOR]) if known else CRASH_FREE_FLOOR
    span = max(100.0 - floor, 0.01)
    lines: list[str] = []
    points: list[str] = []
    for index, value in enumerate(crash_free):
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
    lines, floor = _crash_free_lines(series.crash_free, step)
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


@dataclass(frozen=True)
class Mark:
    """A run on the timeline: a vertical line at `x`, labelled and linked."""

    x: float
    run_id: int
    kind: str
    state: str
    label: str
    at: datetime


@dataclass(frozen=True)
class Span:
    """A stabilization window on the timeline, shaded from `x` for `width`."""

    x: float
    width: float
    release: str
    opened_at: datetime
    ends_at: datetime


@dataclass(frozen=True)
class Timeline:
    width: int
    height: int
    bars: list[Bar]
    peak: int
    total: int
    marks: list[Mark]
    spans: list[Span]
    crash_free_lines: list[str]
    crash_free_floor: float
    start: datetime
    end: datetime


def timeline(history: EnvironmentTimeline) -> Timeline:
    """An environment's timeline as SVG geometry: hourly error bars, the crash-free line, a
    line per run and a shaded span per window, all on one time axis."""
    hours = max(len(history.counts), 1)
    step = CHART_WIDTH / hours
    peak = max([*history.counts, 1])

    def x_of(moment: datetime) -> float:
        offset = (moment - history.start) / timedelta(hours=1)
        return round(min(max(offset * step, 0.0), CHART_WIDTH), 2)

    bars = []
    for index, count in enumerate(history.counts):
        height = (CHART_HEIGHT - 4) * count / peak
        bars.append(
            Bar(
                x=round(index * step, 2),
                y=round(CHART_HEIGHT - height, 2),
                width=round(max(step - 0.5, 0.5), 2),
                height=round(height, 2),
                count=count,
                hour=history.start + timedelta(hours=index),
                after=False,
            )
        )
    marks = [
        Mark(
            x=x_of(run.at),
            run_id=run.run_id,
            kind=run.kind,
            state=run.state,
            label=(run.release or f"run #{run.run_id}")
            + (" (rollback)" if run.kind == "rollback" else ""),
            at=run.at,
        )
        for run in history.runs
    ]
    spans = []
    for window in history.windows:
        x = x_of(window.opened_at)
        spans.append(
            Span(
                x=x,
                width=round(x_of(window.ends_at) - x, 2),
                release=window.release,
                opened_at=window.opened_at,
                ends_at=window.ends_at,
            )
        )
    lines, floor = _crash_free_lines(history.crash_free, step)
    return Timeline(
        width=CHART_WIDTH,
        height=CHART_HEIGHT,
        bars=bars,
        peak=peak,
        total=sum(history.counts),
        marks=marks,
        spans=spans,
        crash_free_lines=lines,
        crash_free_floor=floor,
        start=history.start,
        end=history.end,
    )


def bar_rects(bars: list[Bar], *, empty: bool = True) -> Markup:
    """The bars as SVG rects, each with its hour and count as a tooltip (`empty=False`: the
    hours with errors only). Written here as one string rather than in the template: a
    fortnight is 336 bars an environment, and the template's work per value cost the releases
    page 40 ms of CPU. Every value is a number or a time; nothing stored is written out."""
    parts = []
    for bar in bars:
        if not (empty or bar.count):
            continue
        parts.append(
            f'<rect class="{"after" if bar.after else "before"}" x="{bar.x}" y="{bar.y}" '
            f'width="{bar.width}" height="{bar.height}"><title>{when(bar.hour)[:16]}: '
            f"{bar.count} errors</title></rect>"
        )
    return Markup("".join(parts))


def mark_lines(marks: list[Mark], slug: str, height: int) -> Markup:
    """The runs on a timeline as SVG lines linking to each run, with a wider invisible rect to
    hover or click (a run's label, its release version, is escaped)."""
    parts = []
    for mark in marks:
        rollback = " rollback" if mark.kind == "rollback" else ""
        classes = f"deploy run-{escape(mark.state)}{rollback}"
        title = escape(f"#{mark.run_id} {mark.label} · {mark.state} · {when(mark.at)[:16]}")
        parts.append(
            f'<a href="/projects/{escape(slug)}/deploys/{mark.run_id}"><line class="{classes}" '
            f'x1="{mark.x}" x2="{mark.x}" y1="0" y2="{height}"></line><rect class="hit" '
            f'x="{mark.x - 4}" y="0" width="8" height="{height}"><title>{title}</title></rect></a>'
        )
    return Markup("".join(parts))


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
