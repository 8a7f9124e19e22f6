"""API tokens: created with their secret shown once, stored as a SHA-256 digest, revocable.

A token's last use is stamped by `record_use`, at most once per `LAST_USED_EVERY`: a hot SDK key
must not write on every request (the server also skips the write transaction while a stamp is
fresh, per process).

`sdk_caller` is the one check of an SDK token (sdk-server or sdk-client) for every flag-delivery
surface — trimtab's SDK API and stream, OFREP, the Unleash APIs: the token is bound to one
project and environment, and reaches nothing else.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from trimtab.domain.errors import Forbidden, InvalidInput, NotFound, Unauthorized
from trimtab.domain.results import IsoTime, Result
from trimtab.domain.spine import audit
from trimtab.domain.spine.actors import SCOPES, SDK_SCOPES, Actor
from trimtab.domain.spine.projects import get_environment, get_project
from trimtab.store.db import get_row
from trimtab.store.models import ApiToken, Environment, Project, utcnow

TOKEN_PREFIX = "tt_"
BOOTSTRAP_TOKEN_NAME = "TRIMTAB_ADMIN_TOKEN"
# The admin token generated into .trimtab/credentials.json when no TRIMTAB_ADMIN_TOKEN is set:
# named for where it came from, so the audit log does not name a variable nobody set.
GENERATED_TOKEN_NAME = "generated-admin"
MAX_TOKEN_LENGTH = 256
LAST_USED_EVERY = timedelta(minutes=1)


class TokenSummary(Result):
    id: int
    name: str
    prefix: str
    scopes: list[str]
    project: str | None
    environment: str | None
    created_by: str
    created_at: IsoTime | None
    last_used_at: IsoTime | None  # to the minute: stamped at most once per LAST_USED_EVERY
    revoked_at: IsoTime | None

    @classmethod
    def of(
        cls, token: ApiToken, project: Project | None = None, env: Environment | None = None
    ) -> TokenSummary:
        """The token; its project and environment shown only when given."""
        return cls(
            id=token.id,
            name=token.name,
            prefix=token.prefix,
            scopes=list(token.scopes),
            project=project.slug if project else None,
            environment=env.name if env else None,
            created_by=token.created_by,
            created_at=token.created_at,
            last_used_at=token.last_used_at,
            revoked_at=token.revoked_at,
        )


class TokenCreated(TokenSummary):
    token: str  # the secret, shown this once


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def new_secret() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def _check_scopes(scopes: list[str]) -> list[str]:
    if not scopes:
        raise InvalidInput("a token needs at least one scope: " + ", ".join(SCOPES))
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown:
        raise InvalidInput(f"unknown scope(s) {unknown}: choose from {', '.join(SCOPES)}")
    if set(scopes) & SDK_SCOPES and set(scopes) - SDK_SCOPES:
        raise InvalidInput("an SDK token carries only SDK scopes; make a second token for the API")
    if "agent" in scopes and len(set(scopes)) > 1:
        raise InvalidInput("an agent token carries only the agent scope; make a second token")
    return sorted(set(scopes))


def create_token(
    session: Session,
    actor: Actor,
    name: str,
    scopes: list[str],
    *,
    project_slug: str | None = None,
    environment: str | None = None,
) -> TokenCreated:
    """Create a token; returns it with its secret, which is never retrievable again."""
    scopes = _check_scopes(scopes)
    name = name.strip()
    if not name or len(name) > 200:
        raise InvalidInput("a token needs a name of 1-200 characters")
    project: Project | None = None
    env: Environment | None = None
    if project_slug is not None:
        # An admin bound to one environment makes tokens of that environment only: else it
        # could mint itself a token of every environment (Actor.require refuses `admin` on the
        # whole project to it).
        project = get_project(session, actor, project_slug, scope="read")
        if environment is not None:
            env = get_environment(session, project, environment, actor=actor, scope="admin")
        else:
            actor.require("admin", project_id=project.id)
    else:
        actor.require("admin")
        if environment is not None:
            raise InvalidInput("--env needs --project")
    if set(scopes) & SDK_SCOPES and env is None:
        raise InvalidInput("SDK tokens must be bound to a project and an environment")
    if "agent" in scopes and env is None:
        raise InvalidInput("agent tokens must be bound to a project and an environment")
    secret = new_secret()
    token = ApiToken(
        name=name,
        prefix=secret[:10],
        secret_sha256=digest(secret),
        scopes=scopes,
        project_id=project.id if project else None,
        environment_id=env.id if env else None,
        created_by=actor.label,
    )
    session.add(token)
    session.flush()
    audit.record(
        session,
        actor,
        "token.create",
        target_type="token",
        target_id=token.id,
        project_id=token.project_id,
        environment=environment,
        after=TokenSummary.of(token, project, env),
    )
    return TokenCreated(**dict(TokenSummary.of(token, project, env)), token=secret)


def list_tokens(
    session: Session, actor: Actor, *, project_slug: str | None = None
) -> list[TokenSummary]:
    query = select(ApiToken, Project, Environment).outerjoin(
        Project, ApiToken.project_id == Project.id
    )
    query = query.outerjoin(Environment, ApiToken.environment_id == Environment.id)
    # An admin bound to one environment lists the tokens of that environment.
    if project_slug is not None:
        project = get_project(session, actor, project_slug, scope="read")
        actor.require("admin", project_id=project.id, environment_id=actor.environment_id)
        query = query.where(ApiToken.project_id == project.id)
    else:
        actor.require("admin", project_id=actor.project_id, environment_id=actor.environment_id)
        if actor.project_id is not None:
            query = query.where(ApiToken.project_id == actor.project_id)
    if actor.environment_id is not None:
        query = query.where(ApiToken.environment_id == actor.environment_id)
    rows = session.execute(query.order_by(ApiToken.id)).all()
    return [TokenSummary.of(t, p, e) for t, p, e in rows]


def revoke_token(session: Session, actor: Actor, token_id: int) -> ApiToken:
    token = get_row(session, ApiToken, token_id)
    if token is None or (
        token.project_id is not None and not actor.reaches_project(token.project_id)
    ):
        raise NotFound(f"no token {token_id}")
    if token.project_id is not None:
        actor.require("read", project_id=token.project_id)
    # A token bound to one environment reaches the tokens of that environment only.
    if actor.environment_id not in (None, token.environment_id):
        raise NotFound(f"no token {token_id}")
    if token.project_id is None:
        actor.require("admin")
    else:
        actor.require("admin", project_id=token.project_id, environment_id=token.environment_id)
    if token.revoked_at is None:
        before = {"revoked_at": None}
        token.revoked_at = utcnow()
        audit.record(
            session,
            actor,
            "token.revoke",
            target_type="token",
            target_id=token.id,
            project_id=token.project_id,
            before=before,
            after={"revoked_at": token.revoked_at.isoformat()},
        )
    return token


def authenticate(session: Session, secret: str) -> Actor:
    """The actor for a presented token secret, or Unauthorized."""
    if not secret or len(secret) > MAX_TOKEN_LENGTH:
        raise Unauthorized("missing or malformed API token")
    token = session.scalars(
        select(ApiToken).where(ApiToken.secret_sha256 == digest(secret))
    ).first()
    if token is None or token.revoked_at is not None:
        raise Unauthorized("invalid or revoked API token")
    return actor_for_token(token)


def record_use(session: Session, token_id: int, at: datetime) -> bool:
    """Stamp the token's last use at `at`, unless a stamp is less than `LAST_USED_EVERY` old
    (the row decides, so the bound holds across server nodes). Whether it wrote."""
    stamped = session.execute(
        update(ApiToken)
        .where(
            ApiToken.id == token_id,
            or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at <= at - LAST_USED_EVERY),
        )
        .values(last_used_at=at)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(stamped, "rowcount", 0))


@dataclass(frozen=True)
class SdkCaller:
    """An SDK token, resolved: the one project and environment it may evaluate."""

    actor: Actor
    project_id: int
    project: str
    environment_id: int
    environment: str

    @property
    def server_side(self) -> bool:
        """An sdk-server token may read rules; an sdk-client (browser) token only answers."""
        return "sdk-server" in self.actor.scopes


def resolve_sdk_caller(session: Session, secret: str) -> SdkCaller:
    """The SDK caller for a presented secret: Unauthorized, or Forbidden for a non-SDK token."""
    return sdk_caller(session, authenticate(session, secret))


def sdk_caller(session: Session, actor: Actor) -> SdkCaller:
    """The project and environment an SDK token is bound to; Forbidden for any other actor."""
    if not actor.scopes & SDK_SCOPES:
        raise Forbidden("this endpoint takes an SDK token (sdk-server or sdk-client)")
    if actor.project_id is None or actor.environment_id is None:
        raise Forbidden("SDK tokens must be bound to a project and an environment")
    row = session.execute(
        select(Project.slug, Environment.name)
        .join(Environment, Environment.project_id == Project.id)
        .where(Environment.id == actor.environment_id)
    ).first()
    if row is None:
        raise Unauthorized("the token's environment no longer exists")
    return SdkCaller(actor, actor.project_id, str(row[0]), actor.environment_id, str(row[1]))


def actor_for_token(token: ApiToken) -> Actor:
    return Actor(
        kind="token",
        name=token.name,
        scopes=frozenset(token.scopes),
        project_id=token.project_id,
        environment_id=token.environment_id,
        token_id=token.id,
    )


def ensure_bootstrap_token(session: Session, secret: str, name: str = BOOTSTRAP_TOKEN_NAME) -> None:
    """Accept TRIMTAB_ADMIN_TOKEN (or the generated local token, `name`) as an admin token;
    changing it revokes the old one, whichever of the two it was."""
    wanted = digest(secret)
    rows = session.scalars(
        select(ApiToken).where(ApiToken.name.in_([BOOTSTRAP_TOKEN_NAME, GENERATED_TOKEN_NAME]))
    ).all()
    found = False
    for row in rows:
        if row.secret_sha256 == wanted:
            found = True
            row.name = name  # the generated token, now set as TRIMTAB_ADMIN_TOKEN (or back)
            row.revoked_at = None
        elif row.revoked_at is None:
            row.revoked_at = utcnow()
    if not found:
        session.add(
            ApiToken(
                name=name,
                prefix=secret[:6],
                secret_sha256=wanted,
                scopes=["admin"],
                created_by="system:bootstrap",
            )
        )
    session.flush()
