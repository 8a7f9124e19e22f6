"""Deploy planning: a project's service requirement graph -> ordered deploy waves.

A service's *requirements* are the services it depends on (the `depends_on` field users write):
they deploy first. The word "dependency" is kept for the external systems a flag falls back on
(billing-api, pay-library; domain/flags/dependencies.py).

A *graph* maps every service of a project to the names of the services it depends on
(``{"web-front": {"billing-api", "pay-library"}, "billing-api": set(), ...}``). Every service
must appear as a key, even with no requirements; a requirement on a name that is not a key is an
unknown service.

A *release* deploys a subset of those services. Order follows requirements *transitively*, also
through services outside the release: with ``db <- api <- front``, a release of ``db`` and
``front`` deploys ``db`` first, because ``front`` reaches ``db`` through the running ``api``. A
service outside the release is not deployed itself and nothing waits for it.

Exceptions (all subclasses of ``PlanningError``, itself a ``ValueError``):

- ``UnknownServiceError`` — a release or a requirement names a service the graph does not have;
- ``RequirementCycleError`` — the graph has a cycle; ``.cycle`` holds it in order, first name
  repeated at the end, and the message spells it ``a -> b -> a``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Iterable, Mapping

__all__ = [
    "Graph",
    "PlanningError",
    "RequirementCycleError",
    "UnknownServiceError",
    "find_cycle",
    "plan_waves",
    "rollback_order",
    "validate_requirements_change",
]

Graph = Mapping[str, Collection[str]]


class PlanningError(ValueError):
    """Base class for every planning error."""


class UnknownServiceError(PlanningError):
    """A name that is not a service of the project."""


class RequirementCycleError(PlanningError):
    """The requirement graph is not a DAG; ``cycle`` lists it in order, closed."""

    def __init__(self, cycle: list[str]) -> None:
        self.cycle = cycle
        super().__init__(
            f"requirement cycle: {' -> '.join(cycle)}. A service cannot depend on itself, "
            "even through others; remove one of these requirements."
        )


def _check_known(graph: Graph) -> None:
    for service in sorted(graph):
        unknown = sorted(set(graph[service]) - set(graph))
        if unknown:
            raise UnknownServiceError(
                f"service {service!r} depends on unknown service(s) {', '.join(unknown)}; "
                f"known services: {', '.join(sorted(graph)) or '(none)'}"
            )


def find_cycle(graph: Graph) -> list[str] | None:
    """Return one cycle of ``graph`` in requirement order, closed (``[a, b, a]``), or None.

    The search is deterministic (services and requirements are visited in sorted order) and the
    cycle is rotated to start at its alphabetically first service, so the same graph always
    names the same cycle. Requirements that are not keys of the graph are ignored here.
    """
    white, grey, black = 0, 1, 2
    colour = dict.fromkeys(graph, white)
    for root in sorted(graph):
        if colour[root] != white:
            continue
        # An explicit stack keeps deep chains from hitting the recursion limit.
        path: list[str] = [root]
        iters = [iter(sorted(d for d in graph[root] if d in graph))]
        colour[root] = grey
        while iters:
            step = next(iters[-1], None)
            if step is None:
                colour[path.pop()] = black
                iters.pop()
                continue
            if colour[step] == grey:
                cycle = path[path.index(step) :]
                first = cycle.index(min(cycle))
                rotated = cycle[first:] + cycle[:first]
                return [*rotated, rotated[0]]
            if colour[step] == white:
                colour[step] = grey
                path.append(step)
                iters.append(iter(sorted(d for d in graph[step] if d in graph)))
    return None


def plan_waves(graph: Graph, release_services: Iterable[str]) -> list[list[str]]:
    """Order the services of a release into deploy waves, requirements first.

    Each wave is a sorted list of services that may deploy together: every service of the
    release that a service in wave *n* depends on, directly or through other services (in the
    release or not), sits in an earlier wave, and each service sits in the earliest wave it can.

    The whole project graph must be a DAG, not only the release's part of it: a cycle means the
    stored graph is broken, and planning around it would hide that. Raises
    ``UnknownServiceError`` or ``RequirementCycleError``.
    """
    wanted = set(release_services)
    unknown = sorted(wanted - set(graph))
    if unknown:
        raise UnknownServiceError(
            f"release names unknown service(s) {', '.join(unknown)}; "
            f"known services: {', '.join(sorted(graph)) or '(none)'}"
        )
    _check_known(graph)
    cycle = find_cycle(graph)
    if cycle is not None:
        raise RequirementCycleError(cycle)

    waiting = {s: _reachable(graph, s) & wanted for s in wanted}
    waves: list[list[str]] = []
    while waiting:
        ready = sorted(s for s, deps in waiting.items() if not deps)
        # Cannot be empty: the graph was checked acyclic above.
        waves.append(ready)
        for s in ready:
            del waiting[s]
        for deps in waiting.values():
            deps.difference_update(ready)
    return waves


def _reachable(graph: Graph, start: str) -> set[str]:
    """Every service ``start`` depends on, directly or transitively (the graph is acyclic)."""
    seen: set[str] = set()
    stack = list(graph[start])
    while stack:
        node = stack.pop()
        if node not in seen:
            seen.add(node)
            stack.extend(graph[node])
    return seen


def rollback_order(waves: list[list[str]]) -> list[list[str]]:
    """Return the waves to undo a release: dependents first, so last wave first."""
    return [sorted(wave) for wave in reversed(waves)]


def _path(graph: Graph, start: str, goal: str) -> list[str] | None:
    """Shortest requirement path start -> ... -> goal (breadth first, sorted, so deterministic)."""
    came_from: dict[str, str | None] = {start: None}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        if node == goal:
            path = [node]
            while (prev := came_from[path[-1]]) is not None:
                path.append(prev)
            return path[::-1]
        for dep in sorted(graph.get(node, ())):
            if dep not in came_from:
                came_from[dep] = node
                queue.append(dep)
    return None


def validate_requirements_change(
    graph: Graph, service: str, new_deps: Iterable[str]
) -> dict[str, frozenset[str]]:
    """Check that ``service`` may depend on exactly ``new_deps``; return the resulting graph.

    ``new_deps`` is the service's complete new requirement set (to add one requirement, pass the
    old set plus the new name). ``service`` may be new to the graph (a service being created).
    Every requirement must be a known service. If the change would close a cycle, raises
    ``RequirementCycleError`` naming it from ``service``: ``service -> dep -> ... -> service``.
    """
    deps = frozenset(new_deps)
    known = set(graph) | {service}
    unknown = sorted(deps - known)
    if unknown:
        raise UnknownServiceError(
            f"{service!r} cannot depend on unknown service(s) {', '.join(unknown)}; "
            f"known services: {', '.join(sorted(set(graph) - {service})) or '(none)'}"
        )
    result = {name: frozenset(d) for name, d in graph.items()}
    result[service] = deps
    for dep in sorted(deps):
        back = _path(result, dep, service)
        if back is not None:
            raise RequirementCycleError([service, *back])
    return result
