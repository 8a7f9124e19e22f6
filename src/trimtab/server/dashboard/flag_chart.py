"""The flag page's evaluation-count chart: one environment's evaluations per hour, stacked by
variant, as SVG rectangles (24 h or 7 d). Series in, geometry out; nothing here reads the store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from trimtab.domain.flags.evaluation_hours import EvaluationSeries

WIDTH = 480
HEIGHT = 64
COLOURS = 6  # CSS classes v0..v5, reused round-robin past six variants
SPANS = {"24h": 24, "7d": 24 * 7}


@dataclass(frozen=True)
class Segment:
    x: float
    y: float
    width: float
    height: float
    colour: int
    title: str


@dataclass
class EvaluationChart:
    environment: str
    span: str
    width: int
    height: int
    total: int
    peak: int
    variants: list[tuple[str, int, int]]  # (name, colour, total)
    segments: list[Segment] = field(default_factory=list)


def chart(series: EvaluationSeries, span: str) -> EvaluationChart:
    """The last `span` ("24h" or "7d") of `series` (which may hold more hours)."""
    hours = min(SPANS[span], series.hours)
    offset = series.hours - hours
    start = series.start + timedelta(hours=offset)
    counts = {v: c[offset:] for v, c in series.counts.items()}
    totals = series.totals[offset:]
    colours = {v: i % COLOURS for i, v in enumerate(counts)}
    peak = max([*totals, 1])
    step = WIDTH / hours
    segments = []
    for index, total in enumerate(totals):
        if not total:
            continue
        hour = start + timedelta(hours=index)
        title = _title(hour, {v: c[index] for v, c in counts.items() if c[index]})
        y = float(HEIGHT)
        for variant, column in counts.items():
            n = column[index]
            if not n:
                continue
            height = (HEIGHT - 4) * n / peak
            y -= height
            segments.append(
                Segment(
                    x=round(index * step, 2),
                    y=round(y, 2),
                    width=round(max(step - (1 if step > 3 else 0.2), 0.5), 2),
                    height=round(height, 2),
                    colour=colours[variant],
                    title=title,
                )
            )
    return EvaluationChart(
        environment=series.environment,
        span=span,
        width=WIDTH,
        height=HEIGHT,
        total=sum(totals),
        peak=peak,
        variants=[(v, colours[v], sum(c)) for v, c in counts.items() if sum(c)],
        segments=segments,
    )


def _title(hour: datetime, counts: dict[str, int]) -> str:
    parts = ", ".join(f"{variant} {n:,}" for variant, n in counts.items())
    return f"{hour:%Y-%m-%d %H}:00 UTC: {parts}"
