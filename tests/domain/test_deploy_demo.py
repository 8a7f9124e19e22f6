"""The demo workspace tells the release story: what runs, the open window, the override."""

from __future__ import annotations

from trimtab.demo import workspace
from trimtab.domain.releases import ledger, stabilization
from trimtab.domain.spine import projects
from trimtab.domain.spine.actors import SYSTEM
from trimtab.store.db import Store
from trimtab.store.models import utcnow


def test_demo_seed__shop__ledger_window_and_override(store: Store) -> None:
    with store.write() as session:
        projects.ensure_organization(session, "trimtab")
        assert workspace.seed(session).created
    with store.read() as session:
        status = {r.service: r for r in ledger.status(session, SYSTEM, "shop", "production")}
        assert {s: r.version for s, r in status.items()} == {
            "billing-api": "1.8.0",
            "pay-library": "4.2.0",
            "web-front": "2.3.0",
        }
        project = projects.get_project(session, SYSTEM, "shop")
        decision = stabilization.check_deploy(
            session, project.id, "production", utcnow(), override=False, reason=None
        )
        assert not decision.allowed
        assert "shop@2.3.0" in decision.refusals[0].message
        history = ledger.history(session, SYSTEM, "shop", service="billing-api")
        assert [d.version for d in history] == ["1.8.0", "1.7.1", "1.7.0"]
        from trimtab.domain.spine.audit import list_entries

        overrides = [e for e in list_entries(session, project_id=project.id) if e.overridden]
        assert len(overrides) == 1 and "certificate" in (overrides[0].reason or "")
