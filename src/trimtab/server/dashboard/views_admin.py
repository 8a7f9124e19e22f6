"""Dashboard pages for a project's administration and the audit log: API tokens and DSN keys
(settings), alert targets, rules and the delivery log (alerts), and the audit log across the
projects the user can see.

Each form calls the same domain function as the API route (`tokens`, `keys`, `alerts`), so
scopes, environment binding and audit entries are the API's; a read-only user sees the lists
without forms and a forged post is refused by the domain. A secret made by a form (a token, a
target's signing secret) is shown once, on the page answering that POST, and never again: the
lists carry only its prefix, or whether there is one.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from trimtab.core.alerts import FORMATS, RULE_KINDS
from trimtab.domain.errors import DomainError, Forbidden, InvalidInput, NotFound
from trimtab.domain.reports import alert_delivery, alerts, usage
from trimtab.domain.reports.alerts import AlertDeliverySummary, AlertTargetSummary
from trimtab.domain.spine import audit, keys, projects, tokens, users
from trimtab.domain.spine.actors import SCOPES, Actor
from trimtab.domain.spine.audit import AuditEntrySummary
from trimtab.server.api.schemas import RowId
from trimtab.server.auth import session_actor, store_of
from trimtab.server.dashboard import pages
from trimtab.server.dashboard.pages import templates
from trimtab.store.models import MAX_BIG_ROW_ID, Project, utcnow

router = APIRouter(include_in_schema=False)

DELIVERIES_LISTED = 50
AUDIT_PAGE = 50
MAX_AUDIT_PAGE = 200
# Where an audit entry's target has a page: target type -> path under /projects/{slug}.
AUDIT_LINKS = {"flag": "flags", "release": "releases", "deploy_run": "deploys", "issue": "issues"}
TARGET_TYPES = (
    *AUDIT_LINKS,
    "deploy",
    "service",
    "dependency",
    "segment",
    "freeze",
    "maintenance",
    "token",
    "key",
    "alert_target",
    "alert_rule",
    "project",
    "environment",
)

templates.env.globals["usage_reason"] = usage.describe_outcome


def _text(value: str, what: str) -> str:
    """A form's text, trimmed; NUL is refused here, as the API refuses it in every body."""
    if "\x00" in value:
        raise InvalidInput(f"{what} cannot contain NUL characters")
    return value.strip()


def _optional(value: str, what: str) -> str | None:
    return _text(value, what) or None


def _number(value: str, what: str) -> int | None:
    value = _text(value, what)
    if not value:
        return None
    if not value.isdigit() or len(value) > 9:
        raise InvalidInput(f"{what} must be a whole number")
    return int(value)


def act(
    request: Request, csrf_token: str, action: Callable[[Session, Actor], object], back: str
) -> Response:
    """A button's post (revoke, delete): `action` through `pages.post`, then back to `back`."""

    def write(session: Session, actor: Actor) -> str:
        action(session, actor)
        return back

    return pages.post(request, csrf_token, write)


def _project_context(project: Project, actor: Actor) -> dict[str, Any]:
    """What the settings and alerts pages share: the project, its environments, whether the
    user sees the forms (the domain refuses a forged post either way), and no error yet."""
    return {
        "project": project,
        "environments": [e.name for e in project.environments],
        "can_admin": actor.has_scope("admin"),
        "error": None,
    }


# -- settings: API tokens and DSN keys -------------------------------------------------------


def _settings_url(slug: str) -> str:
    return f"/projects/{slug}/settings"


def _settings(slug: str, public_url: str) -> pages.Reader:
    def read(session: Session, actor: Actor) -> dict[str, Any]:
        project = projects.get_project(session, actor, slug)
        try:
            listed: list[tokens.TokenSummary] | None = tokens.list_tokens(
                session, actor, project_slug=slug
            )
        except Forbidden:
            listed = None  # tokens are for admins to see; the page says so
        return {
            **_project_context(project, actor),
            "tokens": listed,
            "keys": keys.list_key_summaries(session, actor, slug, public_url),
            "scopes": SCOPES,
            "created_token": None,
            "usage": [
                u.model_dump(mode="json")
                for u in usage.project_usage(session, actor, slug, now=datetime.now(UTC))
            ],
        }

    return read


