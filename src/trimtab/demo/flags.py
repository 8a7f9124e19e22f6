"""The flags of the demo story (docs: SCENARIO): the risky payment page ramped to 25% and bound
to billing-api and pay-library, a maintenance banner, a string-variant redesign and a stale flag.

The dependencies themselves (`billing-api`, `pay-library`) are seeded by the dependencies
capability; the flag only names them.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from trimtab.demo.common import DEMO_ACTOR, SeedReport
from trimtab.domain.flags import flags, schedules
from trimtab.store.models import Flag, FlagConfig, Project, utcnow

LIVE = ("staging", "production")


def seed_flags(session: Session, project: Project, report: SeedReport) -> None:
    slug = project.slug
    now = utcnow()
    on = {env: {"enabled": True} for env in LIVE}
    flags.create_flag(
        session,
        DEMO_ACTOR,
        slug,
        "new-payment-page",
        description="The new payment page (shop@2.3.0); old page while billing or pay fails.",
        owner="front-end",
        tags=["payments", "release-2.3.0"],
        environments={
            env: {
                "enabled": True,
                "fallback": {"variant": "off", "dependencies": ["billing-api", "pay-library"]},
            }
            for env in LIVE
        },
    )
    steps = [
        {"at": (now - timedelta(days=1)).isoformat(), "percentage": 5},
        {"at": (now - timedelta(hours=2)).isoformat(), "percentage": 25},
        {"at": (now + timedelta(days=2)).isoformat(), "percentage": 50},
        {"at": (now + timedelta(days=4)).isoformat(), "percentage": 100},
    ]
    ramp = schedules.create_schedule(
        session,
        DEMO_ACTOR,
        slug,
        "new-payment-page",
        "production",
        "ramp",
        steps=steps,
        reason="ramp the new payment page over five days",
    )
    schedules.apply_step(session, ramp.id, now)  # today's step: 25%
    flags.rollout(session, DEMO_ACTOR, slug, "new-payment-page", "staging", 100)
    flags.create_flag(
        session,
        DEMO_ACTOR,
        slug,
        "maintenance-banner",
        description="Show the 'back soon' banner during web-front's downtime step.",
        owner="front-end",
        tags=["ops"],
    )
    redesign_rules = [
        {
            "id": "asia",
            "constraints": [{"attribute": "country", "operator": "in", "values": ["KR", "JP"]}],
            "serve": {"variant": "redesign"},
        },
        {
            "id": "half",
            "serve": {
                "split": [
                    {"variant": "classic", "weight": 50},
                    {"variant": "redesign", "weight": 50},
                ]
            },
        },
    ]
    flags.create_flag(
        session,
        DEMO_ACTOR,
        slug,
        "checkout-redesign",
        flag_type="string",
        description="Checkout layout experiment.",
        owner="front-end",
        tags=["experiment"],
        variants={"classic": "classic", "redesign": "redesign"},
        default_variant="classic",
        off_variant="classic",
        environments={env: {"enabled": True, "rules": redesign_rules} for env in LIVE},
    )
    flags.create_flag(
        session,
        DEMO_ACTOR,
        slug,
        "legacy-search",
        description="Old search backend switch; fully on since spring.",
        owner="backend",
        environments=on,
    )
    # Make legacy-search look its age, so the stale report has something to say.
    legacy = session.scalars(
        select(Flag).where(Flag.project_id == project.id, Flag.key == "legacy-search")
    ).one()
    legacy.created_at = now - timedelta(days=120)
    for config in session.scalars(select(FlagConfig).where(FlagConfig.flag_id == legacy.id)):
        config.changed_at = now - timedelta(days=90)
    for env in LIVE:
        flags.record_evaluations(
            session, project.id, env, {"legacy-search": {"on": 48_210}}, now - timedelta(days=60)
        )
        flags.record_evaluations(
            session, project.id, env, {"new-payment-page": {"on": 1_204, "off": 3_611}}, now
        )
    report.notes.append(
        "flags new-payment-page (25% ramp, fallback on billing-api / pay-library), "
        "maintenance-banner, checkout-redesign, legacy-search (stale)"
    )
