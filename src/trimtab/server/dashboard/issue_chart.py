"""An issue's event counts as server-drawn SVG bars, with the project's deploys as markers.

Geometry only: counts in, rectangles and lines (in the SVG's own units) out, each bar with the
sentence a screen reader or a hover reads. The counts come from the per-minute rollups read
once for 14 days hour by hour (`store.rollups.hourly_counts`); the last 24 hours and the 14
days are two views of that one read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote

from trimtab.store.models import Deploy

WIDTH = 720
HEIGHT = 120
TOP = 18  # room for a marker's label above the bars
HOURS = 24
DAYS = 14


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    count: int
    label: str


@dataclass(frozen=True)
class Marker:
    x: float
    version: str
    environment: str
    at: datetime
    href: str | None


@dataclass(frozen=True)
class Chart:
    title: str
    total: int
    peak: int
    bars: list[Bar]
    markers: list[Marker]
    start: datetime
    end: datetime
    width: int = WIDTH
    height: int = HEIGHT
    top: int = TOP


def start_of_days(now: datetime) -> datetime:
    """Midnight (UTC) of the first of the DAYS days ending today."""
    return now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=DAYS - 1)


def charts(
    hourly: list[int], first_hour: datetime, deploys: list[Deploy], slug: str
) -> list[Chart]:
    """The 24 h (hourly) and 14 d (daily) charts from hourly counts that start at
    `start_of_days` and end with the current hour."""
    last_day = [*([0] * HOURS), *hourly][-HOURS:]
    day_start = first_hour + timedelta(hours=len(hourly) - HOURS)
    daily = [sum(hourly[i : i + 24]) for i in range(0, DAYS * 24, 24)]
    return [
        _chart("Last 24 hours", last_day, day_start, timedelta(hours=1), deploys, slug),
        _chart("Last 14 days", daily, first_hour, timedelta(days=1), deploys, slug),
    ]


def _chart(
    title: str,
    counts: list[int],
    start: datetime,
    step: timedelta,
    deploys: list[Deploy],
    slug: str,
) -> Chart:
    end = start + step * len(counts)
    peak = max(counts, default=0)
    slot = WIDTH / max(len(counts), 1)
    room = HEIGHT - TOP
    bars = []
    for i, count in enumerate(counts):
        height = room * count / peak if peak else 0.0
        if count:
            height = max(height, 2.0)  # one event stays visible beside a thousand
        bucket = start + step * i
        bars.append(
            Bar(
                x=round(i * slot + 1, 2),
                y=round(HEIGHT - height, 2),
                width=round(max(slot - 2, 1), 2),
                height=round(height, 2),
                count=count,
                label=f"{_bucket_label(bucket, step)}: {count:,} event{'s' if count != 1 else ''}",
            )
        )
    return Chart(
        title=title,
        total=sum(counts),
        peak=peak,
        bars=bars,
        markers=_markers(deploys, start, end, slug),
        start=start,
        end=end,
    )


def _bucket_label(bucket: datetime, step: timedelta) -> str:
    if step >= timedelta(days=1):
        return bucket.strftime("%b %d")
    return f"{bucket:%H:%M}-{bucket + step:%H:%M} UTC"


def _markers(deploys: list[Deploy], start: datetime, end: datetime, slug: str) -> list[Marker]:
    """One marker per release (or version) and environment: its first successful step in the
    range. A run of many services is one deploy to the person reading the chart."""
    first: dict[tuple[str, str], Deploy] = {}
    for deploy in deploys:
        if deploy.finished_at is None or not start <= deploy.finished_at < end:
            continue
        key = (deploy.release_version or deploy.version, deploy.environment)
        first.setdefault(key, deploy)
    span = (end - start).total_seconds()
    markers = []
    for (version, environment), deploy in first.items():
        assert deploy.finished_at is not None  # filtered above
        offset = (deploy.finished_at - start).total_seconds() / span
        href = (
            f"/projects/{quote(slug, safe='')}/releases/{quote(deploy.release_version, safe='@+')}"
            if deploy.release_version
            else None
        )
        markers.append(
            Marker(
                x=round(offset * WIDTH, 2),
                version=version,
                environment=environment,
                at=deploy.finished_at,
                href=href,
            )
        )
    return markers
