"""The service requirement graph laid out for inline SVG: one column per deploy wave (a service
sits one column right of the furthest requirement it has, so backends come first, as they
deploy), a box per service with the version running in each environment, and an arrow from each
requirement to the service that needs it.

Pure geometry and text: no markup is built here, the template writes the SVG with Jinja's
autoescaping, so names reach the page only as escaped text. Names too long for a box are cut
with an ellipsis; the box's <title> keeps them whole.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from trimtab.core.planning import PlanningError, plan_waves

BOX_WIDTH = 220
COLUMN_GAP = 64
ROW_GAP = 20
MARGIN = 8
HEADER = 26  # the service name's band at the top of a box
LINE_HEIGHT = 18
PADDING = 8
# What fits in a box at the stylesheet's 13 px (name) and 12 px (versions) text.
NAME_CHARS = 26
ENVIRONMENT_CHARS = 12
VERSION_CHARS = 14


@dataclass(frozen=True)
class Running:
    """The version of a service running in one environment (None: nothing deployed there) and
    the release it came with."""

    environment: str
    version: str | None
    release: str | None = None


@dataclass(frozen=True)
class Line:
    """One environment's row in a box: `environment` and `version` cut to fit, `title` whole,
    `y` the text's baseline."""

    environment: str
    version: str
    title: str
    release: str | None
    deployed: bool
    y: float


@dataclass(frozen=True)
class Box:
    name: str
    label: str
    wave: int
    x: float
    y: float
    width: float
    height: float
    lines: list[Line]


@dataclass(frozen=True)
class Arrow:
    """`requirement` deploys before `service`: a curve from the first box to the second."""

    requirement: str
    service: str
    path: str


@dataclass(frozen=True)
class Layout:
    width: float
    height: float
    waves: list[list[str]]
    boxes: list[Box]
    arrows: list[Arrow]


def cut(text: str, limit: int) -> str:
    """`text`, or its first limit-1 characters and an ellipsis when it is longer."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def waves(requirements: Mapping[str, Collection[str]]) -> list[list[str]]:
    """The deploy waves of every service (`core.planning.plan_waves`): a service sits one
    wave after its deepest requirement. The store refuses cycles and unknown names; a graph
    with one anyway is drawn as a single wave rather than failing the page."""
    try:
        return plan_waves(requirements, requirements)
    except PlanningError:
        return [sorted(requirements)] if requirements else []


def _ordered(
    found: list[list[str]], requirements: Mapping[str, Collection[str]]
) -> list[list[str]]:
    """Each wave ordered by where its requirements sit (the mean of their rows), then name, so
    arrows cross less."""
    row: dict[str, int] = {}

    def key(name: str) -> tuple[float, str]:
        placed = [row[r] for r in requirements[name] if r in row]
        return (sum(placed) / len(placed) if placed else -1.0, name)

    ordered = []
    for wave in found:
        wave = sorted(wave, key=key)
        row.update({name: index for index, name in enumerate(wave)})
        ordered.append(wave)
    return ordered


def _lines(name: str, running: Sequence[Running], top: float) -> list[Line]:
    lines = []
    for index, item in enumerate(running):
        version = item.version or "—"
        title = f"{name} in {item.environment}: " + (
            f"{item.version}" + (f" ({item.release})" if item.release else "")
            if item.version
            else "nothing deployed"
        )
        lines.append(
            Line(
                environment=cut(item.environment, ENVIRONMENT_CHARS),
                version=cut(version, VERSION_CHARS),
                title=title,
                release=item.release,
                deployed=item.version is not None,
                y=top + HEADER + PADDING / 2 + LINE_HEIGHT * index + LINE_HEIGHT * 0.7,
            )
        )
    return lines


def layout(
    requirements: Mapping[str, Collection[str]], running: Mapping[str, Sequence[Running]]
) -> Layout:
    """Place every service of `requirements` (name -> the names it depends on), each box listing
    `running[name]` (one Running per environment, in the order to show)."""
    columns = _ordered(waves(requirements), requirements)
    heights = {
        name: HEADER + PADDING + LINE_HEIGHT * len(running.get(name, ())) for name in requirements
    }
    column_heights = [
        sum(heights[n] for n in column) + ROW_GAP * (len(column) - 1) for column in columns
    ]
    tallest = max(column_heights, default=0)
    boxes: dict[str, Box] = {}
    for wave, column in enumerate(columns):
        x = MARGIN + wave * (BOX_WIDTH + COLUMN_GAP)
        y = MARGIN + (tallest - column_heights[wave]) / 2
        for name in column:
            boxes[name] = Box(
                name=name,
                label=cut(name, NAME_CHARS),
                wave=wave,
                x=x,
                y=round(y, 1),
                width=BOX_WIDTH,
                height=heights[name],
                lines=_lines(name, running.get(name, ()), round(y, 1)),
            )
            y += heights[name] + ROW_GAP
    arrows = []
    for column in columns:
        for name in column:
            for requirement in sorted(r for r in requirements[name] if r in boxes and r != name):
                arrows.append(Arrow(requirement, name, _curve(boxes[requirement], boxes[name])))
    width = MARGIN * 2 + len(columns) * BOX_WIDTH + max(len(columns) - 1, 0) * COLUMN_GAP
    return Layout(
        width=width,
        height=MARGIN * 2 + tallest,
        waves=columns,
        boxes=[boxes[name] for column in columns for name in column],
        arrows=arrows,
    )


def _curve(source: Box, target: Box) -> str:
    """From the middle of `source`'s right edge to the middle of `target`'s left edge (2 px
    short, where the arrowhead's tip sits)."""
    x1, y1 = source.x + source.width, source.y + source.height / 2
    x2, y2 = target.x - 2, target.y + target.height / 2
    middle = (x1 + x2) / 2
    return f"M{x1:.1f},{y1:.1f} C{middle:.1f},{y1:.1f} {middle:.1f},{y2:.1f} {x2:.1f},{y2:.1f}"
