"""What ``trimtab apply`` changes: the desired ``ProjectConfig`` (a parsed trimtab.toml) against
the server's, as the ordered list of changes it prints and then applies — in an order that never
leaves a requirement on a missing service or a fallback on a deleted dependency.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from trimtab.core.config_file import EnvironmentConfig, ProjectConfig
from trimtab.core.planning import plan_waves

__all__ = ["Change", "DiffError", "diff_config"]


class DiffError(ValueError):
    """The two configs cannot be compared (they describe different projects)."""


@dataclass(frozen=True)
class Change:
    """One step of ``trimtab apply``. For an update, before/after hold only changed fields."""

    kind: Literal["create", "update", "delete"]
    # "project shop", "stabilization", "environment production", "service web-front",
    # "freeze weekends",
    # "dependency billing-api", "fallback new-payment-page in production"
    target: str
    before: dict[str, object] | None = None
    after: dict[str, object] | None = None
    fields: tuple[str, ...] = field(default=())

    def describe(self) -> str:
        """One line for the terminal: ``+ service web-front``, ``~ service x: downtime: ...``."""
        if self.kind == "create":
            return f"+ {self.target}"
        if self.kind == "delete":
            return f"- {self.target}"
        assert self.before is not None and self.after is not None
        parts = [f"{k}: {self.before[k]!r} -> {self.after[k]!r}" for k in self.fields]
        return f"~ {self.target}: " + "; ".join(parts)


def _update(
    target: str, before: Mapping[str, object], after: Mapping[str, object]
) -> Change | None:
    changed = tuple(k for k in after if before.get(k) != after[k])
    if not changed:
        return None
    return Change(
        "update",
        target,
        {k: before.get(k) for k in changed},
        {k: after[k] for k in changed},
        changed,
    )


def _stab_dict(config: ProjectConfig) -> dict[str, object]:
    return {
        "days": config.stabilization_days,
        "environments": dict(config.stabilization_environments),
    }


def diff_config(desired: ProjectConfig, current: ProjectConfig | None) -> list[Change]:
    """The changes that turn ``current`` (the server's state, None if the project is new) into
    ``desired``.

    Order: the project, its window, (when ``desired`` manages them) environments' runners,
    services created or updated requirements first, services deleted dependents first (after
    the updates that drop requirements on them), freezes, then (when ``desired`` manages them)
    dependencies and flag fallbacks.
    """
    if current is not None and current.name != desired.name:
        raise DiffError(
            f"trimtab.toml describes project {desired.name!r} but the server's is {current.name!r}"
        )
    base = current or ProjectConfig(desired.name)
    changes: list[Change] = []
    if current is None:
        changes.append(Change("create", f"project {desired.name}", None, {"name": desired.name}))
    stab = _update("stabilization", _stab_dict(base), _stab_dict(desired))
    if stab is not None:
        changes.append(stab)
    if desired.environments is not None:
        changes.extend(_environment_changes(desired.environments, base.environments or ()))

    have = {s.name: s for s in base.services}
    want = {s.name: s for s in desired.services}
    for wave in plan_waves(desired.graph(), want):
        for name in wave:
            after = want[name].as_dict()
            if name not in have:
                changes.append(Change("create", f"service {name}", None, after))
            elif (update := _update(f"service {name}", have[name].as_dict(), after)) is not None:
                changes.append(update)
    gone = set(have) - set(want)
    for wave in reversed(plan_waves(base.graph(), gone)) if gone else []:
        for name in wave:
            changes.append(Change("delete", f"service {name}", have[name].as_dict(), None))

    changes.extend(
        _keyed_changes(
            {f"freeze {f.name}": f.as_dict() for f in base.freezes},
            {f"freeze {f.name}": f.as_dict() for f in desired.freezes},
        )
    )
    if desired.dependencies is not None:
        changes.extend(_dependency_changes(desired, base))
    return changes


def _environment_changes(
    want: tuple[EnvironmentConfig, ...], have: tuple[EnvironmentConfig, ...]
) -> list[Change]:
    """Runner updates only: `apply` neither creates nor deletes environments. One the file does
    not list runs on the server's local runner (the default), as one it lists without a runner."""
    before = {e.name: e.as_dict() for e in have}
    after = {e.name: {"runner": "local"} for e in have} | {e.name: e.as_dict() for e in want}
    changes = []
    for name in sorted(after):
        update = _update(f"environment {name}", before.get(name, {"runner": "local"}), after[name])
        if update is not None:
            changes.append(update)
    return changes


def _keyed_changes(
    have: Mapping[str, dict[str, object]], want: Mapping[str, dict[str, object]]
) -> list[Change]:
    """Creates, updates and deletes between two sets of `target -> fields`, by target."""
    changes: list[Change] = []
    for target in sorted(set(have) | set(want)):
        if target not in want:
            changes.append(Change("delete", target, have[target], None))
        elif target not in have:
            changes.append(Change("create", target, None, want[target]))
        elif (update := _update(target, have[target], want[target])) is not None:
            changes.append(update)
    return changes


def _dependency_changes(desired: ProjectConfig, base: ProjectConfig) -> list[Change]:
    """Dependencies created or updated, then fallbacks, then dependencies deleted (a flag may
    only name a dependency the file declares, so bindings never point at a deleted one)."""
    have = {f"dependency {d.name}": d.as_dict() for d in base.dependencies or ()}
    want = {f"dependency {d.name}": d.as_dict() for d in desired.dependencies or ()}
    kept = _keyed_changes({k: v for k, v in have.items() if k in want}, want)
    fallbacks = _keyed_changes(
        {f"fallback {f.flag} in {f.environment}": f.as_dict() for f in base.fallbacks},
        {f"fallback {f.flag} in {f.environment}": f.as_dict() for f in desired.fallbacks},
    )
    gone = _keyed_changes({k: v for k, v in have.items() if k not in want}, {})
    return kept + fallbacks + gone
