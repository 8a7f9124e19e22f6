"""The demo workspace's dependencies: billing-api and pay-library, which `new-payment-page` is
bound to, with yesterday's billing timeout in billing-api's history, and a guard on the flag.

No probe is configured: the demo cannot know where billing runs. `trimtab dependency set
billing-api -p shop --probe-url http://127.0.0.1:8000/healthz` makes the server probe itself.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from trimtab.demo.common import DEMO_ACTOR, SeedReport
from trimtab.domain.flags import auto_off, dependencies
from trimtab.store.models import DependencyTransition, Flag, Project, utcnow


def seed_dependencies(session: Session, project: Project, report: SeedReport) -> None:
    billing = dependencies.create_dependency(
        session,
        DEMO_ACTOR,
        project.slug,
        "billing-api",
        description="Billing API (backend team): charges and refunds.",
        settings={"max_errors": 50, "down_after": 2, "up_after": 3},
    )
    dependencies.create_dependency(
        session,
        DEMO_ACTOR,
        project.slug,
        "pay-library",
        description="Payments library service (payments team): card tokenization.",
        settings={"failure_rate": 0.3},
    )
    # Yesterday's bad day (step 6 of the story): billing timed out for six minutes.
    went_down = utcnow() - timedelta(days=1, hours=2)
    came_back = went_down + timedelta(minutes=6)
    session.add_all(
        [
            DependencyTransition(
                dependency_id=billing.id,
                project_id=project.id,
                from_state="healthy",
                to_state="unhealthy",
                at=went_down,
                reason="3 SDK instance(s) report an open circuit; SDKs saw 41 of 52 calls fail",
                signals={"sdk": {"successes": 11, "failures": 9, "timeouts": 32}},
            ),
            DependencyTransition(
                dependency_id=billing.id,
                project_id=project.id,
                from_state="unhealthy",
                to_state="healthy",
                at=came_back,
                reason="3 good checks in a row",
                signals={"sdk": {"successes": 64, "failures": 0, "timeouts": 0}},
            ),
        ]
    )
    billing.state_since = came_back
    has_flag = session.scalars(
        select(Flag.id).where(Flag.project_id == project.id, Flag.key == "new-payment-page")
    ).first()
    if has_flag is not None:
        auto_off.set_auto_off(
            session,
            DEMO_ACTOR,
            project.slug,
            "new-payment-page",
            "production",
            max_errors=200,
            window_s=600,
        )
    report.notes.append(
        "dependencies billing-api (timed out yesterday for 6 min) and pay-library; "
        "new-payment-page guarded in production"
    )
