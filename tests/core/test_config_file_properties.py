"""Properties of the trimtab.toml reader and writer: any input ends in a config or in
ConfigError (never another exception), and what render_config writes reads back as no change."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck as Hc
from hypothesis import given, settings
from hypothesis import strategies as st

from trimtab.core.config_diff import diff_config
from trimtab.core.config_file import (
    DEPENDENCY_SETTINGS,
    RUNNERS,
    ConfigError,
    DependencyConfig,
    EnvironmentConfig,
    Fallback,
    HealthCheck,
    ProjectConfig,
    ServiceConfig,
    parse_config,
    toml_key,
    toml_string,
)
from trimtab.core.config_render import render_config
from trimtab.core.windows import Freeze


def _toml_float(value: float) -> str:
    if value != value:
        return "nan"
    if value in (float("inf"), float("-inf")):
        return "inf" if value > 0 else "-inf"
    return repr(value)


SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[Hc.too_slow])

# --- any input -------------------------------------------------------------------------------

KEYS = sorted(
    {
        "name", "days", "environments", "command", "manual", "depends_on", "health", "url",
        "expect_status", "retries", "interval_s", "timeout_s", "downtime", "reason", "cron",
        "duration", "timezone", "start", "end", "description", "probe_url", "flags", "flag",
        "environment", "variant", "project", "stabilization", "services", "freezes",
        "dependencies", *DEPENDENCY_SETTINGS,
    }
)  # fmt: skip
HEADERS = [
    "[project]", "[stabilization]", "[[services]]", "[[freezes]]", "[dependencies]",
    "[dependencies.billing-api]", '[dependencies."a.b"]', "[stabilization.environments]",
    "[[services.health]]", "[services]", "[freezes]", "[[dependencies]]",
]  # fmt: skip
TEXTS = st.text(max_size=30)
SCALARS = st.one_of(
    TEXTS.map(toml_string),
    st.integers(-(10**12), 10**12).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(_toml_float),
    st.booleans().map(lambda b: "true" if b else "false"),
    st.sampled_from(
        [
            "2026-12-24", "2026-12-24T18:00:00", "2026-12-24T18:00:00+09:00", "18:00:00",
            '"weekends"', '"62h"', '"0 18 * * 5"', '"Asia/Seoul"', '"https://x.example/h"',
            '"Not/AZone"', '"../etc"', '""', '"{version}"', '"{nope}"', '"{"', '"production"',
        ]
    ),
)  # fmt: skip
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4).map(lambda xs: "[" + ", ".join(xs) + "]"),
        st.lists(st.tuples(st.sampled_from(KEYS), inner), max_size=4).map(
            lambda kvs: "{ " + ", ".join(f"{toml_key(k)} = {v}" for k, v in kvs) + " }"
        ),
    ),
    max_leaves=8,
)
LINES = st.one_of(
    st.sampled_from(HEADERS),
    st.tuples(st.one_of(st.sampled_from(KEYS), TEXTS), VALUES).map(
        lambda kv: f"{toml_key(kv[0])} = {kv[1]}"
    ),
)
TOMLISH = st.lists(LINES, max_size=25).map("\n".join)


@SETTINGS
@given(TOMLISH)
def test_parse_config__toml_like_text__a_config_or_config_error_only(text: str) -> None:
    try:
        parse_config(text)
    except ConfigError as exc:
        assert exc.problems and all(p.path and p.message for p in exc.problems)


@SETTINGS
@given(st.text(max_size=300))
def test_parse_config__any_text__a_config_or_config_error_only(text: str) -> None:
    try:
        parse_config(text)
    except ConfigError as exc:
        assert exc.problems


@SETTINGS
@given(st.text(max_size=200))
def test_toml_string__any_text__reads_back_as_itself(text: str) -> None:
    assert tomllib.loads(f"k = {toml_string(text)}")["k"] == text


# --- render, then parse ------------------------------------------------------------------------

NAMES = st.from_regex(r"[a-z0-9][a-z0-9._-]{0,20}", fullmatch=True)
SERVICE_NAMES = NAMES
# Commands: any text without a lone brace, placeholders among it, quotes, backslashes, newlines.
COMMAND_TEXT = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="{}"), max_size=40
)
COMMANDS = (
    st.lists(
        st.one_of(COMMAND_TEXT, st.sampled_from(["{service}", "{version}", "{env}", "{{", "}}"])),
        min_size=1,
        max_size=6,
    )
    .map("".join)
    .filter(lambda c: c.strip() != "")
)
PLAIN = st.text(st.characters(blacklist_categories=("Cs",)), max_size=60)
HEALTH = st.builds(
    HealthCheck,
    url=st.sampled_from(["https://shop.example/health", "http://10.0.0.1:8080/h?x=[1]"]),
    expect_status=st.integers(100, 599),
    retries=st.integers(0, 100),
    interval_s=st.floats(0.01, 3600),
    timeout_s=st.floats(0.01, 300),
)
ZONES = st.sampled_from(["UTC", "Asia/Seoul", "America/New_York", "Europe/Paris"])
INSTANTS = st.datetimes(datetime(2020, 1, 1), datetime(2035, 1, 1)).map(
    lambda d: d.replace(tzinfo=UTC, microsecond=0)
)


@st.composite
def services(draw: st.DrawFn) -> tuple[ServiceConfig, ...]:
    names = draw(st.lists(SERVICE_NAMES, max_size=5, unique=True))
    out = []
    for i, name in enumerate(names):
        manual = draw(st.booleans())
        earlier = names[:i]  # requirements only on earlier services: never a cycle
        depends = draw(st.lists(st.sampled_from(earlier), unique=True)) if earlier else []
        out.append(
            ServiceConfig(
                name,
                None if manual else draw(COMMANDS),
                manual,
                tuple(sorted(depends)),
                draw(st.none() | HEALTH),
                draw(st.booleans()),
            )
        )
    return tuple(out)


@st.composite
def freeze_list(draw: st.DrawFn) -> tuple[Freeze, ...]:
    names = draw(st.lists(PLAIN.filter(lambda n: n.strip() != ""), max_size=3, unique=True))
    out = []
    for name in names:
        reason = draw(PLAIN)
        zone = draw(ZONES)
        envs = tuple(sorted(set(draw(st.lists(NAMES, max_size=2)))))
        if draw(st.booleans()):
            cron = draw(st.sampled_from(["weekends", "long-weekends", "0 18 * * 5", "30 2 1 * *"]))
            minutes = st.integers(1, 60 * 24 * 9).map(lambda m: timedelta(minutes=m))
            # A named schedule has a default duration; a cron expression needs one.
            duration = draw(st.none() | minutes if cron.endswith("weekends") else minutes)
            out.append(Freeze.recurring(name, cron, duration, zone, reason, envs))
        else:
            start = draw(INSTANTS)
            end = start + draw(st.integers(1, 10**7).map(lambda s: timedelta(seconds=s)))
            out.append(Freeze(name, reason, start, end, timezone=zone, environments=envs))
    return tuple(out)


def _setting_value(key: str) -> st.SearchStrategy[int | float | None]:
    s = DEPENDENCY_SETTINGS[key]
    value: st.SearchStrategy[int | float | None] = (
        st.integers(int(s.low), int(s.high)) if s.integer else st.floats(s.low, s.high)
    )
    return st.none() | value if s.default is None else value


@st.composite
def dependencies(
    draw: st.DrawFn,
) -> tuple[tuple[DependencyConfig, ...] | None, tuple[Fallback, ...]]:
    if draw(st.booleans()):
        return None, ()
    names = sorted(draw(st.lists(NAMES, max_size=3, unique=True)))
    found = tuple(
        DependencyConfig(
            name,
            draw(PLAIN),
            draw(st.none() | st.sampled_from(['https://billing.example/health?a="b"'])),
            tuple((key, draw(_setting_value(key))) for key in DEPENDENCY_SETTINGS),
        )
        for name in names
    )
    fallbacks = []
    if names:
        for flag, env in draw(st.lists(st.tuples(NAMES, NAMES), max_size=3, unique=True)):
            deps = draw(st.lists(st.sampled_from(names), min_size=1, unique=True))
            variant = draw(
                st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=20)
            )
            fallbacks.append(Fallback(flag, env, variant, tuple(sorted(deps))))
    return found, tuple(sorted(fallbacks, key=lambda f: (f.flag, f.environment)))


@st.composite
def configs(draw: st.DrawFn) -> ProjectConfig:
    deps, fallbacks = draw(dependencies())
    return ProjectConfig(
        draw(NAMES),
        draw(st.integers(1, 14)),
        tuple(sorted(draw(st.dictionaries(SERVICE_NAMES, st.integers(1, 14), max_size=3)).items())),
        draw(services()),
        draw(freeze_list()),
        deps,
        fallbacks,
        draw(
            st.none()
            | st.lists(
                st.builds(EnvironmentConfig, SERVICE_NAMES, st.sampled_from(RUNNERS)),
                max_size=3,
                unique_by=lambda e: e.name,
            ).map(lambda found: tuple(sorted(found, key=lambda e: e.name)))
        ),
    )


@SETTINGS
@given(configs())
def test_render_config__any_config__reads_back_as_no_change(config: ProjectConfig) -> None:
    text = render_config(config)
    parsed = parse_config(text)
    assert diff_config(parsed, config) == []
    assert parsed.services == config.services
    assert parsed.dependencies == config.dependencies and parsed.fallbacks == config.fallbacks
    assert parsed.stabilization_environments == config.stabilization_environments
    assert parsed.environments == config.environments
