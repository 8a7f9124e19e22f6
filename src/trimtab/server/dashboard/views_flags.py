"""Dashboard pages for feature flags: the list per environment, one flag's page with its
evaluation chart (per hour, 24 h or 7 d), and its actions (`flag_actions`): on / off, kill
switch, rollout percentage, schedules, and the rules, default, off variant and variants editor.

Reads go through `domain.flags` (the same typed results as the API); every action calls the
same domain function as its API route, so the audit entry, the scope and environment-binding
checks and the push to connected SDKs are the API's. A session's user acts with the scopes the
session carries (an admin user `admin`, others `read`): a read-only user sees no action forms,
and a forged POST is refused by the domain. Every form carries the session's CSRF token.

A refused action re-renders the flag page with the server's reason, never a JSON error. Both
pages mark a live region that `static/live.js` refreshes (htmx) on the project's
`flags.changed` events from the change stream.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from trimtab.domain.errors import DomainError, NotFound
from trimtab.domain.flags import auto_off, evaluation_hours, flags, schedules, segments
from trimtab.domain.flags.flag_list import flag_list_page
from trimtab.domain.spine import audit, projects
from trimtab.domain.spine.actors import Actor
from trimtab.domain.spine.audit import AuditEntrySummary
from trimtab.server.dashboard import flag_actions, flag_chart, flag_view, pages
from trimtab.server.dashboard.flag_actions import ActionForm
from trimtab.server.dashboard.pages import templates
from trimtab.store.models import Project, utcnow

router = APIRouter(include_in_schema=False)

AUDIT_SHOWN = 30
MAX_PAGE = 10_000
FIELD = flag_actions.FIELD

templates.env.globals.update(
    rule_lines=flag_view.rule_lines,
    constraint_text=flag_view.constraint_text,
    change_text=flag_view.change_text,
    rules_text=flag_actions.rules_text,
    rules_version=flag_actions.rules_version,
)


def _page_of(project: Project, live_url: str) -> dict[str, Any]:
    """What both flag pages add: the project, and the URL their live region re-fetches."""
    return {"project": {"slug": project.slug, "name": project.name}, "live_url": live_url}


@router.get("/projects/{slug}/flags", response_class=HTMLResponse)
def flag_list(
    request: Request,
    slug: str,
    env: str | None = Query(default=None, max_length=FIELD),
    q: str | None = Query(default=None, max_length=200),
    tag: str | None = Query(default=None, max_length=FIELD),
    page: int = Query(default=1, ge=1, le=MAX_PAGE),
) -> Response:
    query = request.url.query
    live_url = request.url.path + (f"?{query}" if query else "")

    def read(session: Session, actor: Actor) -> dict[str, Any]:
        project = projects.get_project(session, actor, slug)
        listed = flag_list_page(
            session, actor, slug, environment=env, query=q or "", tag=tag or None, page=page
        )
        filters = {"env": listed.environment or "", "q": q or "", "tag": tag or ""}

        def page_url(number: int) -> str:
            return "?" + urlencode({**filters, "page": number})

        return {
            **_page_of(project, live_url),
            "listed": listed,
            "environments": listed.environments,
            "env": listed.environment,
            "rows": listed.rows,
            "filters": filters,
            "prev_url": page_url(listed.page - 1) if listed.page > 1 else None,
            "next_url": page_url(listed.page + 1) if listed.page < listed.pages else None,
        }

    return pages.page(request, "flags.html", read)


@router.get("/projects/{slug}/flags/{key}", response_class=HTMLResponse)
def flag_page(
    request: Request, slug: str, key: str, span: str = Query(default="24h", max_length=8)
) -> Response:
    return pages.page(request, "flag.html", _flag_reader(slug, key, span=span))


def _charts(
    session: Session, project: Project, detail: flags.FlagDetail, span: str
) -> list[flag_chart.EvaluationChart]:
    """Evaluations per hour in each environment the actor reaches, over `span`."""
    reached = {e.id: e.name for e in project.environments if e.name in detail.environments}
    series = evaluation_hours.hourly(
        session, project.id, reached, detail.key, utcnow(), flag_chart.SPANS[span]
    )
    return [flag_chart.chart(s, span) for s in series]


def _flag_reader(
    slug: str,
    key: str,
    error: DomainError | None = None,
    form: dict[str, ActionForm] | None = None,
    span: str = "24h",
) -> pages.Reader:
    """The flag page's read; after a refused action, with the reason and the form as filled."""
    span = span if span in flag_chart.SPANS else "24h"
    suffix = "" if span == "24h" else f"?span={span}"

    def read(session: Session, actor: Actor) -> dict[str, Any]:
        project = projects.get_project(session, actor, slug)
        detail = flags.flag_detail(session, actor, slug, key)
        guards = [g for g in auto_off.list_auto_off_rules(session, actor, slug) if g.flag == key]
        trail = [
            AuditEntrySummary.of(e)
            for e in audit.list_entries(
                session, project_id=project.id, target=("flag", key), limit=AUDIT_SHOWN
            )
        ]
        known_segments = {s.name: s for s in segments.list_segments(session, actor, slug)}
        used = sorted(
            {
                name
                for config in detail.environments.values()
                for name in flag_view.segments_used(config.rules)
            }
        )
        return {
            # Also after a refused POST: the live region reads the flag's page, not the form's.
            **_page_of(project, f"/projects/{project.slug}/flags/{quote(key)}{suffix}"),
            "flag": detail,
            "schedules": schedules.list_schedules(session, actor, slug, key),
            "guards": {g.environment: g for g in guards},
            "audit": trail,
            "segments": [(n, known_segments.get(n)) for n in used],
            "can_operate": actor.has_scope(flags.OPERATION_SCOPE) and not detail.archived,
            "can_define": actor.has_scope(flags.DEFINITION_SCOPE) and not detail.archived,
            "charts": _charts(session, project, detail, span),
            "span": span,
            "spans": list(flag_chart.SPANS),
            "error": error.detail if error else None,
            "error_status": error.status if error else None,
            "form": form or {},
        }

    return read


# Where the page scrolls back to after an action (by default, the environment's card).
ANCHORS = {"variants": "variants", "schedule": "schedules", "unschedule": "schedules"}


@router.post("/projects/{slug}/flags/{key}/{action}")
def flag_action(
    request: Request,
    slug: str,
    key: str,
    action: str,
    form: Annotated[ActionForm, Form()],
) -> Response:
    """Apply the action, then go back to the flag page; a refusal shows the page again with
    the reason and the form as filled in."""

    def write(session: Session, actor: Actor) -> str:
        change = flag_actions.ACTIONS.get(action)
        if change is None:
            raise NotFound(f"no flag action {action!r}")
        change(session, actor, slug, key, form)
        anchor = ANCHORS.get(action) or f"env-{quote(form.environment)}"
        return f"/projects/{slug}/flags/{quote(key)}#{anchor}"

    def refused(actor: Actor, csrf: str, exc: DomainError) -> Response:
        reader = _flag_reader(slug, key, error=exc, form={action: form})
        return pages.page_as(request, "flag.html", reader, actor, csrf, exc.status)

    return pages.post(request, form.csrf_token, write, refused)
