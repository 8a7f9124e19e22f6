"""What a caller of the change stream (`GET /api/v1/stream`) may watch, and see of each change.

- An SDK token watches its own project and environment, whatever it asks for.
- A browser token (`sdk-client`) is public by design — it ships inside pages — so it sees only
  the signals a page needs to refetch: flag-set changes (the new ETag and revision, not who
  changed what or why) and maintenance notices (which are public anyway). Never issue titles,
  culprits or change reasons.
- A token bound to an environment sees that environment's changes only; changes that name no
  environment (a new issue, a key) are for project-wide callers.
- Any other caller names a project it may read, and optionally one environment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from trimtab.domain.errors import Forbidden
from trimtab.domain.spine import projects, tokens
from trimtab.domain.spine.actors import SDK_SCOPES, Actor
from trimtab.store.models import Environment
from trimtab.store.notify import Change

BROWSER_KINDS = frozenset({"flags.changed", "maintenance.changed"})
# What a browser may read of a flag-set change: enough to refetch, nothing more.
BROWSER_FLAG_FIELDS = ("etag", "revision")


@dataclass(frozen=True)
class Watch:
    project_id: int
    environment: str | None
    bound_to_environment: bool
    browser: bool

    def payload(self, change: Change, wanted: frozenset[str] | None) -> dict[str, Any] | None:
        """The event data this caller gets for `change`, or None when it gets nothing."""
        if wanted is not None and change.kind not in wanted:
            return None
        elsewhere = self.environment is not None and change.environment != self.environment
        # An unbound caller watching one environment still hears project-wide changes.
        if elsewhere and (self.bound_to_environment or change.environment is not None):
            return None
        data = dict(change.data)
        if self.browser:
            if change.kind not in BROWSER_KINDS:
                return None
            if change.kind == "flags.changed":
                data = {k: data[k] for k in BROWSER_FLAG_FIELDS if k in data}
        return {
            "kind": change.kind,
            "project_id": change.project_id,
            "environment": change.environment,
            **data,
        }


def resolve_watch(
    session: Session, actor: Actor, project: str | None, environment: str | None
) -> Watch:
    """Which project (and environment) `actor` may watch; see the module doc."""
    if actor.scopes & SDK_SCOPES:
        caller = tokens.sdk_caller(session, actor)
        return Watch(caller.project_id, caller.environment, True, not caller.server_side)
    if project is None:
        if actor.project_id is None:
            raise Forbidden("name the project to watch: ?project=SLUG")
        found_id = actor.project_id
        rows = session.scalars(select(Environment).where(Environment.project_id == found_id))
        names = {e.id: e.name for e in rows}
    else:
        found = projects.get_project(session, actor, project)
        found_id = found.id
        names = {e.id: e.name for e in found.environments}
        if environment is not None:
            projects.get_environment(session, found, environment)
    if actor.environment_id is not None:
        bound = names.get(actor.environment_id)
        if bound is None or environment not in (None, bound):
            raise Forbidden("this token is not valid for this environment")
        return Watch(found_id, bound, True, False)
    return Watch(found_id, environment, False, False)
