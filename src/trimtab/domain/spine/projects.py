"""Organization, projects and environments."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from trimtab.core.names import InvalidName, check_name
from trimtab.domain.errors import Conflict, InvalidInput, NotFound
from trimtab.domain.flags.rule_sets import ensure_revision_row
from trimtab.domain.results import IsoTime, Result
from trimtab.domain.spine import audit
from trimtab.domain.spine.actors import Actor
from trimtab.store.models import Environment, Organization, Project, ProjectKey

DEFAULT_ENVIRONMENTS = ("development", "staging", "production")


class ProjectSummary(Result):
    id: int
    slug: str
    name: str
    created_at: IsoTime
    environments: list[str]
    # Flags Unleash SDKs cannot be served identically are refused (domain.flags.unleash_gaps).
    unleash_strict: bool

    @classmethod
    def of(cls, project: Project) -> ProjectSummary:
        return cls(
            id=project.id,
            slug=project.slug,
            name=project.name,
            created_at=project.created_at,
            environments=[env.name for env in project.environments],
            unleash_strict=bool(project.unleash_strict),
        )


class EnvironmentSummary(Result):
    """An environment, and who runs its deploy steps (`runner`: local or agent)."""

    name: str
    runner: str
    created_at: IsoTime


class EnvironmentCreated(Result):
    project: str
    name: str
    created_at: IsoTime


def get_organization(session: Session) -> Organization:
    org = session.scalars(select(Organization).order_by(Organization.id).limit(1)).first()
    if org is None:
        raise NotFound("the install has no organization yet: start the server once")
    return org


def ensure_organization(session: Session, slug: str) -> Organization:
    org = session.scalars(select(Organization).order_by(Organization.id).limit(1)).first()
    if org is None:
        org = Organization(slug=check_name(slug, "organization slug"), name=slug)
        session.add(org)
        session.flush()
    elif org.slug != slug:
        org.slug = check_name(slug, "organization slug")
    return org


def _valid(value: str, what: str) -> str:
    try:
        return check_name(value, what)
    except InvalidName as exc:
        raise InvalidInput(str(exc)) from exc


def create_project(
    session: Session,
    actor: Actor,
    slug: str,
    *,
    name: str | None = None,
    environments: tuple[str, ...] = DEFAULT_ENVIRONMENTS,
) -> Project:
    actor.require("admin")
    slug = _valid(slug, "project slug")
    if session.scalars(select(Project).where(Project.slug == slug)).first() is not None:
        raise Conflict(f"project {slug!r} already exists")
    project = Project(
        organization_id=get_organization(session).id, slug=slug, name=(name or slug)[:200]
    )
    session.add(project)
    session.flush()
    for env_name in environments:
        _add_environment(session, project.id, _valid(env_name, "environment name"))
    # Every project starts with a DSN key (as in Sentry), so `project create` can print a working
    # DSN. The key is minted by the model; the keys module, which resolves projects through this
    # one, is not needed to make it.
    session.add(ProjectKey(project_id=project.id, name="default"))
    session.flush()
    session.refresh(project)
    audit.record(
        session,
        actor,
        "project.create",
        target_type="project",
        target_id=slug,
        project_id=project.id,
        after=ProjectSummary.of(project),
    )
    return project


def get_project(session: Session, actor: Actor, slug: str, *, scope: str = "read") -> Project:
    """Find a project the actor may act on with `scope`.

    A project the actor cannot reach answers 404 rather than 403 when the actor is bound to
    another project, so a token cannot probe which project slugs exist.
    """
    project = session.scalars(select(Project).where(Project.slug == slug)).first()
    if project is None or not actor.reaches_project(project.id):
        raise NotFound(f"no project {slug!r}")
    actor.require(scope, project_id=project.id)
    return project


def set_unleash_strict(session: Session, actor: Actor, slug: str, strict: bool) -> Project:
    """Refuse (True) or allow (False) flags Unleash SDKs cannot be served identically. Flags
    already stored stay as they are (their gaps are shown); the next change to one is checked."""
    project = get_project(session, actor, slug, scope="admin")
    before = ProjectSummary.of(project)
    project.unleash_strict = strict
    session.flush()
    audit.record(
        session,
        actor,
        "project.update",
        target_type="project",
        target_id=slug,
        project_id=project.id,
        before=before,
        after=ProjectSummary.of(project),
    )
    return project


def list_projects(session: Session, actor: Actor) -> list[Project]:
    actor.require("read", project_id=actor.project_id)
    query = select(Project).order_by(Project.slug)
    if actor.project_id is not None:
        query = query.where(Project.id == actor.project_id)
    return list(session.scalars(query))


def get_environment(
    session: Session,
    project: Project,
    name: str,
    *,
    actor: Actor | None = None,
    scope: str = "read",
) -> Environment:
    """An environment of `project`. With `actor`, also check that the actor may act there with
    `scope`: a token bound to one environment is refused (403) in every other."""
    env = session.scalars(
        select(Environment).where(Environment.project_id == project.id, Environment.name == name)
    ).first()
    if env is None:
        raise NotFound(f"project {project.slug!r} has no environment {name!r}")
    if actor is not None:
        actor.require(scope, project_id=project.id, environment_id=env.id)
    return env


def environment_view(
    session: Session,
    actor: Actor,
    project: Project,
    environment: str | None,
    *,
    scope: str = "read",
) -> str | None:
    """The environment a read of per-environment records (issues, events, runs, the ledger,
    release health) is limited to: the one asked for (403 where a bound actor may not act),
    else the actor's own when it is bound to one, else None: every environment."""
    if environment is not None:
        return get_environment(session, project, environment, actor=actor, scope=scope).name
    actor.require(scope, project_id=project.id)
    return bound_environment(session, actor)


def bound_environment(session: Session, actor: Actor) -> str | None:
    """The name of the environment the actor is bound to, if it is bound to one."""
    if actor.environment_id is None:
        return None
    env = session.get(Environment, actor.environment_id)
    # Unreachable while deleting an environment deletes its tokens; "" matches no record.
    return env.name if env is not None else ""


def list_environments(session: Session, actor: Actor, slug: str) -> list[EnvironmentSummary]:
    project = get_project(session, actor, slug)
    return [
        EnvironmentSummary(name=e.name, runner=e.runner, created_at=e.created_at)
        for e in project.environments
    ]


def create_environment(
    session: Session, actor: Actor, project_slug: str, name: str
) -> EnvironmentCreated:
    project = get_project(session, actor, project_slug, scope="admin")
    name = _valid(name, "environment name")
    existing = session.scalars(
        select(Environment).where(Environment.project_id == project.id, Environment.name == name)
    ).first()
    if existing is not None:
        raise Conflict(f"project {project.slug!r} already has environment {name!r}")
    env = _add_environment(session, project.id, name)
    audit.record(
        session,
        actor,
        "environment.create",
        target_type="environment",
        target_id=f"{project.slug}/{name}",
        project_id=project.id,
        environment=name,
        after={"project": project.slug, "name": name},
    )
    return EnvironmentCreated(project=project.slug, name=env.name, created_at=env.created_at)


def _add_environment(session: Session, project_id: int, name: str) -> Environment:
    """A new environment with its rule-set revision row, so that serving its (empty) rule set
    is a pure read from the start (domain.flags.rule_sets)."""
    env = Environment(project_id=project_id, name=name)
    session.add(env)
    session.flush()
    ensure_revision_row(session, project_id, env.id)
    return env