@router.get("/projects/{slug}/settings", response_class=HTMLResponse)
def settings_page(request: Request, slug: str) -> Response:
    read = _settings(slug, request.app.state.settings.public_url)
    return pages.page(request, "settings.html", read)


@router.post("/projects/{slug}/settings/tokens")
def create_token(
    request: Request,
    slug: str,
    name: str = Form(default="", max_length=200),
    scope: str = Form(default="", max_length=20),
    environment: str = Form(default="", max_length=64),
    csrf_token: str = Form(default="", max_length=100),
) -> Response:
    """Create a token bound to this project (and an environment, if named); the page answering
    this post is the one place its secret is ever shown."""

    def write(session: Session, actor: Actor) -> dict[str, Any]:
        created = tokens.create_token(
            session,
            actor,
            _text(name, "a token's name"),
            [_text(scope, "the scope")] if scope else [],
            project_slug=slug,
            environment=_optional(environment, "the environment"),
        )
        return {"created_token": created}

    read = _settings(slug, request.app.state.settings.public_url)
    return pages.post_and_show(request, csrf_token, "settings.html", write, read)


@router.post("/projects/{slug}/settings/tokens/{token_id}/revoke")
def revoke_token(
    request: Request, slug: str, token_id: RowId, csrf_token: str = Form(default="", max_length=100)
) -> Response:
    def revoke(session: Session, actor: Actor) -> object:
        project = projects.get_project(session, actor, slug)
        token = tokens.revoke_token(session, actor, token_id)
        if token.project_id != project.id:
            # Revoked through another project's page: refuse, and the transaction rolls back.
            raise NotFound(f"project {slug!r} has no token {token_id}")
        return token

    return act(request, csrf_token, revoke, _settings_url(slug))


@router.post("/projects/{slug}/settings/keys")
def create_key(
    request: Request,
    slug: str,
    name: str = Form(default="default", max_length=200),
    rate_limit_per_minute: str = Form(default="", max_length=20),
    csrf_token: str = Form(default="", max_length=100),
) -> Response:
    def create(session: Session, actor: Actor) -> object:
        limit = _number(rate_limit_per_minute, "the rate limit")
        text = _text(name, "a key's name")
        return keys.create_key(session, actor, slug, text, rate_limit_per_minute=limit)

    return act(request, csrf_token, create, _settings_url(slug))


@router.post("/projects/{slug}/settings/keys/{public_key}/revoke")
def revoke_key(
    request: Request,
    slug: str,
    public_key: str,
    csrf_token: str = Form(default="", max_length=100),
) -> Response:
    def revoke(session: Session, actor: Actor) -> object:
        return keys.revoke_key(session, actor, slug, _text(public_key[:64], "a key"))

    return act(request, csrf_token, revoke, _settings_url(slug))


# -- alerts: targets, rules, the delivery log ------------------------------------------------


def _alerts_url(slug: str) -> str:
    return f"/projects/{slug}/alerts"


def masked_url(url: str) -> str:
    """A webhook URL with what may be a credential hidden: chat webhooks carry their token in
    the path or query, so only the origin and the path's last four characters are shown."""
    parts = urlsplit(url)
    rest = url[len(f"{parts.scheme}://{parts.netloc}") :]
    host = parts.hostname or ""
    origin = f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")
    if len(rest) <= 1:
        return origin + rest
    return f"{origin}/…{rest[-4:]}" if len(rest) > 8 else f"{origin}/…"


def _alerts(slug: str) -> pages.Reader:
    def read(session: Session, actor: Actor) -> dict[str, Any]:
        project = projects.get_project(session, actor, slug)
        targets = [AlertTargetSummary.of(t) for t in alerts.list_targets(session, actor, slug)]
        rules = [alerts.rule_summary(r, t) for r, t in alerts.list_rules(session, actor, slug)]
        try:
            rows = alerts.list_deliveries(session, actor, slug, limit=DELIVERIES_LISTED)
            deliveries: list[AlertDeliverySummary] | None = [
                AlertDeliverySummary.of(d, t) for d, t in rows
            ]
        except Forbidden:
            deliveries = None
        return {
            **_project_context(project, actor),
            "targets": [{"target": t, "shown_url": masked_url(t.url)} for t in targets],
            "rules": rules,
            "deliveries": deliveries,
            "deliveries_listed": DELIVERIES_LISTED,
            "formats": FORMATS,
            "rule_kinds": RULE_KINDS,
            "created_target": None,
        }

    return read


