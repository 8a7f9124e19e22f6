"""domain.flags on a real store: configs validated by the core, audited, announced, revisioned."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from trimtab.domain.errors import Conflict, Forbidden, InvalidInput
from trimtab.domain.flags import flags, rule_sets, segments
from trimtab.domain.spine import projects
from trimtab.domain.spine.actors import Actor
from trimtab.store.db import Store
from trimtab.store.models import AuditEntry, FlagEvaluationStat, Organization
from trimtab.store.notify import Change

ADMIN = Actor("user", "alice", frozenset({"admin"}))
DEPLOYER = Actor("token", "ci", frozenset({"deploy"}))
READER = Actor("token", "viewer", frozenset({"read"}))


@pytest.fixture
def shop(store: Store) -> Store:
    with store.write() as session:
        session.add(Organization(slug="acme", name="acme"))
        session.flush()
        projects.create_project(session, ADMIN, "shop")
    return store


def _flag_set(store: Store, env: str = "production") -> rule_sets.FlagSet:
    with store.read() as session:
        project = projects.get_project(session, ADMIN, "shop")
        return rule_sets.load_flag_set(session, project.id, env)


def test_create_flag__new_boolean__off_everywhere_and_in_every_flag_set(shop: Store) -> None:
    with shop.write() as session:
        flags.create_flag(session, ADMIN, "shop", "new-payment-page", description="new page")
    flag_set = _flag_set(shop)
    (config,) = flag_set.configs
    assert config["key"] == "new-payment-page"
    assert config["enabled"] is False
    assert config["variants"] == {"on": True, "off": False}
    assert flag_set.revision == 1
    assert flag_set.etag == f'"{flag_set.environment_id}-1"'


def test_set_enabled__flip__bumps_revision_audits_and_announces_new_etag(shop: Store) -> None:
    published: list[Change] = []
    shop.notifier.publish = lambda change: published.append(change) or change  # type: ignore[method-assign]
    with shop.write() as session:
        flags.create_flag(session, ADMIN, "shop", "banner")
    published.clear()
    with shop.write() as session:
        flags.set_enabled(session, DEPLOYER, "shop", "banner", "production", True, "launch")
    flag_set = _flag_set(shop)
    assert flag_set.configs[0]["enabled"] is True
    assert [(c.kind, c.environment, c.data["etag"]) for c in published] == [
        ("flags.changed", "production", flag_set.etag)
    ]
    with shop.read() as session:
        entry = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
    assert entry is not None
    assert (entry.action, entry.actor, entry.reason) == ("flag.on", "token:ci", "launch")
    assert entry.before["enabled"] is False and entry.after["enabled"] is True


def test_kill__without_reason__refused_and_nothing_written(shop: Store) -> None:
    with shop.write() as session:
        flags.create_flag(
            session, ADMIN, "shop", "banner", environments={"production": {"enabled": True}}
        )
    with pytest.raises(InvalidInput, match="reason"), shop.write() as session:
        flags.kill(session, DEPLOYER, "shop", "banner", "production", "  ")
    assert _flag_set(shop).configs[0]["enabled"] is True


def test_set_config__bad_rule__refused_naming_the_field(shop: Store) -> None:
    with shop.write() as session:
        flags.create_flag(session, ADMIN, "shop", "banner")
    rules = [
        {
            "constraints": [{"attribute": "country", "operator": "nope", "values": ["KR"]}],
            "serve": {"variant": "on"},
        }
    ]
    field = r"rules\[0\]\.constraints\[0\]\.operator"
    with pytest.raises(InvalidInput, match=field), shop.write() as session:
        flags.set_config(session, ADMIN, "shop", "banner", "production", {"rules": rules})


def test_set_config__prerequisite_cycle__refused(shop: Store) -> None:
    with shop.write() as session:
        flags.create_flag(session, ADMIN, "shop", "a")
        flags.create_flag(session, ADMIN, "shop", "b")
        flags.set_config(
            session, ADMIN, "shop", "b", "production", {"prerequisites": [{"flag": "a"}]}
        )
    with pytest.raises(InvalidInput, match="cycle"), shop.write() as session:
        flags.set_config(
            session, ADMIN, "shop", "a", "production", {"prerequisites": [{"flag": "b"}]}
        )


def test_set_config__deploy_token__forbidden_but_may_flip(shop: Store) -> None:
    with shop.write() as session:
        flags.create_flag(session, ADMIN, "shop", "banner")
    with pytest.raises(Forbidden), shop.write() as session:
        flags.set_config(session, DEPLOYER, "shop", "banner", "production", {"salt": "x"})
    with pytest.raises(Forbidden), shop.write() as session:
        flags.set_enabled(session, READER, "shop", "banner", "production", True, None)


def test_rollout__boolean_flag__adds_rule_and_keeps_others_off(shop: Store) -> None:
    with shop.write() as session:
        flags.create_flag(
            session, ADMIN, "shop", "page", environments={"production": {"enabled": True}}
        )
        flags.rollout(session, DEPLOYER, "shop", "page", "production", 5)
        flags.rollout(session, DEPLOYER, "shop", "page", "production", 25)
    (config,) = _flag_set(shop).configs
    assert config["default_variant"] == "off"
    assert config["rules"] == [
        {
            "id": "rollout",
            "constraints": [],
            "segments": [],
            "serve": {"rollout": {"percentage": 25, "stickiness": "targetingKey", "variant": "on"}},
        }
    ]


def test_archive_flag__prerequisite_of_another__refused(shop: Store) -> None:
    with shop.write() as session:
        flags.create_flag(session, ADMIN, "shop", "a")
        flags.create_flag(session, ADMIN, "shop", "b")
        flags.set_config(session, ADMIN, "shop", "b", "staging", {"prerequisites": [{"flag": "a"}]})
    with pytest.raises(Conflict, match="prerequisite"), shop.write() as session:
        flags.archive_flag(session, ADMIN, "shop", "a")
    with shop.write() as session:
        flags.archive_flag(session, ADMIN, "shop", "b")
    assert [c["key"] for c in _flag_set(shop).configs] == ["a"]


def test_bump_revision__all_environments__each_gets_a_new_etag(shop: Store) -> None:
    before = {env: _flag_set(shop, env).revision for env in ("staging", "production")}
    with shop.write() as session:
        project = projects.get_project(session, ADMIN, "shop")
        rule_sets.bump_revision(session, project.id, None, "billing-api unhealthy")
    after = {env: _flag_set(shop, env).revision for env in ("staging", "production")}
    assert after == {env: n + 1 for env, n in before.items()}


def test_record_evaluations__two_reports__add_up_and_keep_latest_time(shop: Store) -> None:
    early = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    late = datetime(2026, 5, 2, 12, 0, tzinfo=UTC)
    with shop.write() as session:
        project = projects.get_project(session, ADMIN, "shop")
        flags.record_evaluations(session, project.id, "production", {"page": {"on": 3}}, late)
        flags.record_evaluations(
            session, project.id, "production", {"page": {"on": 1, "off": 2}}, early
        )
    with shop.read() as session:
        stat = session.scalars(select(FlagEvaluationStat)).one()
    assert (stat.evaluations, stat.variants, stat.last_evaluated_at) == (
        6,
        {"on": 4, "off": 2},
        late,
    )


def test_stale_flags__40_days_later__fully_on_and_idle_flags_named(shop: Store) -> None:
    from trimtab.domain.flags import staleness

    with shop.write() as session:
        on = {"production": {"enabled": True}}
        flags.create_flag(session, ADMIN, "shop", "legacy-search", environments=on)
        flags.create_flag(session, ADMIN, "shop", "page", environments=on)
        flags.rollout(session, ADMIN, "shop", "page", "production", 25)
        project = projects.get_project(session, ADMIN, "shop")
        later = datetime.now(UTC) + timedelta(days=40)
        flags.record_evaluations(session, project.id, "production", {"page": {"on": 1}}, later)
    with shop.read() as session:
        report = staleness.stale_flags(
            session, ADMIN, "shop", days=30, environment="production", now=later
        )
    assert [(r.key, r.reasons) for r in report] == [
        ("legacy-search", ["never evaluated in 30 days", "fully on for 40 days"])
    ]


def test_segment_users__rules_in_any_environment__flag_keys_per_segment(shop: Store) -> None:
    beta = {"constraints": [], "segments": ["beta"], "serve": {"variant": "on"}}
    both = {"constraints": [], "segments": ["beta", "staff"], "serve": {"variant": "on"}}
    with shop.write() as session:
        segments.put_segment(session, ADMIN, "shop", "beta", [])
        segments.put_segment(session, ADMIN, "shop", "staff", [])
        flags.create_flag(
            session, ADMIN, "shop", "b-flag", environments={"staging": {"rules": [beta]}}
        )
        flags.create_flag(
            session, ADMIN, "shop", "a-flag", environments={"production": {"rules": [both]}}
        )
        flags.create_flag(session, ADMIN, "shop", "plain")
        flags.archive_flag(session, ADMIN, "shop", "b-flag")  # archived flags still use it
        project = projects.get_project(session, ADMIN, "shop")
        assert segments.segment_users(session, project.id) == {
            "beta": ["a-flag", "b-flag"],
            "staff": ["a-flag"],
        }
