"""Rule sets: one environment's flags as every evaluation surface serves them, and the
revision that versions them.

`load_flag_set` returns the environment's validated configs in core.evaluation's shape (archived
flags left out), the segments and the project's unhealthy dependencies, with the revision as
ETag. Every change to what a client would evaluate — a flag, a segment, a schedule step, a
dependency turning unhealthy or healthy — calls `bump_revision` in its own transaction, which
announces `flags.changed` with the new ETag after commit.

The revision row (revision 0 and the OFREP stream channel) is made with the environment
(`ensure_revision_row`, called by spine.projects); reading never writes: an environment without
a row is served as revision 0, without a change stream.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from trimtab.domain.errors import NotFound
from trimtab.store.db import insert_ignore
from trimtab.store.models import (
    Dependency,
    Environment,
    Flag,
    FlagConfig,
    FlagSetRevision,
    Segment,
    utcnow,
)
from trimtab.store.notify import Change, announce


@dataclass(frozen=True)
class FlagSet:
    """One environment's flags as evaluation surfaces serve them."""

    project_id: int
    environment: str
    environment_id: int
    revision: int
    etag: str
    configs: list[dict[str, Any]]
    segments: dict[str, list[Any]]
    # Flags bound to one of these serve their fallback. A dependency's transition bumps the
    # revision, so the set travels with the rules it changes.
    unhealthy: frozenset[str]
    # The unguessable name of the environment's OFREP change stream ("" before its revision row).
    channel: str
    # Each flag's tags (Unleash SDKs filter features by tag).
    tags: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Revision:
    """Where an environment's rule set stands: its revision and its change-stream channel."""

    revision: int
    channel: str


def etag_for(environment_id: int, revision: int) -> str:
    return f'"{environment_id}-{revision}"'


def unhealthy_dependencies(session: Session, project_id: int) -> frozenset[str]:
    """The project's failing dependencies: flags bound to them serve their fallback.

    Part of what a rule set delivers; a dependency's transition bumps the revision (see
    `dependency_health`), so clients learn of it as of any flag change.
    """
    names = session.scalars(
        select(Dependency.name).where(
            Dependency.project_id == project_id, Dependency.state == "unhealthy"
        )
    )
    return frozenset(names)


def current_revision(session: Session, environment_id: int) -> int:
    return revision_of(session, environment_id).revision


def revision_of(session: Session, environment_id: int) -> Revision:
    """One indexed read; an environment without a revision row stands at revision 0."""
    row = session.execute(
        select(FlagSetRevision.revision, FlagSetRevision.channel).where(
            FlagSetRevision.environment_id == environment_id
        )
    ).first()
    return Revision(0, "") if row is None else Revision(int(row[0]), str(row[1]))


def environment_of_channel(session: Session, channel: str) -> tuple[int, str] | None:
    """The (project id, environment name) whose change stream is `channel`, if any."""
    row = session.execute(
        select(FlagSetRevision.project_id, Environment.name)
        .join(Environment, Environment.id == FlagSetRevision.environment_id)
        .where(FlagSetRevision.channel == channel)
    ).first()
    return (int(row[0]), str(row[1])) if row is not None else None


def project_segments(session: Session, project_id: int) -> dict[str, list[Any]]:
    rows = session.scalars(
        select(Segment).where(Segment.project_id == project_id).order_by(Segment.name)
    )
    return {row.name: list(row.constraints) for row in rows}


def full_config(flag: Flag, config: FlagConfig | None) -> dict[str, Any]:
    """The core.evaluation config of `flag` in one environment (disabled when unconfigured)."""
    if config is None:
        return unconfigured_config(flag)
    return {
        "key": flag.key,
        "type": flag.type,
        "variants": dict(flag.variants),
        "enabled": config.enabled,
        "default_variant": config.default_variant,
        "off_variant": config.off_variant,
        "rules": list(config.rules),
        "prerequisites": list(config.prerequisites),
        "fallback": config.fallback,
        "salt": config.salt,
    }


