"""Dashboard pages for releases: what runs where per environment with its window or freeze, the
releases list, a release's page with its windows' verdicts, and starting a deploy from it.

Reads go through `domain.releases` (ledger, releases, stabilization, overview) and a deploy
starts through `deploys.start` with the refusal audited by `deploys.record_refusal`, exactly as
the API does, so the audit log cannot tell the dashboard from the CLI.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from trimtab.domain.errors import DomainError, InvalidInput
from trimtab.domain.releases import (
    deploys,
    ledger,
    overview,
    releases,
    runs,
    stabilization,
    timeline,
)
from trimtab.domain.spine import projects, users
from trimtab.domain.spine.actors import Actor
from trimtab.server.auth import session_actor, store_of
from trimtab.server.dashboard import event_view, pages, release_view
from trimtab.server.dashboard.pages import templates

router = APIRouter(include_in_schema=False)

RELEASES_LISTED = 50
RUNS_LISTED = 20

templates.env.globals.update(
    when=event_view.when,
    ago=event_view.ago,
    remaining=release_view.remaining,
    percent=release_view.percent,
    rate=release_view.rate,
    bar_rects=release_view.bar_rects,
    mark_lines=release_view.mark_lines,
)


@router.get("/projects/{slug}/releases", response_class=HTMLResponse)
def releases_page(request: Request, slug: str) -> Response:
    def read(session: Session, actor: Actor) -> dict[str, Any]:
        project = projects.get_project(session, actor, slug)
        running = ledger.status(session, actor, slug)
        gates = stabilization.freeze_statuses(
            session, actor, slug, [env.name for env in project.environments]
        )
        now = datetime.now(UTC)
        environments = [
            {
                "name": gate.environment,
                "gate": gate,
                "services": [s for s in running if s.environment == gate.environment],
                "windows": [w for w in gate.windows if w.environment == gate.environment],
                "freezes": [f for f in gate.freezes if f.active],
                "timeline": release_view.timeline(
                    timeline.environment_timeline(session, project.id, gate.environment, now)
                ),
            }
            for gate in gates
        ]
        return {
            "project": project,
            "environments": environments,
            "releases": overview.release_rows(session, actor, slug, RELEASES_LISTED),
            "runs": [
                runs.run_summary(session, r)
                for r in runs.list_runs(session, actor, slug, None, RUNS_LISTED)
            ],
            "now": now,
        }

    return pages.page(request, "releases.html", read)


def _release_context(
    session: Session, actor: Actor, slug: str, version: str, now: datetime
) -> dict[str, Any]:
    project = projects.get_project(session, actor, slug)
    detail = releases.release_detail(session, actor, slug, version)
    windows = []
    for window in detail.windows:
        verdict = overview.current_verdict(session, actor, slug, window.id, now)
        series = overview.window_series(session, actor, slug, window.id, now)
        baseline = verdict.numbers.events_per_hour_before
        windows.append(
            {"window": window, "verdict": verdict, "chart": release_view.chart(series, baseline)}
        )
    run_ids = sorted({d.run_id for d in detail.deploys if d.run_id is not None}, reverse=True)
    release_runs = [
        runs.run_summary(session, runs.get_run(session, actor, slug, i)[1]) for i in run_ids
    ]
    return {
        "project": project,
        "release": detail,
        "windows": windows,
        "runs": release_runs,
        "environments": [e.name for e in project.environments],
        "can_deploy": actor.has_scope("deploy"),
        "now": now,
        "refusal": None,
    }


@router.get("/projects/{slug}/releases/{version}", response_class=HTMLResponse)
def release_page(request: Request, slug: str, version: str) -> Response:
    def read(session: Session, actor: Actor) -> dict[str, Any]:
        return _release_context(session, actor, slug, version[:200], datetime.now(UTC))

    return pages.page(request, "release.html", read)


@router.post("/projects/{slug}/releases/{version}/deploy")
def start_deploy(
    request: Request,
    slug: str,
    version: str,
    environment: str = Form(max_length=64),
    csrf_token: str = Form(default="", max_length=100),
    auto_rollback: bool = Form(default=False),
    override: bool = Form(default=False),
    reason: str = Form(default="", max_length=1000),
) -> Response:
    """Start a deploy of the release; a refusal re-renders the release page with its reasons
    and the override form."""
    resolved = session_actor(request)
    if resolved is None:
        return RedirectResponse("/login", status_code=303)
    actor, csrf = resolved
    store = store_of(request)
    version = version[:200]
    try:
        users.check_csrf(csrf, csrf_token)
        if override and not reason.strip():
            raise InvalidInput("an override needs a reason: say why this deploy cannot wait")
        with store.write() as session:
            run = deploys.start(
                session,
                actor,
                slug,
                version,
                environment,
                override=override,
                reason=reason.strip() or None,
                auto_rollback=auto_rollback,
            )
            run_id = run.id
    except deploys.DeployRefused as refused:
        with store.write() as session:
            deploys.record_refusal(session, actor, slug, refused)
        return _refusal_page(request, actor, csrf, slug, version, environment, refused, None)
    except InvalidInput as exc:
        if not override:
            return pages.problem(request, actor, csrf, exc)
        return _refusal_page(request, actor, csrf, slug, version, environment, None, exc.detail)
    except DomainError as exc:
        return pages.problem(request, actor, csrf, exc)
    pages.wake_runner(request)
    return RedirectResponse(f"/projects/{slug}/deploys/{run_id}", status_code=303)


def _refusal_page(
    request: Request,
    actor: Actor,
    csrf: str,
    slug: str,
    version: str,
    environment: str,
    refused: deploys.DeployRefused | None,
    error: str | None,
) -> Response:
    """The release page with the refusal's reasons and the override form (reason required)."""
    try:
        with store_of(request).read() as session:
            context = _release_context(session, actor, slug, version, datetime.now(UTC))
            if refused is not None:
                messages = [r.message for r in refused.decision.refusals]
            else:
                messages = deploys.plan(session, actor, slug, version, environment).refusals
    except DomainError as exc:
        return pages.problem(request, actor, csrf, exc)
    context["refusal"] = {"environment": environment, "messages": messages, "error": error}
    # A refusal is the page doing its job (reasons and the override form), hence 200; an
    # override without a reason is a form to correct, 422.
    return pages.render(
        request, "release.html", actor, csrf, context, 200 if refused is not None else 422
    )
