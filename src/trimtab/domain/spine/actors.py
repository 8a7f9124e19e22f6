"""Who is acting, and what they may do.

Scopes: `admin` > `deploy` > `read` form a ladder (each includes the ones below it). The SDK
scopes stand apart: `sdk-server` fetches rules and evaluates, `sdk-client` only evaluates for a
browser; neither reads or changes anything through the API. `agent` stands apart too: a deploy
agent claims and reports the deploy steps of its one project and environment, nothing else.
A token bound to a project reaches only that project; one bound to an environment only that
environment. What every environment of a project shares (flag definitions, segments, services
and their commands, keys, alert targets and rules, dependencies, freezes) is defined with
`admin` on the project as a whole: an admin token bound to one environment administers that
environment only (its flag configs, its tokens).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from trimtab.domain.errors import Forbidden
from trimtab.domain.results import Result

SCOPES = ("admin", "deploy", "read", "sdk-server", "sdk-client", "agent")
SDK_SCOPES = frozenset({"sdk-server", "sdk-client"})
AGENT_SCOPE = "agent"
# Scopes a token carries alone, bound to one project and environment.
BOUND_SCOPES = SDK_SCOPES | {AGENT_SCOPE}
_LADDER = {"admin": 3, "deploy": 2, "read": 1}


@dataclass(frozen=True)
class Actor:
    kind: str  # "token", "user" or "system"
    name: str
    scopes: frozenset[str]
    project_id: int | None = None
    environment_id: int | None = None
    token_id: int | None = None
    user_id: int | None = None
    extra: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def label(self) -> str:
        """How the actor appears in the audit log and the ledger: `token:ci-deploy`."""
        return f"{self.kind}:{self.name}"

    def has_scope(self, scope: str) -> bool:
        if scope in _LADDER:
            level = max((_LADDER.get(s, 0) for s in self.scopes), default=0)
            return level >= _LADDER[scope]
        return scope in self.scopes

    def reaches_project(self, project_id: int) -> bool:
        return self.project_id is None or self.project_id == project_id

    def reaches_environment(self, environment_id: int) -> bool:
        return self.environment_id is None or self.environment_id == environment_id

    def require(
        self,
        scope: str,
        *,
        project_id: int | None = None,
        environment_id: int | None = None,
    ) -> None:
        """Raise Forbidden unless this actor has `scope` on the project/environment given.

        With no project given, the actor must not be bound to one: install-wide actions
        (creating a project, listing every token) are for unbound tokens only.
        """
        if not self.has_scope(scope):
            raise Forbidden(f"this needs the {scope!r} scope; the token has {sorted(self.scopes)}")
        if project_id is None:
            if self.project_id is not None:
                raise Forbidden("this token is bound to one project and cannot act install-wide")
        elif not self.reaches_project(project_id):
            raise Forbidden("this token is not valid for this project")
        elif scope == "admin" and environment_id is None and self.environment_id is not None:
            raise Forbidden(
                "this token is bound to one environment; what every environment of the project "
                "shares is defined with a token not bound to one"
            )
        if environment_id is not None and not self.reaches_environment(environment_id):
            raise Forbidden("this token is not valid for this environment")


class ActorSummary(Result):
    """Who a token acts as (`/api/v1/whoami`)."""

    actor: str
    scopes: list[str]
    project_id: int | None
    environment_id: int | None

    @classmethod
    def of(cls, actor: Actor) -> ActorSummary:
        return cls(
            actor=actor.label,
            scopes=sorted(actor.scopes),
            project_id=actor.project_id,
            environment_id=actor.environment_id,
        )


SYSTEM = Actor(kind="system", name="trimtab", scopes=frozenset({"admin"}))
