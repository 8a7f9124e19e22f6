"""The demo's deploy history: the shop's services, shop@2.2.0 → a hotfix → shop@2.3.0 two days
ago, with its 7-day window open, so `trimtab status`, `history`, `release show` and a refused
`deploy start` tell the story on a fresh install.

Rows are written with their past timestamps directly (a seed cannot wait for a runner); the
commands are harmless `echo`s, so a real deploy from the demo runs too.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from trimtab.demo.common import DEMO_ACTOR, SeedReport
from trimtab.domain.releases import services, stabilization
from trimtab.domain.releases.releases import create_release
from trimtab.store.models import AuditEntry, Deploy, DeployRun, Project, Release, utcnow

ECHO = "echo deploying {service} {version} to {env}"
# (release, {service: version}, actor, days ago, override reason)
HISTORY: list[tuple[str, dict[str, str], str, float, str | None]] = [
    (
        "shop@2.2.0",
        {"billing-api": "1.7.0", "pay-library": "4.1.0", "web-front": "2.2.0"},
        "user:mina (front-end)",
        12,
        None,
    ),
    (
        "shop@2.2.1",
        {"billing-api": "1.7.1"},
        "token:backend-ci",
        10,
        "payment provider rotates its certificate today; billing-api must trust the new one",
    ),
    (
        "shop@2.3.0",
        {"billing-api": "1.8.0", "pay-library": "4.2.0", "web-front": "2.3.0"},
        "user:mina (front-end)",
        2,
        None,
    ),
]
WAVES = {"billing-api": 0, "pay-library": 0, "web-front": 1}


def _services(session: Session, project: Project) -> None:
    def fields(**values: Any) -> services.ServiceFields:
        return services.ServiceFields(**values)

    services.create_service(
        session, DEMO_ACTOR, project.slug, "billing-api", fields(command=ECHO), manual=False
    )
    services.create_service(session, DEMO_ACTOR, project.slug, "pay-library", fields(), manual=True)
    services.create_service(
        session,
        DEMO_ACTOR,
        project.slug,
        "web-front",
        fields(command=ECHO, depends_on=["billing-api", "pay-library"], downtime=True),
        manual=False,
    )


def _deploy(
    session: Session,
    project: Project,
    release: Release,
    actor: str,
    at: datetime,
    reason: str | None,
) -> DeployRun:
    waves = sorted({WAVES[s] for s in release.services})
    run = DeployRun(
        project_id=project.id,
        environment="production",
        kind="release",
        release_id=release.id,
        state="success",
        waves=[[s for s in sorted(release.services) if WAVES[s] == w] for w in waves],
        actor=actor,
        overridden=reason is not None,
        override_reason=reason,
        created_at=at,
        finished_at=at + timedelta(minutes=9),
    )
    session.add(run)
    session.flush()
    for service, version in sorted(release.services.items()):
        wave = waves.index(WAVES[service])
        started = at + timedelta(minutes=1 + 4 * wave)
        manual = service == "pay-library"
        command = (
            None if manual else ECHO.format(service=service, version=version, env="production")
        )
        output = (
            "deployed by the payments team\n"
            if manual
            else f"[trimtab] $ {command}\ndeploying {service} {version} to production\n"
            "[trimtab] exit code 0\n"
        )
        session.add(
            Deploy(
                project_id=project.id,
                environment="production",
                service=service,
                version=version,
                command=command,
                actor=actor,
                result="success",
                created_at=at,
                started_at=started,
                finished_at=started + timedelta(minutes=3),
                output_tail=output,
                release_id=release.id,
                release_version=release.version,
                run_id=run.id,
                wave=wave,
                confirmed_by="user:jun (payments)" if manual else None,
            )
        )
    session.add(
        AuditEntry(
            at=at,
            actor=actor,
            action="deploy.start",
            target_type="deploy_run",
            target_id=str(run.id),
            project_id=project.id,
            environment="production",
            after={"release": release.version, "waves": run.waves},
            reason=reason,
            overridden=reason is not None,
        )
    )
    return run


def seed_releases(session: Session, project: Project, report: SeedReport) -> None:
    """SEED_STEPS entry: services, three releases in production, the open 2.3.0 window."""
    _services(session, project)
    now = utcnow()
    for version, versions, actor, days_ago, reason in HISTORY:
        at = now - timedelta(days=days_ago)
        release = create_release(session, DEMO_ACTOR, project.slug, version, versions)
        release.created_at = at - timedelta(hours=3)
        run = _deploy(session, project, release, actor, at, reason)
        stabilization.open_window(
            session,
            project.id,
            "production",
            release_version=version,
            release_id=release.id,
            services=sorted(versions),
            run_id=run.id,
            at=at + timedelta(minutes=9),
        )
    session.flush()
    report.notes.append(
        "services billing-api, pay-library (manual), web-front (downtime); releases shop@2.2.0, "
        "a hotfix shop@2.2.1 (window overridden), shop@2.3.0 in production 2 days ago, "
        "its 7-day window open"
    )
