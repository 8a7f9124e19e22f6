"""The demo seed tells the flags' part of the story."""

from __future__ import annotations

from trimtab.demo import workspace
from trimtab.domain.flags import flags, rule_sets, staleness
from trimtab.domain.spine import projects
from trimtab.domain.spine.actors import Actor
from trimtab.store.db import Store
from trimtab.store.models import Organization

ADMIN = Actor("user", "alice", frozenset({"admin"}))


def test_demo_seed__flags__ramped_payment_page_bound_to_dependencies_and_a_stale_flag(
    store: Store,
) -> None:
    with store.write() as session:
        session.add(Organization(slug="acme", name="acme"))
        session.flush()
        assert workspace.seed(session).created
    with store.read() as session:
        project = projects.get_project(session, ADMIN, "shop")
        by_key = {
            c["key"]: c for c in rule_sets.load_flag_set(session, project.id, "production").configs
        }
        stale = staleness.stale_flags(session, ADMIN, "shop", environment="production")
    page = by_key["new-payment-page"]
    assert flags.rollout_percentage(page) == 25
    assert page["fallback"] == {"variant": "off", "dependencies": ["billing-api", "pay-library"]}
    assert set(by_key) == {
        "new-payment-page",
        "maintenance-banner",
        "checkout-redesign",
        "legacy-search",
    }
    assert [r.key for r in stale] == ["legacy-search"]
