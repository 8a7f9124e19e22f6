"""trimtab.toml: parsing, every problem reported with its TOML path, and the apply diff."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from trimtab.core.config_diff import Change, DiffError, diff_config
from trimtab.core.config_file import (
    ConfigError,
    EnvironmentConfig,
    Fallback,
    HealthCheck,
    ProjectConfig,
    ServiceConfig,
    parse_config,
)
from trimtab.core.windows import Freeze, check_deploy_allowed

SHOP = """
[project]
name = "shop"

[stabilization]
days = 7
environments = { staging = 1 }

[[services]]
name = "billing-api"
command = "./deploy.sh {service} {version} {env}"
health = { url = "https://billing.example/health", expect_status = 204, retries = 5 }

[[services]]
name = "pay-library"
manual = true

[[services]]
name = "web-front"
command = "make deploy VERSION={version} ENV={env}"
depends_on = ["pay-library", "billing-api"]
downtime = true

[[freezes]]
name = "weekends"
cron = "weekends"
timezone = "Asia/Seoul"
reason = "nobody on call"

[[freezes]]
name = "long weekend"
cron = "0 18 * * 5"
duration = "62h"
timezone = "Asia/Seoul"

[[freezes]]
name = "year-end"
start = 2026-12-24
end = 2026-12-26
timezone = "Asia/Seoul"
environments = ["production"]
"""


def _problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    return [str(p) for p in caught.value.problems]


def test_parse_config__scenario_file__reads_every_section() -> None:
    config = parse_config(SHOP)
    assert config.name == "shop"
    assert config.stabilization_days == 7
    assert config.stabilization_environments == (("staging", 1),)
    billing, pay, front = config.services
    assert billing.health == HealthCheck("https://billing.example/health", 204, 5, 5.0, 5.0)
    assert pay.manual and pay.command is None
    assert front.depends_on == ("billing-api", "pay-library") and front.downtime
    weekends, long_weekend, year_end = config.freezes
    assert weekends.schedule()[1] == timedelta(hours=48)
    assert long_weekend.schedule()[1] == timedelta(hours=62)
    # A date as the end means through that day: the freeze ends 27 December 00:00 in Seoul.
    assert year_end.end == datetime(2026, 12, 26, 15, tzinfo=UTC)
    assert year_end.environments == ("production",)


def test_parse_config__freezes__refuse_deploys_like_windows_freezes() -> None:
    config = parse_config(SHOP)
    saturday_in_seoul = datetime(2026, 11, 27, 16, tzinfo=UTC)
    decision = check_deploy_allowed(saturday_in_seoul, [], config.freezes)
    assert not decision.allowed
    assert {r.name for r in decision.refusals} == {"weekends", "long weekend"}
    friday_evening_in_seoul = datetime(2026, 11, 27, 10, tzinfo=UTC)
    decision = check_deploy_allowed(friday_evening_in_seoul, [], config.freezes)
    assert [r.name for r in decision.refusals] == ["long weekend"]
    christmas_eve_noon_in_seoul = datetime(2026, 12, 24, 3, tzinfo=UTC)  # a Thursday
    assert check_deploy_allowed(
        christmas_eve_noon_in_seoul, [], config.freezes, environment="staging"
    ).allowed
    assert not check_deploy_allowed(
        christmas_eve_noon_in_seoul, [], config.freezes, environment="production"
    ).allowed


def test_parse_config__minimal_file__defaults_apply() -> None:
    config = parse_config('[project]\nname = "shop"\n')
    assert config == ProjectConfig("shop")
    assert config.stabilization_days == 7


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[project]\nname = "shop"\n[[services]]\nname = "a"\ncommand = "x"\n'
            '[[services]]\nname = "b"\ncommand = "x"\n'
            '[[services]]\nname = "c"\ncommand = "x"\nhealth = { url = "ftp://c/health" }\n',
            "services[2].health.url: must be http(s)",
        ),
        (
            '[project]\nname = "shop"\n[[services]]\nname = "a"\ncommand = "deploy {verison}"\n',
            "services[0].command: command template 'deploy {verison}': unknown placeholder",
        ),
        (
            '[project]\nname = "shop"\n[[services]]\nname = "a"\ncomand = "x"\n',
            "services[0].comand: unknown key; did you mean 'command'?",
        ),
        (
            '[project]\nname = "shop"\n[[services]]\nname = "a"\n',
            "services[0]: needs a command",
        ),
        (
            '[project]\nname = "shop"\n[[services]]\nname = "a"\ncommand = "x"\nmanual = true\n',
            "services[0]: give either command or manual = true, not both",
        ),
        (
            '[project]\nname = "shop"\n[[services]]\nname = "a"\nmanual = "yes"\n',
            "services[0].manual: must be true or false",
        ),
        (
            '[project]\nname = "shop"\n[[services]]\nname = "a; rm -rf /"\nmanual = true\n',
            "services[0].name: 'a; rm -rf /' must be 1-64 lowercase letters",
        ),
        (
            '[project]\nname = "shop"\n[[services]]\nname = "a"\nmanual = true\n'
            '[[services]]\nname = "a"\nmanual = true\n',
            "services[1].name: duplicate service 'a' (also services[0])",
        ),
        (
            '[project]\nname = "shop"\n[[services]]\nname = "a"\nmanual = true\n'
            'depends_on = ["b"]\n',
            "services[0].depends_on: unknown service 'b'",
        ),
        (
            '[project]\nname = "shop"\n[[services]]\nname = "a"\nmanual = true\n'
            'depends_on = ["a"]\n',
            "services[0].depends_on: 'a' cannot depend on itself",
        ),
        (
            '[project]\nname = "shop"\n[[services]]\nname = "a"\nmanual = true\n'
            "health = { url = 'https://a/h', retries = -1, timeout_s = 0 }\n",
            "services[0].health.retries: must be from 0 to 100, got -1",
        ),
        (
            '[project]\nname = "shop"\n[[services]]\nname = "a"\nmanual = true\nhealth = {}\n',
            "services[0].health.url: is required",
        ),
        (
            '[project]\nname = "shop"\n[stabilization]\ndays = 21\n',
            "stabilization.days: must be from 1 to 14",
        ),
        (
            '[project]\nname = "shop"\n[stabilization]\nenvironments = { staging = 0 }\n',
            "stabilization.environments.staging: must be from 1 to 14",
        ),
        ("[project]\n", "project.name: is required"),
        ('[project]\nname = "shop"\n[projekt]\n', "projekt: unknown key; did you mean 'project'?"),
        (
            '[project]\nname = "shop"\n[[freezes]]\nname = "f"\ncron = "0 18 * * 5"\n',
            "freezes[0].cron: freeze 'f': a cron freeze needs a duration",
        ),
        (
            '[project]\nname = "shop"\n[[freezes]]\nname = "f"\ncron = "0 25 * * 5"\n'
            'duration = "1h"\n',
            "freezes[0].cron: freeze 'f': cron expression '0 25 * * 5': hour",
        ),
        (
            '[project]\nname = "shop"\n[[freezes]]\nname = "f"\ncron = "weekends"\n'
            'timezone = "Asia/Soul"\n',
            "freezes[0].timezone: unknown timezone 'Asia/Soul'",
        ),
        (
            '[project]\nname = "shop"\n[[freezes]]\nname = "f"\ncron = "weekends"\n'
            'duration = "two days"\n',
            "freezes[0].duration: duration 'two days' is not valid",
        ),
        (
            '[project]\nname = "shop"\n[[freezes]]\nname = "f"\nstart = 2026-12-24\n',
            "freezes[0]: a one-off freeze needs both start and end",
        ),
        (
            '[project]\nname = "shop"\n[[freezes]]\nname = "f"\nstart = 2026-12-24\n'
            "end = 2026-12-20\n",
            "freezes[0]: freeze 'f': end must be after start",
        ),
        (
            '[project]\nname = "shop"\n[[freezes]]\nname = "f"\n',
            "freezes[0]: needs cron + duration",
        ),
        (
            '[project]\nname = "shop"\n[environments.production]\nrunner = "remote"\n',
            "environments.production.runner: must be one of 'local', 'agent', got 'remote'",
        ),
        (
            '[project]\nname = "shop"\n[environments.production]\nrunnr = "agent"\n',
            "environments.production.runnr: unknown key; did you mean 'runner'?",
        ),
        (
            '[project]\nname = "shop"\n[environments]\nproduction = "agent"\n',
            "environments.production: must be a table",
        ),
        ('services = 3\n[project]\nname = "shop"\n', "services: must be an array of tables"),
        ("[project\nname = 1", "(file): not valid TOML"),
    ],
)
def test_parse_config__invalid_file__problem_names_its_toml_path(text: str, expected: str) -> None:
    problems = _problems(text)
    assert any(p.startswith(expected) for p in problems), problems


def test_parse_config__many_problems__all_reported_at_once() -> None:
    text = (
        '[project]\nname = "shop"\n'
        '[[services]]\nname = "a"\ncommand = "x {nope}"\n'
        '[[services]]\nname = "b"\nmanual = true\nhealth = { url = "nope" }\n'
        '[[freezes]]\nname = "f"\ncron = "weekends"\ntimezone = "Nowhere/City"\n'
    )
    problems = _problems(text)
    assert [p.split(":")[0] for p in problems] == [
        "services[0].command",
        "services[1].health.url",
        "freezes[0].timezone",
    ]


def test_parse_config__dependency_cycle__refused_naming_it_in_order() -> None:
    text = (
        '[project]\nname = "shop"\n'
        '[[services]]\nname = "web-front"\nmanual = true\ndepends_on = ["billing-api"]\n'
        '[[services]]\nname = "billing-api"\nmanual = true\ndepends_on = ["pay-library"]\n'
        '[[services]]\nname = "pay-library"\nmanual = true\ndepends_on = ["billing-api"]\n'
    )
    problems = _problems(text)
    assert problems == [
        "services[1].depends_on: requirement cycle: billing-api -> pay-library -> billing-api. "
        "A service cannot depend on itself, even through others; remove one of these "
        "requirements."
    ]


def _shop() -> ProjectConfig:
    return parse_config(SHOP)


def test_diff_config__new_project__creates_everything_dependencies_first() -> None:
    changes = diff_config(_shop(), None)
    assert [(c.kind, c.target) for c in changes] == [
        ("create", "project shop"),
        ("update", "stabilization"),
        ("create", "service billing-api"),
        ("create", "service pay-library"),
        ("create", "service web-front"),
        ("create", "freeze long weekend"),
        ("create", "freeze weekends"),
        ("create", "freeze year-end"),
    ]
    front = changes[4].after
    assert front is not None and front["depends_on"] == ["billing-api", "pay-library"]


def test_diff_config__same_config__no_changes() -> None:
    assert diff_config(_shop(), _shop()) == []


def test_diff_config__changed_fields__update_holds_only_them() -> None:
    current = _shop()
    billing = replace(current.services[0], command="./old-deploy.sh {version}")
    current = replace(current, services=(billing, *current.services[1:]), stabilization_days=10)
    changes = diff_config(_shop(), current)
    assert changes == [
        Change("update", "stabilization", {"days": 10}, {"days": 7}, ("days",)),
        Change(
            "update",
            "service billing-api",
            {"command": "./old-deploy.sh {version}"},
            {"command": "./deploy.sh {service} {version} {env}"},
            ("command",),
        ),
    ]
    assert changes[1].describe() == (
        "~ service billing-api: command: './old-deploy.sh {version}' -> "
        "'./deploy.sh {service} {version} {env}'"
    )


def test_diff_config__removed_services__deleted_dependents_first_after_updates() -> None:
    current = replace(
        _shop(),
        services=(
            *_shop().services,
            ServiceConfig("search", manual=True),
            ServiceConfig("search-ui", manual=True, depends_on=("search",)),
        ),
    )
    desired = _shop()
    changes = diff_config(desired, current)
    assert [(c.kind, c.target) for c in changes] == [
        ("delete", "service search-ui"),
        ("delete", "service search"),
    ]
    assert changes[0].describe() == "- service search-ui"


def test_diff_config__dependency_dropped_before_its_service_is_deleted() -> None:
    current = replace(
        _shop(),
        services=(
            ServiceConfig("legacy-api", manual=True),
            *(
                replace(s, depends_on=(*s.depends_on, "legacy-api")) if s.name == "web-front" else s
                for s in _shop().services
            ),
        ),
    )
    targets = [(c.kind, c.target) for c in diff_config(_shop(), current)]
    assert targets.index(("update", "service web-front")) < targets.index(
        ("delete", "service legacy-api")
    )


def test_diff_config__freeze_changed_and_removed__update_and_delete() -> None:
    current = _shop()
    weekends = replace(current.freezes[0], reason="old reason")
    extra = Freeze.recurring("fridays", "fridays")
    current = replace(current, freezes=(weekends, *current.freezes[1:], extra))
    changes = diff_config(_shop(), current)
    assert [(c.kind, c.target, c.before, c.after) for c in changes] == [
        ("delete", "freeze fridays", extra.as_dict(), None),
        ("update", "freeze weekends", {"reason": "old reason"}, {"reason": "nobody on call"}),
    ]


def test_diff_config__other_project__refused() -> None:
    with pytest.raises(DiffError, match="'shop'"):
        diff_config(_shop(), ProjectConfig("cinema"))


DEPENDENCIES = """
[project]
name = "shop"

