"""domain.flags.flag_list on a real store: the filters match across every flag, a page holds
its flags in key order with their state, stale marks and fallbacks in the environment shown."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from trimtab.domain.flags import dependencies, flags
from trimtab.domain.flags.dependency_health import ProbeResult, check
from trimtab.domain.flags.flag_list import FlagListPage, flag_list_page
from trimtab.domain.spine import projects
from trimtab.domain.spine.actors import Actor
from trimtab.store.db import Store
from trimtab.store.models import Dependency, Flag, Organization, utcnow

ADMIN = Actor("user", "alice", frozenset({"admin"}))
FLAGS = 45
PER_PAGE = 20
FALLBACK = {"variant": "off", "dependencies": ["billing-api"]}


@pytest.fixture
def shop(store: Store) -> Store:
    """45 flags `flag-000`..`flag-044` (the last archived); every tenth tagged `beta`, every
    seventh owned by payments; flag-043 serves its fallback in production while billing-api
    is unhealthy."""
    with store.write() as session:
        session.add(Organization(slug="acme", name="acme"))
        session.flush()
        projects.create_project(session, ADMIN, "shop")
        dependencies.create_dependency(
            session, ADMIN, "shop", "billing-api", settings={"down_after": 1, "up_after": 1}
        )
        for n in range(FLAGS):
            flags.create_flag(
                session,
                ADMIN,
                "shop",
                f"flag-{n:03d}",
                description=f"Flag number {n}",
                owner="Payments" if n % 7 == 0 else "web",
                tags=["beta"] if n % 10 == 0 else [],
                environments={
                    "production": {
                        "enabled": n % 2 == 1,
                        **({"fallback": FALLBACK} if n == 43 else {}),
                    }
                },
            )
        flags.archive_flag(session, ADMIN, "shop", "flag-044")
    return store


def _page(store: Store, **filters: object) -> FlagListPage:
    with store.read() as session:
        return flag_list_page(session, ADMIN, "shop", per_page=PER_PAGE, **filters)  # type: ignore[arg-type]


def _keys(listed: FlagListPage) -> list[str]:
    return [row.flag.key for row in listed.rows]


def test_flag_list_page__no_filter__pages_in_key_order_archived_left_out(
    shop: Store,
) -> None:
    first = _page(shop)
    assert (first.total, first.matched, first.page, first.pages) == (44, 44, 1, 3)
    assert _keys(first) == [f"flag-{n:03d}" for n in range(20)]
    assert first.environment == "production"
    assert first.environments == list(projects.DEFAULT_ENVIRONMENTS)
    last = _page(shop, page=3)
    assert _keys(last) == [f"flag-{n:03d}" for n in range(40, 44)]
    assert _page(shop, page=99).page == 3  # past the end: the last page
    assert _page(shop, page=0).page == 1
    assert first.tags == ["beta"]


def test_flag_list_page__search_and_tag__match_across_all_flags(shop: Store) -> None:
    found = _page(shop, query="  NUMBER 4")  # flag-004, flag-040..flag-043 (044 is archived)
    assert _keys(found) == ["flag-004", "flag-040", "flag-041", "flag-042", "flag-043"]
    assert (found.matched, found.total, found.pages) == (5, 44, 1)
    by_owner = _page(shop, query="payments")
    assert _keys(by_owner) == [f"flag-{n:03d}" for n in range(0, 44, 7)]
    tagged = _page(shop, tag="beta", query="payments")
    assert _keys(tagged) == ["flag-000"]
    assert _keys(_page(shop, tag="beta")) == [
        "flag-000",
        "flag-010",
        "flag-020",
        "flag-030",
        "flag-040",
    ]
    assert _page(shop, query="no such flag").rows == []
    assert _page(shop, query="no such flag").pages == 1


def test_flag_list_page__rows__state_stale_and_fallback_in_the_environment_shown(
    shop: Store,
) -> None:
    with shop.write() as session:
        # flag-040 was made 40 days ago and nobody has evaluated it since.
        session.execute(
            update(Flag)
            .where(Flag.key == "flag-040")
            .values(created_at=utcnow() - timedelta(days=40))
        )
        billing = session.scalars(select(Dependency)).one()
        bad = ProbeResult(ok=False, status=503, error="HTTP 503", elapsed_ms=1.0)
        check(session, billing, utcnow(), bad)
    rows = {row.flag.key: row for row in _page(shop, page=3).rows}
    assert rows["flag-040"].stale == ["never evaluated in 30 days"]
    assert rows["flag-041"].stale == []
    assert rows["flag-043"].fallback == ["billing-api"]
    assert rows["flag-043"].flag.environments["production"].enabled is True
    assert rows["flag-042"].flag.environments["production"].enabled is False
    assert all(row.fallback == [] for key, row in rows.items() if key != "flag-043")
    staging = {row.flag.key: row for row in _page(shop, page=3, environment="staging").rows}
    assert staging["flag-043"].fallback == []  # its fallback is bound in production only
    assert staging["flag-040"].stale == ["never evaluated in 30 days"]
