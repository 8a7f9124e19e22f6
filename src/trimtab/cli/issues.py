"""`trimtab issues` and `trimtab events`: read error reports and triage them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer

from trimtab.cli.context import state
from trimtab.cli.output import emit, print_json, say

issues_app = typer.Typer(
    help="Issues (grouped error reports): list, show, resolve, ignore, reopen.",
    no_args_is_help=True,
)
events_app = typer.Typer(help="Single error events, with everything the SDK sent.")

ISSUE_COLUMNS = [
    "id",
    "project",
    "status",
    "level",
    "title",
    "event_count",
    "user_count",
    "last_seen",
    "last_release",
]
Reason = Annotated[str | None, typer.Option(help="Why (kept in the audit log).")]


@issues_app.command("list")
def issues_list(
    ctx: typer.Context,
    project: Annotated[str | None, typer.Option("--project", "-p", help="Project slug.")] = None,
    env: Annotated[str | None, typer.Option("--env", help="Only issues seen there.")] = None,
    release: Annotated[str | None, typer.Option(help="Only issues seen in this release.")] = None,
    status: Annotated[
        str | None,
        typer.Option(help="unresolved, resolved, resolved_in_next_release or ignored."),
    ] = None,
    query: Annotated[str | None, typer.Option(help="Text the title contains.")] = None,
    sort: Annotated[str, typer.Option(help="last_seen, first_seen, events or users.")] = (
        "last_seen"
    ),
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
) -> None:
    """List issues, most recently seen first."""
    s = state(ctx)
    found = s.client().get(
        "/api/v1/issues",
        project=project,
        environment=env,
        release=release,
        status=status,
        query=query,
        sort=sort,
        limit=limit,
    )
    emit(found, as_json=s.as_json, columns=ISSUE_COLUMNS)


@issues_app.command("show")
def issues_show(ctx: typer.Context, issue_id: int) -> None:
    """Show an issue: counts per release and environment, top tag values, latest event, and
    what users wrote about it."""
    s = state(ctx)
    issue = s.client().get(f"/api/v1/issues/{issue_id}")
    if s.as_json:
        print_json(issue)
        return
    _print_issue(issue)
    if issue.get("feedback_count"):
        found = s.client().get(f"/api/v1/issues/{issue_id}/feedback", limit=FEEDBACK_SHOWN)
        emit(found, as_json=False, columns=FEEDBACK_COLUMNS, title="user feedback")


FEEDBACK_SHOWN = 10
FEEDBACK_COLUMNS = ["received_at", "name", "email", "message", "event_id"]


def _print_issue(issue: dict[str, Any]) -> None:
    summary = {k: issue[k] for k in ISSUE_COLUMNS if k != "last_release"}
    summary.update(
        culprit=issue["culprit"],
        status_detail=issue["status_detail"],
        first_seen=issue["first_seen"],
        first_release=issue["first_release"],
        last_release=issue["last_release"],
        first_environment=issue["first_environment"],
        regressed_in_release=issue["regressed_in_release"],
        latest_event_id=issue["latest_event_id"],
        feedback_count=issue.get("feedback_count", 0),
    )
    emit(summary, as_json=False)
    for title, rows in (("releases", issue["releases"]), ("environments", issue["environments"])):
        if rows:
            emit(rows, as_json=False, columns=["value", "count", "last_seen"], title=title)
    tags = [
        {"tag": tag["key"], "value": value["value"], "count": value["count"]}
        for tag in issue["tags"]
        for value in tag["values"][:3]
    ]
    if tags:
        emit(tags, as_json=False, columns=["tag", "value", "count"], title="top tag values")


def _act(ctx: typer.Context, issue_id: int, action: str, body: dict[str, Any]) -> None:
    s = state(ctx)
    issue = s.client().post(f"/api/v1/issues/{issue_id}/{action}", body)
    if s.as_json:
        print_json(issue)
    else:
        detail = f" {issue['status_detail']}" if issue["status_detail"] else ""
        say(f"issue {issue['id']} is now {issue['status']}{detail}: {issue['title']}")


@issues_app.command("resolve")
def issues_resolve(
    ctx: typer.Context,
    issue_id: int,
    in_next_release: Annotated[
        bool, typer.Option("--in-next-release", help="Only events of a newer release reopen it.")
    ] = False,
    in_release: Annotated[
        str | None, typer.Option(help="Fixed in this release: events from it on reopen it.")
    ] = None,
    reason: Reason = None,
) -> None:
    """Resolve an issue; a later event (from the fixed release on) reopens it as a regression."""
    body = {"in_next_release": in_next_release, "in_release": in_release, "reason": reason}
    _act(ctx, issue_id, "resolve", body)


@issues_app.command("ignore")
def issues_ignore(
    ctx: typer.Context,
    issue_id: int,
    count: Annotated[
        int | None, typer.Option("--count", min=1, help="Until this many more events.")
    ] = None,
    until: Annotated[
        datetime | None, typer.Option(help="Until this time (UTC unless it says otherwise).")
    ] = None,
    reason: Reason = None,
) -> None:
    """Ignore an issue, forever or until N more events / a time."""
    body = {
        "until_count": count,
        "until": until.isoformat() if until is not None else None,
        "reason": reason,
    }
    _act(ctx, issue_id, "ignore", body)


@issues_app.command("reopen")
def issues_reopen(ctx: typer.Context, issue_id: int, reason: Reason = None) -> None:
    """Mark an issue unresolved again."""
    _act(ctx, issue_id, "reopen", {"reason": reason})


@events_app.command("show")
def events_show(
    ctx: typer.Context,
    event_id: str,
    project: Annotated[str | None, typer.Option("--project", "-p", help="Project slug.")] = None,
) -> None:
    """Show one event: exception, breadcrumbs, contexts, user, tags, extra (JSON with --json)."""
    s = state(ctx)
    event = s.client().get(f"/api/v1/events/{event_id}", project=project)
    if s.as_json:
        print_json(event)
        return
    head = {
        k: event[k]
        for k in ("event_id", "project", "issue_id", "title", "culprit", "level", "timestamp")
    }
    head.update(release=event["release"], environment=event["environment"], user=event["user"])
    emit(head, as_json=False)
    for exc in event["exception"]:
        say(f"\n{exc.get('type')}: {exc.get('value')}")
        frames = (exc.get("stacktrace") or {}).get("frames") or []
        for frame in frames[-10:]:
            mark = "*" if frame.get("in_app") else " "
            where = frame.get("module") or frame.get("filename")
            say(
                f"  {mark} {where} in {frame.get('function')} line {frame.get('lineno')}",
            )
    crumbs = [
        {
            "timestamp": c.get("timestamp"),
            "category": c.get("category"),
            "message": c.get("message"),
        }
        for c in event["breadcrumbs"]
    ]
    if crumbs:
        emit(crumbs, as_json=False, title="breadcrumbs")
    if event["tags"]:
        emit(event["tags"], as_json=False, columns=["key", "value"], title="tags")
    for name, value in (event["contexts"] or {}).items():
        emit(value if isinstance(value, dict) else {"value": value}, as_json=False, title=name)
    if event["extra"]:
        emit(event["extra"], as_json=False, title="extra")
