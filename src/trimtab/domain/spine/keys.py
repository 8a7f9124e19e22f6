"""DSN keys: what a Sentry SDK is configured with. A key ingests into one project, nothing else.

A project as the API shows it one at a time (`ProjectDetail`) carries the DSN of its first
active key, so it is made here: the keys module reads projects, never the other way round.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from trimtab.domain.errors import InvalidInput, NotFound
from trimtab.domain.results import IsoTime, Result
from trimtab.domain.spine import audit
from trimtab.domain.spine.actors import Actor
from trimtab.domain.spine.projects import ProjectSummary, get_project
from trimtab.store.models import Project, ProjectKey, utcnow
from trimtab.store.notify import Change, announce

# Announced when a key is created or revoked, so ingest drops its cached copy at once (on
# every node, through the change fan-out) instead of honouring a revoked key for a while.
KEYS_CHANGED = "keys.changed"


class KeySummary(Result):
    name: str
    public_key: str
    dsn: str
    rate_limit_per_minute: int | None
    created_at: IsoTime
    revoked_at: IsoTime | None

    @classmethod
    def of(cls, key: ProjectKey, public_url: str) -> KeySummary:
        return cls(
            name=key.name,
            public_key=key.public_key,
            dsn=format_dsn(public_url, key.public_key, key.project_id),
            rate_limit_per_minute=key.rate_limit_per_minute,
            created_at=key.created_at,
            revoked_at=key.revoked_at,
        )


class ProjectDetail(ProjectSummary):
    dsn: str | None  # of the oldest active key; None when every key is revoked


def format_dsn(public_url: str, public_key: str, project_id: int) -> str:
    parts = urlsplit(public_url)
    path = parts.path.rstrip("/")
    return f"{parts.scheme}://{public_key}@{parts.netloc}{path}/{project_id}"


def create_key(
    session: Session,
    actor: Actor,
    project_slug: str,
    name: str = "default",
    *,
    rate_limit_per_minute: int | None = None,
) -> ProjectKey:
    project = get_project(session, actor, project_slug, scope="admin")
    if not name.strip() or len(name) > 200:
        raise InvalidInput("a key needs a name of 1-200 characters")
    if rate_limit_per_minute is not None and not 1 <= rate_limit_per_minute <= 10_000_000:
        raise InvalidInput("rate limit must be between 1 and 10,000,000 events per minute")
    key = ProjectKey(
        project_id=project.id, name=name.strip(), rate_limit_per_minute=rate_limit_per_minute
    )
    session.add(key)
    session.flush()
    announce(session, Change(KEYS_CHANGED, project.id, data={"public_key": key.public_key}))
    audit.record(
        session,
        actor,
        "key.create",
        target_type="key",
        target_id=key.public_key,
        project_id=project.id,
        after={"name": key.name, "public_key": key.public_key},
    )
    return key


def list_keys(
    session: Session, actor: Actor, project_slug: str
) -> tuple[Project, list[ProjectKey]]:
    project = get_project(session, actor, project_slug, scope="read")
    keys = session.scalars(
        select(ProjectKey).where(ProjectKey.project_id == project.id).order_by(ProjectKey.id)
    )
    return project, list(keys)


def list_key_summaries(
    session: Session, actor: Actor, project_slug: str, public_url: str
) -> list[KeySummary]:
    _, keys = list_keys(session, actor, project_slug)
    return [KeySummary.of(key, public_url) for key in keys]


def project_detail(
    session: Session, actor: Actor, project_slug: str, public_url: str
) -> ProjectDetail:
    project, keys = list_keys(session, actor, project_slug)
    active = [key for key in keys if key.revoked_at is None]
    dsn = format_dsn(public_url, active[0].public_key, project.id) if active else None
    return ProjectDetail(**dict(ProjectSummary.of(project)), dsn=dsn)


def revoke_key(session: Session, actor: Actor, project_slug: str, public_key: str) -> ProjectKey:
    project = get_project(session, actor, project_slug, scope="admin")
    key = session.scalars(
        select(ProjectKey).where(
            ProjectKey.project_id == project.id, ProjectKey.public_key == public_key
        )
    ).first()
    if key is None:
        raise NotFound(f"project {project.slug!r} has no key {public_key!r}")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        announce(session, Change(KEYS_CHANGED, project.id, data={"public_key": key.public_key}))
        audit.record(
            session,
            actor,
            "key.revoke",
            target_type="key",
            target_id=key.public_key,
            project_id=project.id,
            before={"revoked_at": None},
            after={"revoked_at": key.revoked_at.isoformat()},
        )
    return key


@dataclass(frozen=True, slots=True)
class IngestKey:
    """What ingest needs to know of a DSN key to accept or refuse an event."""

    project_id: int
    revoked: bool
    rate_limit_per_minute: int | None


def find_ingest_key(session: Session, public_key: str) -> IngestKey | None:
    """The key an ingest request names, or None for a key trimtab never issued.

    No actor: the public key is the credential of the request asking."""
    row = session.execute(
        select(ProjectKey.project_id, ProjectKey.revoked_at, ProjectKey.rate_limit_per_minute)
        .where(ProjectKey.public_key == public_key)
        .limit(1)
    ).first()
    if row is None:
        return None
    project_id, revoked_at, rate_limit = row
    return IngestKey(project_id, revoked_at is not None, rate_limit)


def project_exists(session: Session, project_id: int) -> bool:
    """Whether a project has this id: ingest refuses a request for any other before reading
    its body. No actor, as for `find_ingest_key`: project ids are in every DSN, not secret."""
    return session.scalar(select(Project.id).where(Project.id == project_id)) is not None
