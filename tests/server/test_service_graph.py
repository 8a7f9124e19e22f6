"""The service graph's layout, from cases (chain, diamond, isolated services, long names, a
cycle the store should never hold), plus properties of any layout of a random graph."""

from __future__ import annotations

import random
from typing import Any

import pytest

from trimtab.core.planning import plan_waves
from trimtab.server.dashboard.service_graph import (
    BOX_WIDTH,
    NAME_CHARS,
    VERSION_CHARS,
    Box,
    Running,
    cut,
    layout,
)

CASES: list[Any] = [
    pytest.param(
        {"db": [], "api": ["db"], "front": ["api"]},
        [["db"], ["api"], ["front"]],
        [("api", "front"), ("db", "api")],
        id="chain",
    ),
    pytest.param(
        {"front": ["billing", "pay"], "billing": ["db"], "pay": ["db"], "db": []},
        [["db"], ["billing", "pay"], ["front"]],
        [("db", "billing"), ("db", "pay"), ("billing", "front"), ("pay", "front")],
        id="diamond",
    ),
    pytest.param(
        {"cron": [], "api": [], "front": ["api"], "docs": []},
        [["api", "cron", "docs"], ["front"]],
        [("api", "front")],
        id="isolated services share the first wave",
    ),
    pytest.param(
        {"front": ["db", "api"], "api": ["db"], "db": []},
        [["db"], ["api"], ["front"]],
        [("api", "front"), ("db", "front"), ("db", "api")],
        id="a requirement two waves back",
    ),
    pytest.param(
        {"a": ["b"], "b": ["a"], "c": []},
        [["a", "b", "c"]],
        [("b", "a"), ("a", "b")],
        id="a cycle is drawn in one wave, not a failure",
    ),
    pytest.param(
        {"a": ["gone"], "b": ["a"]},
        [["a", "b"]],
        [("a", "b")],
        id="a requirement on an unknown service is drawn in one wave, not a failure",
    ),
    pytest.param({}, [], [], id="no services"),
]


@pytest.mark.parametrize(("requirements", "expected_waves", "expected_arrows"), CASES)
def test_layout__case__waves_and_arrows(
    requirements: dict[str, list[str]],
    expected_waves: list[list[str]],
    expected_arrows: list[tuple[str, str]],
) -> None:
    drawn = layout(requirements, {})
    assert drawn.waves == expected_waves
    assert sorted((a.requirement, a.service) for a in drawn.arrows) == sorted(expected_arrows)
    assert [b.name for b in drawn.boxes] == [n for wave in expected_waves for n in wave]


def test_layout__diamond__columns_left_to_right_and_arrows_join_box_edges() -> None:
    requirements = {"front": ["billing", "pay"], "billing": ["db"], "pay": ["db"], "db": []}
    drawn = layout(requirements, {})
    box = {b.name: b for b in drawn.boxes}
    assert box["db"].x < box["billing"].x == box["pay"].x < box["front"].x
    assert box["billing"].y < box["pay"].y  # one column, stacked
    arrow = next(a for a in drawn.arrows if a.requirement == "db" and a.service == "pay")
    start, end = arrow.path[1:].split(" C")[0], arrow.path.rsplit(" ", 1)[1]
    assert start == f"{box['db'].x + BOX_WIDTH:.1f},{box['db'].y + box['db'].height / 2:.1f}"
    assert end == f"{box['pay'].x - 2:.1f},{box['pay'].y + box['pay'].height / 2:.1f}"
    assert drawn.width == box["front"].x + BOX_WIDTH + 8


def test_layout__versions__one_line_per_environment_with_release_and_full_title() -> None:
    running = {
        "api": [
            Running("staging", None),
            Running("production", "1.8.0", "shop@2.3.0"),
        ]
    }
    drawn = layout({"api": []}, running)
    (box,) = drawn.boxes
    staging, production = box.lines
    assert (staging.environment, staging.version, staging.deployed) == ("staging", "—", False)
    assert staging.title == "api in staging: nothing deployed"
    assert (production.version, production.release) == ("1.8.0", "shop@2.3.0")
    assert production.title == "api in production: 1.8.0 (shop@2.3.0)"
    assert box.y < staging.y < production.y < box.y + box.height


def test_layout__long_names__cut_with_ellipsis_and_kept_whole_for_the_title() -> None:
    name = "payments-reconciliation-worker-eu-west"
    version = "2024.11.30-build.1234567"
    drawn = layout({name: []}, {name: [Running("production", version, "r1")]})
    box = drawn.boxes[0]
    assert box.name == name and len(box.label) == NAME_CHARS and box.label.endswith("…")
    assert box.label[:-1] == name[: NAME_CHARS - 1]
    line = box.lines[0]
    assert len(line.version) == VERSION_CHARS and line.version.endswith("…")
    assert version in line.title
    assert cut("short", 10) == "short" and cut("abcdef", 4) == "abc…"


def test_layout__ordering_in_a_wave__follows_the_requirements_rows() -> None:
    # z-front needs a-db (row 0), a-front needs b-db (row 1): the fronts swap their name order.
    requirements = {"a-db": [], "b-db": [], "z-front": ["a-db"], "a-front": ["b-db"]}
    assert layout(requirements, {}).waves == [["a-db", "b-db"], ["z-front", "a-front"]]


def _overlap(a: Box, b: Box) -> bool:
    apart_x = a.x + a.width <= b.x or b.x + b.width <= a.x
    return not apart_x and not (a.y + a.height <= b.y or b.y + b.height <= a.y)


@pytest.mark.parametrize("seed", range(25))
def test_layout__random_graphs__waves_are_the_deploy_waves_and_boxes_never_overlap(
    seed: int,
) -> None:
    rng = random.Random(seed)
    names = [f"s{i}" for i in range(rng.randint(1, 14))]
    # Requirements only on earlier names: acyclic, as the store keeps it.
    requirements = {
        name: set(rng.sample(names[:index], rng.randint(0, min(index, 3))))
        for index, name in enumerate(names)
    }
    running = {n: [Running("staging", "1"), Running("production", None)] for n in names}
    drawn = layout(requirements, running)
    assert [sorted(w) for w in drawn.waves] == plan_waves(requirements, names)
    boxes = {b.name: b for b in drawn.boxes}
    assert len(drawn.boxes) == len(names)
    for a, b in ((a, b) for a in drawn.boxes for b in drawn.boxes if a.name < b.name):
        assert not _overlap(a, b), (a, b)
    for box in drawn.boxes:
        assert box.x >= 0 and box.x + box.width <= drawn.width
        assert box.y >= 0 and box.y + box.height <= drawn.height
    assert len(drawn.arrows) == sum(len(r) for r in requirements.values())
    for arrow in drawn.arrows:
        assert boxes[arrow.requirement].wave < boxes[arrow.service].wave