@router.get("/projects/{slug}/alerts", response_class=HTMLResponse)
def alerts_page(request: Request, slug: str) -> Response:
    return pages.page(request, "alerts.html", _alerts(slug))


@router.post("/projects/{slug}/alerts/targets")
def create_target(
    request: Request,
    slug: str,
    name: str = Form(default="", max_length=64),
    url: str = Form(default="", max_length=2000),
    format: str = Form(default="json", max_length=16),
    csrf_token: str = Form(default="", max_length=100),
) -> Response:
    """Create a webhook target; its signing secret is shown on the answering page only."""

    def write(session: Session, actor: Actor) -> dict[str, Any]:
        target, secret = alerts.create_target(
            session, actor, slug, _text(name, "a target's name"), _text(url, "the URL"), fmt=format
        )
        return {"created_target": {"name": target.name, "secret": secret}}

    return pages.post_and_show(request, csrf_token, "alerts.html", write, _alerts(slug))


@router.post("/projects/{slug}/alerts/targets/{ref}/test")
def test_target(
    request: Request, slug: str, ref: str, csrf_token: str = Form(default="", max_length=100)
) -> Response:
    """Send a test message now (what `trimtab alert test` does); its outcome is the newest row
    of the delivery log. Not through `pages.post`: the sending opens its own transactions
    around the request to the target, which must not hold the write lock while it waits."""
    resolved = session_actor(request)
    if resolved is None:
        return RedirectResponse("/login", status_code=303)
    actor, csrf = resolved
    settings = request.app.state.settings
    try:
        users.check_csrf(csrf, csrf_token)
        alert_delivery.send_test(
            store_of(request),
            actor,
            slug,
            ref[:64],
            settings.public_url,
            utcnow(),
            settings.outbound,
        )
    except DomainError as exc:
        return pages.problem(request, actor, csrf, exc)
    return RedirectResponse(f"{_alerts_url(slug)}#deliveries", status_code=303)


@router.post("/projects/{slug}/alerts/rules")
def create_rule(
    request: Request,
    slug: str,
    kind: str = Form(default="", max_length=32),
    target: str = Form(default="", max_length=64),
    name: str = Form(default="", max_length=64),
    environment: str = Form(default="", max_length=64),
    count: str = Form(default="", max_length=20),
    minutes: str = Form(default="", max_length=20),
    cooldown_minutes: str = Form(default="", max_length=20),
    csrf_token: str = Form(default="", max_length=100),
) -> Response:
    def create(session: Session, actor: Actor) -> object:
        cooldown = _number(cooldown_minutes, "the cooldown")
        return alerts.create_rule(
            session,
            actor,
            slug,
            kind=_text(kind, "the kind"),
            target=_text(target, "the target"),
            name=_optional(name, "a rule's name"),
            environment=_optional(environment, "the environment"),
            spike_count=_number(count, "the count"),
            spike_minutes=_number(minutes, "the minutes"),
            cooldown_minutes=60 if cooldown is None else cooldown,
        )

    return act(request, csrf_token, create, _alerts_url(slug))


@router.post("/projects/{slug}/alerts/rules/{ref}")
def update_rule(
    request: Request,
    slug: str,
    ref: str,
    kind: str = Form(default="", max_length=32),
    target: str = Form(default="", max_length=64),
    environment: str = Form(default="", max_length=64),
    count: str = Form(default="", max_length=20),
    minutes: str = Form(default="", max_length=20),
    cooldown_minutes: str = Form(default="", max_length=20),
    enabled: str = Form(default="", max_length=8),
    csrf_token: str = Form(default="", max_length=100),
) -> Response:
    """A rule's edit form (`trimtab alert rule set`). The form sends every field: an empty
    environment is every environment, an unticked box a disabled rule, and the spike fields
    count for a spike rule only (they stay filled in when the kind changes)."""

    def update(session: Session, actor: Actor) -> object:
        chosen = _text(kind, "the kind") or None
        spike = chosen == "issue.spike"
        env = _optional(environment, "the environment")
        return alerts.update_rule(
            session,
            actor,
            slug,
            _text(ref[:64], "a name"),
            kind=chosen,
            target=_optional(target, "the target"),
            environment=env,
            every_environment=env is None,
            spike_count=_number(count, "the count") if spike else None,
            spike_minutes=_number(minutes, "the minutes") if spike else None,
            cooldown_minutes=_number(cooldown_minutes, "the cooldown"),
            enabled=enabled == "yes",
        )

    return act(request, csrf_token, update, f"{_alerts_url(slug)}#rules")