[dependencies.billing-api]
max_errors = 50
flags = [{ flag = "pay", environment = "production", variant = "off" }]

[dependencies."pay.lib"]
failure_rate = 0.3
flags = [{ flag = "pay", environment = "production", variant = "off" }]
"""


def test_parse_config__dependencies__settings_defaulted_and_one_fallback_per_flag() -> None:
    config = parse_config(DEPENDENCIES)
    assert config.dependencies is not None
    billing, lib = config.dependencies
    assert (billing.name, lib.name) == ("billing-api", "pay.lib")
    assert dict(billing.settings)["max_errors"] == 50 and dict(lib.settings)["max_errors"] is None
    assert dict(lib.settings)["failure_rate"] == 0.3 and dict(lib.settings)["interval_s"] == 10
    assert config.fallbacks == (Fallback("pay", "production", "off", ("billing-api", "pay.lib")),)


def test_parse_config__no_dependencies_table__dependencies_not_managed() -> None:
    config = parse_config('[project]\nname = "shop"\n')
    assert config.dependencies is None
    assert parse_config('[project]\nname = "shop"\n[dependencies]\n').dependencies == ()


def test_parse_config__dependency_problems__each_with_its_path() -> None:
    text = (
        '[project]\nname = "shop"\n[dependencies."pay.lib"]\nprobe_url = "ftp://x"\n'
        'window = 3\nfailure_rate = 3\nflags = [{ flag = "pay", environment = "production" }]\n'
    )
    with pytest.raises(ConfigError) as raised:
        parse_config(text)
    messages = [str(p) for p in raised.value.problems]
    assert 'dependencies."pay.lib".probe_url: must be an http(s) URL with a host' in messages
    assert any(m.startswith('dependencies."pay.lib".window: unknown key') for m in messages)
    assert 'dependencies."pay.lib".failure_rate: must be from 0.01 to 1, got 3' in messages
    assert any(
        m.startswith('dependencies."pay.lib".flags[0].variant: is required') for m in messages
    )


def test_parse_config__one_flag_two_variants__refused() -> None:
    text = DEPENDENCIES.replace('variant = "off" }]\n', 'variant = "legacy" }]\n', 1)
    with pytest.raises(ConfigError, match="a flag has one fallback variant"):
        parse_config(text)


def test_diff_config__dependencies__created_then_fallbacks_then_deleted() -> None:
    current = parse_config(
        '[project]\nname = "shop"\n[dependencies.old]\n'
        'flags = [{ flag = "x", environment = "production", variant = "off" }]\n'
    )
    changes = [c.describe() for c in diff_config(parse_config(DEPENDENCIES), current)]
    assert changes == [
        "+ dependency billing-api",
        "+ dependency pay.lib",
        "+ fallback pay in production",
        "- fallback x in production",
        "- dependency old",
    ]


def test_parse_config__environments__runner_per_environment_local_by_default() -> None:
    config = parse_config(
        '[project]\nname = "shop"\n[environments.production]\nrunner = "agent"\n'
        "[environments.staging]\n"
    )
    assert config.environments == (
        EnvironmentConfig("production", "agent"),
        EnvironmentConfig("staging", "local"),
    )
    assert parse_config('[project]\nname = "shop"\n').environments is None  # not managed


def test_diff_config__environments__runner_updates_unlisted_back_to_local() -> None:
    server = replace(
        _shop(),
        environments=(EnvironmentConfig("production", "agent"), EnvironmentConfig("staging")),
    )
    wanted = replace(_shop(), environments=(EnvironmentConfig("staging", "agent"),))
    assert [c.describe() for c in diff_config(wanted, server)] == [
        "~ environment production: runner: 'agent' -> 'local'",
        "~ environment staging: runner: 'local' -> 'agent'",
    ]
    # Without an [environments] table the runners are left as they are.
    assert diff_config(replace(_shop(), environments=None), server) == []
    # A new project's environments start local.
    new = [c.describe() for c in diff_config(wanted, None)]
    assert new[0] == "+ project shop"
    assert new[2] == "~ environment staging: runner: 'local' -> 'agent'"  # after the window
