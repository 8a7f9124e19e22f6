"""The demo seed tells the dependencies' part of the story."""

from __future__ import annotations

from trimtab.demo import workspace
from trimtab.domain.flags import auto_off, dependencies
from trimtab.domain.spine.actors import Actor
from trimtab.store.db import Store
from trimtab.store.models import Organization

ADMIN = Actor("user", "alice", frozenset({"admin"}))


def test_demo_seed__dependencies__bound_to_the_payment_page_with_yesterdays_outage(
    store: Store,
) -> None:
    with store.write() as session:
        session.add(Organization(slug="acme", name="acme"))
        session.flush()
        assert workspace.seed(session).created
    with store.read() as session:
        listed = {d.name: d for d in dependencies.list_dependencies(session, ADMIN, "shop")}
        billing = dependencies.dependency_detail(session, ADMIN, "shop", "billing-api")
        [guard] = auto_off.list_auto_off_rules(session, ADMIN, "shop")
    assert set(listed) == {"billing-api", "pay-library"}
    assert all(d.state == "healthy" for d in listed.values())
    assert listed["billing-api"].flags == ["new-payment-page"]
    assert [(h.from_state, h.to_state) for h in billing.history] == [
        ("unhealthy", "healthy"),
        ("healthy", "unhealthy"),
    ]
    assert (guard.flag, guard.environment, guard.max_errors) == (
        "new-payment-page",
        "production",
        200,
    )