@router.post("/projects/{slug}/alerts/{kind}/{ref}/delete")
def delete_alerting(
    request: Request,
    slug: str,
    kind: str,
    ref: str,
    csrf_token: str = Form(default="", max_length=100),
) -> Response:
    """Delete a target (with its rules and delivery log) or a rule, by name."""

    def delete(session: Session, actor: Actor) -> object:
        deleter = {"targets": alerts.delete_target, "rules": alerts.delete_rule}.get(kind)
        if deleter is None:
            raise NotFound(f"no alert {kind[:20]!r} to delete")
        return deleter(session, actor, slug, _text(ref[:64], "a name"))

    return act(request, csrf_token, delete, _alerts_url(slug))


# -- the audit log ---------------------------------------------------------------------------


def target_link(slug: str | None, entry: AuditEntrySummary) -> str | None:
    """The page of an audit entry's target, when it has one (a deploy step links its run)."""
    if slug is None:
        return None
    base = f"/projects/{quote(slug, safe='')}"
    if entry.target_type == "deploy":
        run_id = (entry.after or {}).get("run_id")
        return f"{base}/deploys/{run_id}" if isinstance(run_id, int) else None
    section = AUDIT_LINKS.get(entry.target_type)
    if section is None:
        return None
    return f"{base}/{section}/{quote(entry.target_id, safe='')}"


def _parse_target(value: str) -> tuple[str | None, tuple[str, str] | None]:
    """`flag` (every flag) or `flag:checkout` (that one) -> (type, None) or (None, (type, id))."""
    kind, sep, ident = value.partition(":")
    if not kind:
        raise InvalidInput("a target filter is a type (flag) or a type and id (flag:checkout)")
    return (kind, None) if not sep else (None, (kind, ident))


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    project: str = Query(default="", max_length=64),
    action: str = Query(default="", max_length=100),
    actor: str = Query(default="", max_length=200),
    target: str = Query(default="", max_length=260),
    before: int | None = Query(default=None, ge=1, le=MAX_BIG_ROW_ID),
    limit: int = Query(default=AUDIT_PAGE, ge=1, le=MAX_AUDIT_PAGE),
) -> Response:
    """The audit log, newest first, of every project the user can see; filtered by project,
    action prefix, actor and target, paged by the id of the last entry shown."""
    filters = {"project": project, "action": action, "actor": actor, "target": target}

    def read(session: Session, who: Actor) -> dict[str, Any]:
        visible = projects.list_projects(session, who)
        slugs = {p.id: p.slug for p in visible}
        project_id = who.project_id
        if project:
            project_id = projects.get_project(session, who, _text(project, "the project")).id
        target_type, exact = _parse_target(_text(target, "the target")) if target else (None, None)
        entries = audit.list_entries(
            session,
            project_id=project_id,
            action_prefix=_optional(action, "the action") if action else None,
            actor=_optional(actor, "the actor") if actor else None,
            target_type=target_type,
            target=exact,
            environment=projects.bound_environment(session, who),
            before=before,
            limit=limit,
        )
        rows = []
        for entry in entries:
            summary = AuditEntrySummary.of(entry)
            slug = slugs.get(entry.project_id) if entry.project_id is not None else None
            rows.append({"entry": summary, "slug": slug, "href": target_link(slug, summary)})
        older = None
        if len(entries) == limit:
            kept = {k: v for k, v in filters.items() if v}
            older = "/audit?" + urlencode({**kept, "before": entries[-1].id, "limit": limit})
        return {
            "rows": rows,
            "projects": [p.slug for p in visible],
            "filters": filters,
            "target_types": TARGET_TYPES,
            "older": older,
            "paged": before is not None,
        }

    return pages.page(request, "audit.html", read)
