"""Deploy planning, from the JSON cases in tests/cases/planning, plus properties of any plan."""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path
from typing import Any

import pytest

from trimtab.core import planning
from trimtab.core.planning import (
    RequirementCycleError,
    find_cycle,
    plan_waves,
    rollback_order,
    validate_requirements_change,
)

CASES = Path(__file__).parent.parent / "cases" / "planning"


def _cases() -> list[Any]:
    files = sorted(CASES.glob("*.json"))
    assert files, f"no cases in {CASES}"
    return [pytest.param(json.loads(f.read_text()), id=f.stem) for f in files]


def _run(case: dict[str, Any]) -> dict[str, Any]:
    graph = {name: set(deps) for name, deps in case["graph"].items()}
    if case["call"] == "plan_waves":
        waves = plan_waves(graph, case["release"])
        return {"waves": waves, "rollback": rollback_order(waves)}
    if case["call"] == "validate_requirements_change":
        result = validate_requirements_change(graph, case["service"], case["new_deps"])
        return {"graph": {name: sorted(deps) for name, deps in result.items()}}
    raise AssertionError(f"unknown call {case['call']!r}")


@pytest.mark.parametrize("case", _cases())
def test_planning_case__input__gives_expected_plan_or_error(case: dict[str, Any]) -> None:
    expected = case["expected"]
    if "error" not in expected:
        assert _run(case) == expected
        return
    error_type = getattr(planning, expected["error"])
    with pytest.raises(error_type) as caught:
        _run(case)
    assert isinstance(caught.value, ValueError)
    assert expected["message_contains"] in str(caught.value)
    if "cycle" in expected:
        assert isinstance(caught.value, RequirementCycleError)
        assert caught.value.cycle == expected["cycle"]


def _random_dag(rng: random.Random, size: int) -> dict[str, set[str]]:
    names = [f"s{i:02d}" for i in range(size)]
    rng.shuffle(names)
    # Only edges towards earlier names in a shuffled order: always acyclic.
    return {name: {dep for dep in names[:i] if rng.random() < 0.3} for i, name in enumerate(names)}


def _closure(graph: dict[str, set[str]], name: str) -> set[str]:
    found: set[str] = set()
    todo = list(graph[name])
    while todo:
        dep = todo.pop()
        if dep not in found:
            found.add(dep)
            todo.extend(graph[dep])
    return found


@pytest.mark.parametrize("seed", range(20))
def test_plan_waves__random_dag__every_dependency_in_release_goes_earlier(seed: int) -> None:
    rng = random.Random(seed)
    graph = _random_dag(rng, 15)
    release = {name for name in graph if rng.random() < 0.7}
    waves = plan_waves(graph, release)
    wave_of = {name: i for i, wave in enumerate(waves) for name in wave}
    assert sorted(wave_of) == sorted(release)
    assert all(wave == sorted(wave) for wave in waves)
    for name in release:
        needed = _closure(graph, name) & release
        for dep in needed:
            assert wave_of[dep] < wave_of[name]
        # Earliest possible: a service past wave 0 waits for some dependency in the wave before.
        if wave_of[name] > 0:
            assert any(wave_of[dep] == wave_of[name] - 1 for dep in needed)
    assert find_cycle(graph) is None


@pytest.mark.parametrize("seed", range(20))
def test_find_cycle__dag_plus_back_edge__names_a_real_closed_cycle(seed: int) -> None:
    rng = random.Random(seed)
    graph = _random_dag(rng, 12)
    edges = [(a, b) for a, deps in graph.items() for b in deps]
    if not edges:
        pytest.skip("random graph has no edge")
    a, b = rng.choice(edges)
    graph[b].add(a)
    cycle = find_cycle(graph)
    assert cycle is not None
    assert cycle[0] == cycle[-1] == min(cycle)
    assert len(set(cycle[:-1])) == len(cycle) - 1
    for here, there in itertools.pairwise(cycle):
        assert there in graph[here]
    with pytest.raises(RequirementCycleError):
        plan_waves(graph, [])


def test_rollback_order__waves__reverses_without_touching_the_plan() -> None:
    waves = [["b", "a"], ["c"]]
    assert rollback_order(waves) == [["c"], ["a", "b"]]
    assert waves == [["b", "a"], ["c"]]


def test_find_cycle__deep_chain__does_not_hit_recursion_limit() -> None:
    size = 5000
    graph = {f"s{i}": {f"s{i + 1}"} for i in range(size)}
    graph[f"s{size}"] = set()
    assert find_cycle(graph) is None
    graph[f"s{size}"] = {"s0"}
    cycle = find_cycle(graph)
    assert cycle is not None and len(cycle) == size + 2


def test_validate_requirements_change__accepted__leaves_the_input_graph_alone() -> None:
    graph = {"a": {"b"}, "b": set(), "c": set()}
    result = validate_requirements_change(graph, "a", {"c"})
    assert result["a"] == frozenset({"c"})
    assert graph["a"] == {"b"}
