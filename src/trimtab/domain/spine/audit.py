"""Writing and reading the audit log. Writers call `record()` inside their own transaction.

An entry's `before` and `after` are free-form JSON objects: whatever describes the change (a
typed result passed in is stored as the JSON the API sends for it).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, case, cast, exists, select
from sqlalchemy.orm import Session

from trimtab.domain.results import IsoTime, Result
from trimtab.domain.spine.actors import Actor
from trimtab.store.models import AuditEntry, IssueFacet

MAX_LIST = 1000


class AuditEntrySummary(Result):
    id: int
    at: IsoTime
    actor: str
    action: str
    target_type: str
    target_id: str
    project_id: int | None
    environment: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    reason: str | None
    overridden: bool

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditEntrySummary:
        return cls(
            id=entry.id,
            at=entry.at,
            actor=entry.actor,
            action=entry.action,
            target_type=entry.target_type,
            target_id=entry.target_id,
            project_id=entry.project_id,
            environment=entry.environment,
            before=entry.before,
            after=entry.after,
            reason=entry.reason,
            overridden=entry.overridden,
        )


def record(
    session: Session,
    actor: Actor,
    action: str,
    *,
    target_type: str,
    target_id: str | int,
    project_id: int | None = None,
    environment: str | None = None,
    before: Any = None,
    after: Any = None,
    reason: str | None = None,
    overridden: bool = False,
) -> AuditEntry:
    entry = AuditEntry(
        actor=actor.label,
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        project_id=project_id,
        environment=environment,
        before=_json(before),
        after=_json(after),
        reason=reason,
        overridden=overridden,
    )
    session.add(entry)
    session.flush()
    return entry


def _not_of_an_unseen_issue(environment: str) -> ColumnElement[bool]:
    """Not an entry about an issue never seen in `environment`. An issue's triage names no
    environment (its status holds in all of them), yet its id and reason are the issue's
    business: a reader bound to an environment gets the entries of the issues seen there."""
    # CASE, so the id is cast only for issue entries (other targets are names); an index
    # look-up on the facets' (issue_id, key, value) per issue entry.
    issue_id = case(
        (AuditEntry.target_type == "issue", cast(AuditEntry.target_id, BigInteger)), else_=None
    )
    seen = exists().where(
        IssueFacet.issue_id == issue_id,
        IssueFacet.key == "environment",
        IssueFacet.value == environment,
    )
    return (AuditEntry.target_type != "issue") | seen


def _json(value: Any) -> Any:
    return value.model_dump(mode="json") if isinstance(value, Result) else value


def list_entries(
    session: Session,
    *,
    project_id: int | None = None,
    action_prefix: str | None = None,
    since: datetime | None = None,
    environment: str | None = None,
    target: tuple[str, str] | None = None,
    target_type: str | None = None,
    actor: str | None = None,
    before: int | None = None,
    limit: int = 100,
) -> list[AuditEntry]:
    """Newest first. With `environment` (a bound reader's), that environment's entries and the
    project-wide ones (which name none); `target` is (target_type, target_id): ("flag", key);
    `actor` is a label ("user:mina"); `before` an entry id: the page of entries older than it.
    """
    query = select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
    query = query.limit(min(max(limit, 1), MAX_LIST))
    if environment is not None:
        query = query.where(
            (AuditEntry.environment == environment)
            | (AuditEntry.environment.is_(None) & _not_of_an_unseen_issue(environment))
        )
    if project_id is not None:
        query = query.where(AuditEntry.project_id == project_id)
    if action_prefix:
        query = query.where(AuditEntry.action.startswith(action_prefix, autoescape=True))
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    if target is not None:
        query = query.where(AuditEntry.target_type == target[0], AuditEntry.target_id == target[1])
    if target_type is not None:
        query = query.where(AuditEntry.target_type == target_type)
    if actor is not None:
        query = query.where(AuditEntry.actor == actor)
    if before is not None:
        # Keyset paging on the listing's order (at, id): the index on `at` serves it, so a deep
        # page costs what the first one does.
        at = session.scalar(select(AuditEntry.at).where(AuditEntry.id == before))
        if at is None:
            return []
        query = query.where(AuditEntry.at <= at, (AuditEntry.at < at) | (AuditEntry.id < before))
    return list(session.scalars(query))
