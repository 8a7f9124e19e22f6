"""Segments: named constraint lists (e.g. `beta-testers`) that flag rules share, project-wide.

Changing a segment changes what every flag using it serves in every environment, so it bumps
every environment's flag-set revision. A segment in use cannot be deleted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from trimtab.core.evaluation import FlagConfigError, validate_segments
from trimtab.domain.errors import Conflict, InvalidInput, NotFound
from trimtab.domain.flags import flags, rule_sets
from trimtab.domain.results import Deleted, IsoTime, Result
from trimtab.domain.spine import audit
from trimtab.domain.spine.actors import Actor
from trimtab.domain.spine.projects import get_project
from trimtab.store.models import Flag, FlagConfig, Segment, utcnow

MAX_CONSTRAINTS = 100
MAX_SEGMENTS = 500


class SegmentSummary(Result):
    """A segment; its constraints have the shape of a rule's (see core.evaluation)."""

    name: str
    description: str
    constraints: list[dict[str, Any]]
    updated_at: IsoTime


def segment_summary(segment: Segment) -> SegmentSummary:
    return SegmentSummary(
        name=segment.name,
        description=segment.description,
        constraints=list(segment.constraints),
        updated_at=segment.updated_at,
    )


def list_segments(session: Session, actor: Actor, project_slug: str) -> list[SegmentSummary]:
    project = get_project(session, actor, project_slug)
    rows = session.scalars(
        select(Segment).where(Segment.project_id == project.id).order_by(Segment.name)
    )
    return [segment_summary(s) for s in rows]


def segment_users(session: Session, project_id: int) -> dict[str, list[str]]:
    """Segment name -> the keys of the flags (archived ones too) whose rules use it in some
    environment. Reads the keys and rules only, not whole flags and configs."""
    used_by: dict[str, set[str]] = {}
    rows = session.execute(
        select(Flag.key, FlagConfig.rules)
        .join(FlagConfig, FlagConfig.flag_id == Flag.id)
        .where(Flag.project_id == project_id)
    )
    for key, rules in rows:
        for rule in rules or []:
            for name in rule.get("segments") or []:
                used_by.setdefault(name, set()).add(key)
    return {name: sorted(keys) for name, keys in used_by.items()}


def put_segment(
    session: Session,
    actor: Actor,
    project_slug: str,
    name: str,
    constraints: Sequence[Any],
    *,
    description: str = "",
) -> SegmentSummary:
    """Create or replace a segment."""
    project = get_project(session, actor, project_slug, scope=flags.DEFINITION_SCOPE)
    name = flags._name(name, "segment name")
    if len(constraints) > MAX_CONSTRAINTS:
        raise InvalidInput(f"at most {MAX_CONSTRAINTS} constraints per segment")
    try:
        normalized = validate_segments({name: list(constraints)})[name]
    except FlagConfigError as exc:
        raise InvalidInput(str(exc)) from exc
    segment = session.scalars(
        select(Segment).where(Segment.project_id == project.id, Segment.name == name)
    ).first()
    before = segment_summary(segment).model_dump(mode="json") if segment else None
    if segment is None:
        count = len(
            session.scalars(select(Segment.id).where(Segment.project_id == project.id)).all()
        )
        if count >= MAX_SEGMENTS:
            raise InvalidInput(f"at most {MAX_SEGMENTS} segments per project")
        segment = Segment(project_id=project.id, name=name, constraints=normalized)
        session.add(segment)
    segment.constraints = normalized
    segment.description = description.strip()
    segment.updated_at = utcnow()
    session.flush()
    after = segment_summary(segment)
    audit.record(
        session,
        actor,
        "segment.put",
        target_type="segment",
        target_id=name,
        project_id=project.id,
        before=before,
        after=after.model_dump(mode="json"),
    )
    rule_sets.bump_revision(session, project.id, None, f"segment {name} changed")
    return after


def delete_segment(session: Session, actor: Actor, project_slug: str, name: str) -> Deleted:
    project = get_project(session, actor, project_slug, scope=flags.DEFINITION_SCOPE)
    segment = session.scalars(
        select(Segment).where(Segment.project_id == project.id, Segment.name == name)
    ).first()
    if segment is None:
        raise NotFound(f"project {project.slug!r} has no segment {name!r}")
    using = segment_users(session, project.id).get(name, [])
    if using:
        raise Conflict(f"segment {name!r} is used by flags {using}; change their rules first")
    before = segment_summary(segment).model_dump(mode="json")
    session.delete(segment)
    audit.record(
        session,
        actor,
        "segment.delete",
        target_type="segment",
        target_id=name,
        project_id=project.id,
        before=before,
    )
    rule_sets.bump_revision(session, project.id, None, f"segment {name} deleted")
    return Deleted(deleted=name)