def unconfigured_config(flag: Flag) -> dict[str, Any]:
    names = list(flag.variants)
    first = "on" if flag.type == "boolean" and "on" in names else names[0]
    off = "off" if flag.type == "boolean" and "off" in names else names[0]
    return {
        "key": flag.key,
        "type": flag.type,
        "variants": dict(flag.variants),
        "enabled": False,
        "default_variant": first,
        "off_variant": off,
        "rules": [],
        "prerequisites": [],
        "fallback": None,
        "salt": flag.key,
    }


def environment_by_name(session: Session, project_id: int, environment: str) -> Environment:
    env = session.scalars(
        select(Environment).where(
            Environment.project_id == project_id, Environment.name == environment
        )
    ).first()
    if env is None:
        raise NotFound(f"no environment {environment!r} in this project")
    return env


def load_flag_set(session: Session, project_id: int, environment: str) -> FlagSet:
    """The environment's live flags (archived ones left out) with the revision and ETag."""
    env = environment_by_name(session, project_id, environment)
    return load_flag_set_by_id(session, project_id, env.id, env.name)


def load_flag_set_by_id(
    session: Session,
    project_id: int,
    environment_id: int,
    environment: str,
    *,
    keys: Collection[str] | None = None,
) -> FlagSet:
    """The environment's live flags; with `keys`, only those flags (a part of the set, for a
    reader that needs a few flags' configs with the set's segments, not the whole set)."""
    stamp = revision_of(session, environment_id)
    query = (
        select(Flag, FlagConfig)
        .outerjoin(
            FlagConfig,
            (FlagConfig.flag_id == Flag.id) & (FlagConfig.environment_id == environment_id),
        )
        .where(Flag.project_id == project_id, Flag.archived_at.is_(None))
        .order_by(Flag.key)
    )
    if keys is not None:
        query = query.where(Flag.key.in_(sorted(keys)))
    rows = session.execute(query).all()
    return FlagSet(
        project_id=project_id,
        environment=environment,
        environment_id=environment_id,
        revision=stamp.revision,
        etag=etag_for(environment_id, stamp.revision),
        configs=[full_config(flag, config) for flag, config in rows],
        segments=project_segments(session, project_id),
        unhealthy=unhealthy_dependencies(session, project_id),
        channel=stamp.channel,
        tags={flag.key: list(flag.tags) for flag, _ in rows if flag.tags},
    )


def ensure_revision_row(session: Session, project_id: int, environment_id: int) -> None:
    """Create the environment's revision row (revision 0, a fresh stream channel) if missing.

    Called where environments are made and by `bump_revision`; never on a read path."""
    insert_ignore(
        session,
        FlagSetRevision,
        {
            "environment_id": environment_id,
            "project_id": project_id,
            "revision": 0,
            "reason": "",
            "channel": secrets.token_urlsafe(24),
        },
    )


def bump_revision(session: Session, project_id: int, environment: str | None, reason: str) -> None:
    """New revision (and ETag) for one environment, or all of the project's, announced as
    `flags.changed` once the transaction commits."""
    if environment is None:
        envs = list(
            session.scalars(select(Environment).where(Environment.project_id == project_id))
        )
    else:
        envs = [environment_by_name(session, project_id, environment)]
    for env in envs:
        ensure_revision_row(session, project_id, env.id)
        # One UPDATE … SET revision = revision + 1: concurrent writers queue on the row lock.
        session.execute(
            update(FlagSetRevision)
            .where(FlagSetRevision.environment_id == env.id)
            .values(revision=FlagSetRevision.revision + 1, updated_at=utcnow(), reason=reason[:300])
        )
        revision = current_revision(session, env.id)
        data = {"etag": etag_for(env.id, revision), "revision": revision, "reason": reason[:300]}
        announce(session, Change("flags.changed", project_id, env.name, data))
