"""What every part of the demo seed shares: the project it fills, who seeds it, and the report."""

from __future__ import annotations

from dataclasses import dataclass, field

from trimtab.domain.spine.actors import Actor

DEMO_PROJECT = "shop"
DEMO_ACTOR = Actor(kind="user", name="demo-seed", scopes=frozenset({"admin"}))


@dataclass
class SeedReport:
    created: bool
    project: str = DEMO_PROJECT
    notes: list[str] = field(default_factory=list)
