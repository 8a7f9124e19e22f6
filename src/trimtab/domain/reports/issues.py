"""Issues: list and filter them, show one with its counts, and triage (resolve, ignore, reopen).

Every status change is audited in its transaction. The statuses and what a later event does to
each are described in `domain.issue_status`; this module only sets them:

- `resolve_issue(..)` — plain (any new event reopens it), `in_release=R` (events from R on
  reopen it), or `in_next_release=True` (events from a release newer than the project's current
  one reopen it; "current" is the newest release trimtab has seen errors from).
- `ignore_issue(..)` — until N more events, until a time, or (neither) forever.
- `reopen_issue(..)` — back to unresolved.

A token bound to one environment sees the issues seen in it (an issue of another environment
answers 404, as one of another project does), their events there only, and of an issue's
breakdown its own environment's line; the releases and tags breakdowns are kept per issue, not
per environment, so it gets neither. Its totals are its environment's too (`summaries`): the
events, first and last seen of that environment's line, listed in that order; the users and
the first and last release are kept per issue only, so it gets none (None). A status is the
issue's in every environment, so such a token changes it only for issues seen in its
environment alone (403 for one seen elsewhere too).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, func, or_, select
from sqlalchemy.orm import Session, aliased

from trimtab.core import issue_search
from trimtab.core.event_fields import MAX_RELEASE
from trimtab.domain.errors import Forbidden, InvalidInput, NotFound
from trimtab.domain.reports.feedback import feedback_count
from trimtab.domain.results import IsoTime, Result
from trimtab.domain.spine import audit
from trimtab.domain.spine.actors import Actor
from trimtab.domain.spine.projects import bound_environment, environment_view, get_project
from trimtab.store.db import get_row
from trimtab.store.models import ErrorRollup, Event, Issue, IssueFacet, Project
from trimtab.store.models.reports import ISSUE_STATUSES
from trimtab.store.notify import Change, announce

__all__ = [
    "ISSUE_STATUSES",
    "FacetValue",
    "IssueDetail",
    "IssueSummary",
    "NewIssues",
    "TagSummary",
    "environment_line",
    "get_issue",
    "ignore_issue",
    "issue_detail",
    "list_issues",
    "new_since",
    "reopen_issue",
    "resolve_issue",
    "summaries",
]

MAX_LIST = 500
SORTS: dict[str, Any] = {
    "last_seen": Issue.last_seen.desc(),
    "first_seen": Issue.first_seen.desc(),
    "events": Issue.event_count.desc(),
    "users": Issue.user_count.desc(),
}
TOP_VALUES = 10
TOP_KEYS = 50
MAX_FACET_ROWS = 5000
# `new_since` counts this many at most: "1000+" says enough, and the count stays bounded.
MAX_NEW_COUNTED = 1000
ISSUES_CHANGED = "issues.changed"


class IssueSummary(Result):
    id: int
    project: str
    title: str
    culprit: str
    level: str
    platform: str | None
    status: str
    status_detail: dict[str, Any] | None  # per status: see `domain.reports.issue_status`
    first_seen: IsoTime
    last_seen: IsoTime
    event_count: int
    user_count: int | None  # None: seen from one environment, where users are not counted
    first_release: str | None
    last_release: str | None
    first_environment: str | None
    resolved_at: IsoTime | None
    regressed_at: IsoTime | None
    regressed_in_release: str | None
    fingerprint: str

    @classmethod
    def of(cls, issue: Issue, project: Project) -> IssueSummary:
        return cls(
            id=issue.id,
            project=project.slug,
            title=issue.title,
            culprit=issue.culprit,
            level=issue.level,
            platform=issue.platform,
            status=issue.status,
            status_detail=issue.status_detail,
            first_seen=issue.first_seen,
            last_seen=issue.last_seen,
            event_count=issue.event_count,
            user_count=issue.user_count,
            first_release=issue.first_release,
            last_release=issue.last_release,
            first_environment=issue.first_environment,
            resolved_at=issue.resolved_at,
            regressed_at=issue.regressed_at,
            regressed_in_release=issue.regressed_in_release,
            fingerprint=issue.fingerprint,
        )

    def seen_in(self, line: IssueFacet | None, environment: str) -> IssueSummary:
        """The summary as one environment sees it: the count and times of its events there
        (`line`, the issue's facet of that environment); users and releases are kept per
        issue, not per environment, so they are left out rather than told across them."""
        return self.model_copy(
            update={
                "event_count": line.count if line is not None else 0,
                "first_seen": line.first_seen if line is not None else self.first_seen,
                "last_seen": line.last_seen if line is not None else self.last_seen,
                "user_count": None,
                "first_release": None,
                "last_release": None,
                "first_environment": environment,
            }
        )


def summaries(
    session: Session, actor: Actor, rows: Sequence[tuple[Issue, Project]]
) -> list[IssueSummary]:
    """The issues as the actor may see them: an actor bound to an environment gets that
    environment's totals (one query for the whole page), any other the issue's own."""
    return _summaries(session, rows, bound_environment(session, actor))


def _summaries(
    session: Session, rows: Sequence[tuple[Issue, Project]], environment: str | None
) -> list[IssueSummary]:
    if environment is None:
        return [IssueSummary.of(issue, project) for issue, project in rows]
    lines = _environment_lines(session, [issue.id for issue, _ in rows], environment)
    return [
        IssueSummary.of(issue, project).seen_in(lines.get(issue.id), environment)
        for issue, project in rows
    ]


def _environment_lines(
    session: Session, issue_ids: list[int], environment: str
) -> dict[int, IssueFacet]:
    if not issue_ids:
        return {}
    found = session.scalars(
        select(IssueFacet).where(
            IssueFacet.issue_id.in_(issue_ids),
            IssueFacet.key == "environment",
            IssueFacet.value == environment,
        )
    )
    return {line.issue_id: line for line in found}


class FacetValue(Result):
    """How often one value of a tag (or a release, an environment) came with the issue."""

    value: str
    count: int
    first_seen: IsoTime
    last_seen: IsoTime


class TagSummary(Result):
    key: str
    distinct: int  # values seen (up to the facet rows read), of which the top ones follow
    values: list[FacetValue]


class IssueDetail(IssueSummary):
    releases: list[FacetValue]
    environments: list[FacetValue]
    tags: list[TagSummary]
    latest_event_id: str | None
    feedback_count: int  # user feedback about its events (`reports.feedback`)


def list_issues(
    session: Session,
    actor: Actor,
    *,
    project: str | None = None,
    environment: str | None = None,
    release: str | None = None,
    status: str | None = None,
    query: str | None = None,
    sort: str = "last_seen",
    limit: int = 50,
    offset: int = 0,
) -> list[tuple[Issue, Project]]:
    """Issues of one project (or of every project the actor reaches), newest activity first.

    `query` is a search box (`core.issue_search`: `is:`, `release:`, `environment:`, tag
    `key:value` terms and text matched in title and culprit); a term it names wins over the
    parameter of the same name."""
    search = _search(query)
    status = search.status or status
    release = search.release or release
    environment = search.environment or environment
    if status is not None and status not in ISSUE_STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(ISSUE_STATUSES)}")
    if sort not in SORTS:
        raise InvalidInput(f"sort must be one of {', '.join(SORTS)}")
    statement = select(Issue, Project).join(Project, Project.id == Issue.project_id)
    if project is not None:
        found = get_project(session, actor, project)
        environment = environment_view(session, actor, found, environment)
        statement = statement.where(Issue.project_id == found.id)
    else:
        actor.require("read", project_id=actor.project_id)
        if actor.project_id is not None:
            statement = statement.where(Issue.project_id == actor.project_id)
            if actor.environment_id is not None:
                environment = environment_view(
                    session, actor, session.get_one(Project, actor.project_id), environment
                )
    facets = [("environment", environment), ("release", release), *search.tags]
    for key, value in facets:
        if value is not None:
            statement = statement.where(
                exists().where(
                    IssueFacet.issue_id == Issue.id,
                    IssueFacet.key == key,
                    IssueFacet.value == value,
                )
            )
    order = SORTS[sort]
    if (bound := bound_environment(session, actor)) is not None:
        # Ordered by what the environment saw: the issue's totals would tell of the others.
        line, on = environment_line(bound)
        statement = statement.join(line, on)
        order = {
            "last_seen": line.last_seen.desc(),
            "first_seen": line.first_seen.desc(),
            "events": line.count.desc(),
            "users": line.count.desc(),  # users are counted per issue only
        }[sort]
    if status is not None:
        statement = statement.where(Issue.status == status)
    if search.text:
        statement = statement.where(
            or_(
                Issue.title.contains(search.text, autoescape=True),
                Issue.culprit.contains(search.text, autoescape=True),
            )
        )
    statement = (
        statement.order_by(order, Issue.id.desc())
        .limit(min(max(limit, 1), MAX_LIST))
        .offset(max(offset, 0))
    )
    return [(issue, proj) for issue, proj in session.execute(statement)]


class NewIssues(Result):
    """Issues first seen at or after `since` and seen in `environment`: how many (at most
    `MAX_NEW_COUNTED`, then `more` is set) and the ones with the most events."""

    environment: str
    since: IsoTime
    count: int
    more: bool
    top: list[IssueSummary]


def new_since(
    session: Session, project: Project, environment: str, since: datetime, limit: int = 5
) -> NewIssues:
    """New issues of an environment since a moment (the last deploy there), in two bounded
    queries: the issues' first-seen index narrows to the period, the facet's unique index
    answers "seen in this environment". Their totals are that environment's (`summaries`).
    The caller has checked the actor may read it."""
    seen_here = exists().where(
        IssueFacet.issue_id == Issue.id,
        IssueFacet.key == "environment",
        IssueFacet.value == environment,
    )
    where = (Issue.project_id == project.id, Issue.first_seen >= since, seen_here)
    counted = select(Issue.id).where(*where).limit(MAX_NEW_COUNTED + 1).subquery()
    count = session.scalar(select(func.count()).select_from(counted)) or 0
    line, on = environment_line(environment)
    top = session.scalars(
        select(Issue)
        .join(line, on)
        .where(*where)
        .order_by(line.count.desc(), Issue.id.desc())
        .limit(min(max(limit, 1), MAX_LIST))
    )
    return NewIssues(
        environment=environment,
        since=since,
        count=min(count, MAX_NEW_COUNTED),
        more=count > MAX_NEW_COUNTED,
        top=_summaries(session, [(issue, project) for issue in top], environment),
    )


def environment_line(environment: str) -> tuple[Any, ColumnElement[bool]]:
    """An alias of the issue facets and the join condition that picks each issue's line of
    `environment` (its count and times there): joined, only the issues seen there remain."""
    line = aliased(IssueFacet)
    on = and_(line.issue_id == Issue.id, line.key == "environment", line.value == environment)
    return line, on


def _search(query: str | None) -> issue_search.IssueSearch:
    try:
        return issue_search.parse(query or "", ISSUE_STATUSES)
    except issue_search.SearchError as exc:
        raise InvalidInput(f"search: {exc}") from None


def get_issue(session: Session, actor: Actor, issue_id: int, *, scope: str = "read") -> Issue:
    """The issue, if the actor reaches its project (and environment) with `scope`: else 404, as
    for projects. A bound actor changing it (any scope above read) must be the only environment
    it is seen in (see the module doc)."""
    issue = get_row(session, Issue, issue_id)
    if issue is None or not actor.reaches_project(issue.project_id):
        raise NotFound(f"no issue {issue_id}")
    actor.require("read", project_id=issue.project_id)
    bound = bound_environment(session, actor)
    seen_in = _environments_of(session, issue) if bound is not None else set()
    if bound is not None and bound not in seen_in:
        raise NotFound(f"no issue {issue_id}")
    actor.require(scope, project_id=issue.project_id)
    if scope != "read" and seen_in - {bound}:
        others = ", ".join(sorted(seen_in - {bound}))
        raise Forbidden(
            f"issue {issue_id} is also seen in {others}; this token is bound to {bound!r} "
            "and changes only issues seen there alone"
        )
    return issue


def _environments_of(session: Session, issue: Issue) -> set[str]:
    return set(
        session.scalars(
            select(IssueFacet.value).where(
                IssueFacet.issue_id == issue.id, IssueFacet.key == "environment"
            )
        )
    )


def issue_detail(session: Session, issue: Issue, actor: Actor) -> IssueDetail:
    """The issue with its counts per release and environment, top tag values and latest event
    (for an environment-bound actor: its environment's line and latest event only)."""
    project = session.get(Project, issue.project_id)
    assert project is not None  # the foreign key guarantees it
    bound = bound_environment(session, actor)
    # Bounded: a tag with a value per event (a request id) must not load a million rows.
    query = select(IssueFacet).where(IssueFacet.issue_id == issue.id)
    if bound is not None:
        query = query.where(IssueFacet.key == "environment", IssueFacet.value == bound)
    facets = session.scalars(
        query.order_by(IssueFacet.count.desc(), IssueFacet.key, IssueFacet.value).limit(
            MAX_FACET_ROWS
        )
    )
    by_key: dict[str, list[FacetValue]] = {}
    for facet in facets:
        by_key.setdefault(facet.key, []).append(
            FacetValue(
                value=facet.value,
                count=facet.count,
                first_seen=facet.first_seen,
                last_seen=facet.last_seen,
            )
        )
    releases = by_key.pop("release", [])
    environments = by_key.pop("environment", [])
    tags = [
        TagSummary(key=key, distinct=len(values), values=values[:TOP_VALUES])
        for key, values in sorted(by_key.items(), key=lambda kv: -sum(v.count for v in kv[1]))
    ][:TOP_KEYS]
    latest = select(Event.event_id).where(Event.issue_id == issue.id)
    if bound is not None:
        latest = latest.where(Event.environment == bound)
    latest_event_id = session.scalar(
        latest.order_by(Event.received_at.desc(), Event.id.desc()).limit(1)
    )
    (summary,) = _summaries(session, [(issue, project)], bound)
    return IssueDetail(
        **dict(summary),
        releases=releases,
        environments=environments,
        tags=tags,
        latest_event_id=latest_event_id,
        feedback_count=feedback_count(session, issue.id, environment=bound),
    )


def _snapshot(issue: Issue) -> dict[str, Any]:
    return {"status": issue.status, "status_detail": issue.status_detail}


def _changed(
    session: Session, actor: Actor, issue: Issue, action: str, before: Any, reason: str | None
) -> None:
    audit.record(
        session,
        actor,
        action,
        target_type="issue",
        target_id=issue.id,
        project_id=issue.project_id,
        before=before,
        after=_snapshot(issue),
        reason=reason,
    )
    announce(session, Change(ISSUES_CHANGED, issue.project_id, data={"issue_id": issue.id}))


def current_release(session: Session, project_id: int) -> str | None:
    """The newest release the project has reported errors from (by first appearance)."""
    first_seen = func.min(ErrorRollup.minute)
    row = session.execute(
        select(ErrorRollup.dimension, first_seen)
        .where(ErrorRollup.project_id == project_id, ErrorRollup.dimension.startswith("release:"))
        .group_by(ErrorRollup.dimension)
        .order_by(first_seen.desc(), ErrorRollup.dimension.desc())
        .limit(1)
    ).first()
    return row[0].removeprefix("release:") if row is not None else None


def resolve_issue(
    session: Session,
    actor: Actor,
    issue_id: int,
    *,
    in_release: str | None = None,
    in_next_release: bool = False,
    reason: str | None = None,
) -> Issue:
    issue = get_issue(session, actor, issue_id, scope="deploy")
    before = _snapshot(issue)
    now = datetime.now(UTC)
    if in_release is not None and in_next_release:
        raise InvalidInput("resolve in a release or in the next release, not both")
    if in_release is not None:
        in_release = in_release.strip()
        if not in_release or len(in_release) > MAX_RELEASE:
            raise InvalidInput(f"a release name has 1-{MAX_RELEASE} characters")
        issue.status, issue.status_detail = "resolved", {"in_release": in_release}
    elif in_next_release:
        issue.status = "resolved_in_next_release"
        after = current_release(session, issue.project_id) or issue.last_release
        issue.status_detail = {"after": after, "resolved_at": now.isoformat()}
    else:
        issue.status, issue.status_detail = "resolved", {}
    issue.resolved_at = now
    _changed(session, actor, issue, "issue.resolve", before, reason)
    return issue


def ignore_issue(
    session: Session,
    actor: Actor,
    issue_id: int,
    *,
    until_count: int | None = None,
    until: datetime | None = None,
    reason: str | None = None,
) -> Issue:
    issue = get_issue(session, actor, issue_id, scope="deploy")
    before = _snapshot(issue)
    detail: dict[str, Any] = {}
    if until_count is not None:
        if not 1 <= until_count <= 1_000_000_000:
            raise InvalidInput("ignore until 1 to 1,000,000,000 more events")
        detail.update(until_count=until_count, count_at_ignore=issue.event_count)
    if until is not None:
        if until.tzinfo is None:
            until = until.replace(tzinfo=UTC)
        if until <= datetime.now(UTC):
            raise InvalidInput("ignore until a time in the future")
        detail["until"] = until.astimezone(UTC).isoformat()
    issue.status, issue.status_detail, issue.resolved_at = "ignored", detail, None
    _changed(session, actor, issue, "issue.ignore", before, reason)
    return issue


def reopen_issue(
    session: Session, actor: Actor, issue_id: int, *, reason: str | None = None
) -> Issue:
    issue = get_issue(session, actor, issue_id, scope="deploy")
    before = _snapshot(issue)
    issue.status, issue.status_detail, issue.resolved_at = "unresolved", None, None
    _changed(session, actor, issue, "issue.reopen", before, reason)
    return issue
