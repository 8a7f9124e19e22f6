"""`trimtab serve` names the demo project's DSN only for the workspace `trimtab demo seed` made,
not for any project someone named shop."""

from __future__ import annotations

from trimtab.demo import workspace
from trimtab.domain.spine import projects
from trimtab.domain.spine.actors import SYSTEM
from trimtab.store.db import Store

URL = "http://127.0.0.1:8000"


def test_demo_dsn__a_project_named_shop_not_seeded__none(store: Store) -> None:
    with store.write() as session:
        projects.ensure_organization(session, "trimtab")
        projects.create_project(session, SYSTEM, "shop")
    with store.read() as session:
        assert workspace.demo_dsn(session, URL) is None
    with store.write() as session:
        assert not workspace.seed(session).created  # the seed leaves someone's shop alone
    with store.read() as session:
        assert workspace.demo_dsn(session, URL) is None


def test_demo_dsn__seeded_demo__its_dsn(store: Store) -> None:
    with store.read() as session:
        assert workspace.demo_dsn(session, URL) is None  # no project at all
    with store.write() as session:
        projects.ensure_organization(session, "trimtab")
        assert workspace.seed(session).created
    with store.read() as session:
        dsn = workspace.demo_dsn(session, URL)
        project = projects.get_project(session, SYSTEM, "shop")
    assert dsn is not None and dsn.endswith(f"@127.0.0.1:8000/{project.id}")
