"""``trimtab.toml``: a project's services, requirements, window and freezes, as code.

::

    [project]
    name = "shop"

    [stabilization]
    days = 7                                  # 1-14
    environments = { staging = 1 }            # optional per-environment lengths

    [environments.production]
    runner = "agent"                          # `trimtab agent` runs its steps (default local)

    [[services]]
    name = "billing-api"
    command = "./deploy.sh {service} {version} {env}"
    health = { url = "https://billing.example/health", expect_status = 200, retries = 5 }

    [[services]]
    name = "pay-library"
    manual = true                             # another team deploys it and confirms

    [[services]]
    name = "web-front"
    command = "make deploy VERSION={version} ENV={env}"
    depends_on = ["billing-api", "pay-library"]
    downtime = true

    [[freezes]]
    name = "weekends"
    cron = "0 18 * * 5"                       # or a named schedule: cron = "weekends"
    duration = "62h"
    timezone = "Asia/Seoul"
    reason = "nobody on call"

    [[freezes]]
    name = "year-end"
    start = 2026-12-24                        # a date, a local or an offset datetime
    end = 2026-12-26                          # a date as end means: through that day
    timezone = "Asia/Seoul"

    [dependencies.billing-api]                # an external system flags fall back on
    description = "Billing API (backend team)"
    probe_url = "https://billing.example/health"
    max_errors = 50
    flags = [{ flag = "new-payment-page", environment = "production", variant = "off" }]

Without a ``[dependencies]`` table the file leaves the server's dependencies and flag
fallbacks as they are; with one (even empty) it defines all of them. ``[environments]`` works the
same way for who runs each environment's deploy steps: with the table, an environment it does not
list goes back to the server's local runner. docs/trimtab-toml.md is
the reference of every key; ``core.config_render`` writes a file back from a ``ProjectConfig``.

``parse_config`` reads the text and reports *every* problem at once, each with its TOML path
(``services[2].health.url: must be http(s)``), in one ``ConfigError``. ``core.config_diff``
compares a parsed config with what the server has.
"""

from __future__ import annotations

import difflib
import tomllib
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from trimtab.core.commands import CommandError, template_placeholders
from trimtab.core.cron import DurationError, parse_duration
from trimtab.core.names import InvalidName, check_name
from trimtab.core.planning import RequirementCycleError, find_cycle
from trimtab.core.windows import (
    DEFAULT_WINDOW_DAYS,
    MAX_WINDOW_DAYS,
    MIN_WINDOW_DAYS,
    Freeze,
    WindowError,
)

__all__ = [
    "DEPENDENCY_SETTINGS",
    "RUNNERS",
    "ConfigError",
    "DependencyConfig",
    "EnvironmentConfig",
    "Fallback",
    "HealthCheck",
    "Problem",
    "ProjectConfig",
    "ServiceConfig",
    "parse_config",
    "toml_key",
    "toml_string",
]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the file, at a TOML path."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class ConfigError(ValueError):
    """The file is not valid; ``problems`` lists everything wrong with it."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("trimtab.toml is not valid:\n" + "\n".join(f"  {p}" for p in problems))


@dataclass(frozen=True)
class HealthCheck:
    """An HTTP check run after a deploy step: ``retries`` more tries, ``interval_s`` apart."""

    url: str
    expect_status: int = 200
    retries: int = 3
    interval_s: float = 5.0
    timeout_s: float = 5.0


@dataclass(frozen=True)
class ServiceConfig:
    """A service: deployed by ``command`` (a template) or by hand (``manual``)."""

    name: str
    command: str | None = None
    manual: bool = False
    depends_on: tuple[str, ...] = ()
    health: HealthCheck | None = None
    downtime: bool = False

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready form, the shape ``Change.before``/``after`` use."""
        return {
            "name": self.name,
            "command": self.command,
            "manual": self.manual,
            "depends_on": list(self.depends_on),
            "health": None if self.health is None else vars(self.health).copy(),
            "downtime": self.downtime,
        }


@dataclass(frozen=True)
class Setting:
    """A dependency setting: its bounds, whether it is a whole number, and its default."""

    low: float
    high: float
    integer: bool
    default: float | None
    meaning: str


# The health settings of a dependency, as domain.flags.dependencies bounds them and the
# dependencies table defaults them (a test holds the three together).
DEPENDENCY_SETTINGS: dict[str, Setting] = {
    "probe_expected_status": Setting(100, 599, True, 200, "the status the probe expects"),
    "probe_timeout_s": Setting(0.1, 30, False, 5.0, "seconds the probe waits for an answer"),
    "interval_s": Setting(1, 3600, True, 10, "seconds between two checks"),
    "window_s": Setting(5, 3600, True, 30, "seconds of SDK reports a check reads"),
    "failure_rate": Setting(0.01, 1.0, False, 0.5, "share of failed SDK calls that is bad"),
    "min_calls": Setting(1, 10**6, True, 10, "SDK calls needed before failure_rate counts"),
    "open_reports": Setting(1, 10**6, True, 1, "SDK reports of an open circuit that are bad"),
    "max_errors": Setting(1, 10**9, True, None, "error reports tagged with it that are bad"),
    "error_window_s": Setting(60, 86400, True, 300, "seconds max_errors counts over"),
    "down_after": Setting(1, 100, True, 2, "bad checks in a row before it is unhealthy"),
    "up_after": Setting(1, 100, True, 3, "good checks in a row before it is healthy again"),
}

SettingValue = int | float | None


@dataclass(frozen=True)
class DependencyConfig:
    """An external system flags fall back on: how the server checks it (every setting,
    defaults filled in, in ``DEPENDENCY_SETTINGS`` order)."""

    name: str
    description: str = ""
    probe_url: str | None = None
    settings: tuple[tuple[str, SettingValue], ...] = tuple(
        (k, s.default) for k, s in DEPENDENCY_SETTINGS.items()
    )

    def as_dict(self) -> dict[str, object]:
        return {"description": self.description, "probe_url": self.probe_url, **dict(self.settings)}


@dataclass(frozen=True)
class Fallback:
    """A flag, in one environment, serves ``variant`` while any of ``dependencies`` fails."""

    flag: str
    environment: str
    variant: str
    dependencies: tuple[str, ...]

    def as_dict(self) -> dict[str, object]:
        return {"variant": self.variant, "dependencies": list(self.dependencies)}


# Who runs an environment's deploy steps: the server's local runner, or `trimtab agent`.
RUNNERS = ("local", "agent")


@dataclass(frozen=True)
class EnvironmentConfig:
    """An existing environment's settings: its ``runner`` (one of RUNNERS)."""

    name: str
    runner: str = "local"

    def as_dict(self) -> dict[str, object]:
        return {"runner": self.runner}


@dataclass(frozen=True)
class ProjectConfig:
    """Everything a ``trimtab.toml`` declares for one project. ``dependencies`` is None when
    the file has no ``[dependencies]`` table: dependencies and fallbacks are then not managed;
    ``environments`` is None without an ``[environments]`` table: runners are not managed."""

    name: str
    stabilization_days: int = DEFAULT_WINDOW_DAYS
    stabilization_environments: tuple[tuple[str, int], ...] = ()
    services: tuple[ServiceConfig, ...] = ()
    freezes: tuple[Freeze, ...] = ()
    dependencies: tuple[DependencyConfig, ...] | None = None
    fallbacks: tuple[Fallback, ...] = ()
    environments: tuple[EnvironmentConfig, ...] | None = None

    def graph(self) -> dict[str, frozenset[str]]:
        """The requirement graph in the form core.planning takes."""
        return {s.name: frozenset(s.depends_on) for s in self.services}


_TOP = ("project", "stabilization", "environments", "services", "freezes", "dependencies")
_ENVIRONMENT = ("runner",)
_PROJECT = ("name",)
_STABILIZATION = ("days", "environments")
_SERVICE = ("name", "command", "manual", "depends_on", "health", "downtime")
_HEALTH = ("url", "expect_status", "retries", "interval_s", "timeout_s")
_FREEZE = ("name", "reason", "cron", "duration", "timezone", "start", "end", "environments")
_DEPENDENCY = ("description", "probe_url", *DEPENDENCY_SETTINGS, "flags")
_BINDING = ("flag", "environment", "variant")
MAX_DESCRIPTION = 1000
MAX_URL = 2000
MAX_FREEZE_NAME = 100
MAX_REASON = 500
MAX_COMMAND = 1000


class _Checker:
    """Collects problems so the user sees all of them in one run."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    def table(self, data: object, path: str, keys: tuple[str, ...]) -> dict[str, Any]:
        if not isinstance(data, dict):
            self.add(path, "must be a table")
            return {}
        for key in data:
            if key not in keys:
                close = difflib.get_close_matches(key, keys, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(keys)}"
                shown = toml_key(key)
                self.add(f"{path}.{shown}" if path else shown, f"unknown key{hint}")
        return data

    def name(self, value: object, path: str) -> str | None:
        if not isinstance(value, str):
            self.add(path, "is required and must be a string")
            return None
        # The server's rule for every name (core.names), so a file that reads well applies.
        try:
            return check_name(value)
        except InvalidName:
            self.add(
                path,
                f"{value!r} must be 1-64 lowercase letters, digits, '-', '_' or '.', "
                "starting with a letter or digit",
            )
            return None

    def integer(self, value: object, path: str, low: int, high: int) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int):
            self.add(path, "must be a whole number")
            return None
        if not low <= value <= high:
            self.add(path, f"must be from {low} to {high}, got {value}")
            return None
        return value

    def number(self, value: object, path: str, high: float) -> float | None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.add(path, "must be a number")
            return None
        if not 0 < value <= high:
            self.add(path, f"must be above 0 and at most {high:g}, got {value}")
            return None
        return float(value)

    def flag(self, value: object, path: str) -> bool:
        if not isinstance(value, bool):
            self.add(path, "must be true or false")
            return False
        return value

    def names(self, value: object, path: str) -> tuple[str, ...]:
        if not isinstance(value, list):
            self.add(path, "must be a list of names")
            return ()
        out = [self.name(v, f"{path}[{i}]") for i, v in enumerate(value)]
        return tuple(sorted({n for n in out if n is not None}))


def _health(c: _Checker, data: object, path: str) -> HealthCheck | None:
    if not isinstance(data, dict):
        c.add(path, "must be a table: { url = 'https://...', expect_status = 200 }")
        return None
    table = c.table(data, path, _HEALTH)
    url = table.get("url")
    if url is None:
        c.add(f"{path}.url", "is required: the http(s) URL to check after a deploy")
        return None
    if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
        c.add(f"{path}.url", "must be http(s), e.g. 'https://billing.example/health'")
        return None
    if not urlsplit(url).hostname:
        c.add(f"{path}.url", "must name a host, e.g. 'https://billing.example/health'")
        return None
    defaults = HealthCheck(url)
    status = c.integer(
        table.get("expect_status", defaults.expect_status), f"{path}.expect_status", 100, 599
    )
    retries = c.integer(table.get("retries", defaults.retries), f"{path}.retries", 0, 100)
    interval = c.number(table.get("interval_s", defaults.interval_s), f"{path}.interval_s", 3600)
    timeout = c.number(table.get("timeout_s", defaults.timeout_s), f"{path}.timeout_s", 300)
    if status is None or retries is None or interval is None or timeout is None:
        return None
    return HealthCheck(url, status, retries, interval, timeout)


def _service(c: _Checker, data: object, path: str) -> ServiceConfig | None:
    if not isinstance(data, dict):
        c.add(path, "must be a table: [[services]] with name = ...")
        return None
    before = len(c.problems)
    table = c.table(data, path, _SERVICE)
    name = c.name(table.get("name"), f"{path}.name")
    manual = c.flag(table.get("manual", False), f"{path}.manual")
    command = table.get("command")
    if command is not None:
        if not isinstance(command, str):
            c.add(f"{path}.command", "must be a string")
            command = None
        elif len(command) > MAX_COMMAND:
            c.add(f"{path}.command", f"is at most {MAX_COMMAND} characters")
        else:
            try:
                template_placeholders(command)
            except CommandError as exc:
                c.add(f"{path}.command", str(exc))
    if manual and command is not None:
        c.add(path, "give either command or manual = true, not both")
    elif not manual and "command" not in table:
        c.add(path, "needs a command (e.g. './deploy.sh {version} {env}') or manual = true")
    depends_on = c.names(table.get("depends_on", []), f"{path}.depends_on")
    health = _health(c, table["health"], f"{path}.health") if "health" in table else None
    downtime = c.flag(table.get("downtime", False), f"{path}.downtime")
    if name is None or len(c.problems) > before:
        return None
    return ServiceConfig(name, command, manual, depends_on, health, downtime)


def _moment(c: _Checker, value: object, path: str, zone: ZoneInfo, is_end: bool) -> datetime | None:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            c.add(path, f"{value!r} is not a date or datetime (ISO 8601)")
            return None
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=zone)
    if isinstance(value, date):
        # A date as the end means "through that day": people write the last frozen day.
        day = value + timedelta(days=1) if is_end else value
        return datetime.combine(day, time(), tzinfo=zone)
    c.add(path, "must be a date or datetime, e.g. 2026-12-24 or 2026-12-24T18:00:00+09:00")
    return None


def _freeze(c: _Checker, data: object, path: str) -> Freeze | None:
    if not isinstance(data, dict):
        c.add(path, "must be a table: [[freezes]] with name = ...")
        return None
    before = len(c.problems)
    table = c.table(data, path, _FREEZE)
    name = table.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_FREEZE_NAME:
        c.add(f"{path}.name", f"is required: a non-empty string of at most {MAX_FREEZE_NAME}")
        name = None
    reason = table.get("reason", "")
    if not isinstance(reason, str) or len(reason) > MAX_REASON:
        c.add(f"{path}.reason", f"must be a string of at most {MAX_REASON} characters")
        reason = ""
    tz_name = table.get("timezone", "UTC")
    zone = ZoneInfo("UTC")
    try:
        zone = ZoneInfo(tz_name) if isinstance(tz_name, str) else ZoneInfo("")
    except (ZoneInfoNotFoundError, ValueError):
        c.add(f"{path}.timezone", f"unknown timezone {tz_name!r}: use e.g. 'Asia/Seoul'")
    environments = c.names(table.get("environments", []), f"{path}.environments")
    duration: timedelta | None = None
    if "duration" in table:
        raw = table["duration"]
        try:
            duration = parse_duration(raw if isinstance(raw, str) else "")
        except DurationError as exc:
            c.add(f"{path}.duration", str(exc))
    cron = table.get("cron")
    one_off = "start" in table or "end" in table
    if cron is not None and one_off:
        c.add(path, "give either cron (+ duration) or start and end, not both")
    elif cron is None and not one_off:
        c.add(
            path,
            "needs cron + duration (or a named schedule like cron = 'weekends') or start + end",
        )
    elif one_off and ("start" not in table or "end" not in table):
        c.add(path, "a one-off freeze needs both start and end")
    elif one_off and "duration" in table:
        c.add(f"{path}.duration", "only goes with cron; a one-off freeze ends at its end")
    elif cron is not None and not isinstance(cron, str):
        c.add(f"{path}.cron", "must be a string such as '0 18 * * 5' or 'weekends'")
    if name is None or len(c.problems) > before:
        return None
    try:
        if cron is not None:
            return Freeze.recurring(name, cron, duration, str(tz_name), reason, environments)
        start = _moment(c, table["start"], f"{path}.start", zone, is_end=False)
        end = _moment(c, table["end"], f"{path}.end", zone, is_end=True)
        if start is None or end is None:
            return None
        return Freeze(name, reason, start, end, timezone=str(tz_name), environments=environments)
    except WindowError as exc:
        c.add(f"{path}.cron" if cron is not None else path, str(exc))
        return None


def _stabilization(c: _Checker, data: object) -> tuple[int, tuple[tuple[str, int], ...]]:
    table = c.table(data, "stabilization", _STABILIZATION)
    days = c.integer(
        table.get("days", DEFAULT_WINDOW_DAYS),
        "stabilization.days",
        MIN_WINDOW_DAYS,
        MAX_WINDOW_DAYS,
    )
    per_env: dict[str, int] = {}
    envs = table.get("environments", {})
    if not isinstance(envs, dict):
        c.add("stabilization.environments", "must be a table of environment = days")
        envs = {}
    for env, value in envs.items():
        path = f"stabilization.environments.{toml_key(env)}"
        if c.name(env, path) is not None:
            checked = c.integer(value, path, MIN_WINDOW_DAYS, MAX_WINDOW_DAYS)
            if checked is not None:
                per_env[env] = checked
    return days or DEFAULT_WINDOW_DAYS, tuple(sorted(per_env.items()))


def _environments(c: _Checker, data: object) -> tuple[EnvironmentConfig, ...]:
    if not isinstance(data, dict):
        c.add("environments", "must be a table of environments: [environments.production]")
        return ()
    found = []
    for env, value in data.items():
        path = f"environments.{toml_key(env)}"
        if c.name(env, path) is None:
            continue
        table = c.table(value, path, _ENVIRONMENT)
        runner = table.get("runner", "local")
        if runner not in RUNNERS:
            c.add(
                f"{path}.runner", f"must be one of {', '.join(map(repr, RUNNERS))}, got {runner!r}"
            )
            continue
        found.append(EnvironmentConfig(env, runner))
    return tuple(sorted(found, key=lambda e: e.name))


def _plain_name(c: _Checker, value: object, path: str, what: str) -> str | None:
    if not isinstance(value, str):
        c.add(path, f"{what} is required and must be a string")
        return None
    try:
        return check_name(value, what)
    except InvalidName as exc:
        c.add(path, str(exc))
        return None


def _setting(c: _Checker, value: object, path: str, setting: Setting) -> SettingValue:
    if isinstance(value, bool) or not isinstance(value, int | float):
        c.add(path, "must be a number")
        return setting.default
    if not setting.low <= value <= setting.high:  # also refuses nan
        c.add(path, f"must be from {setting.low:g} to {setting.high:g}, got {value}")
        return setting.default
    if setting.integer:
        if value != int(value):
            c.add(path, "must be a whole number")
        return int(value)
    return float(value)


def _text(c: _Checker, value: object, path: str, limit: int) -> str:
    if not isinstance(value, str):
        c.add(path, "must be a string")
        return ""
    if len(value) > limit:
        c.add(path, f"is at most {limit} characters")
    return value


def _dependency(
    c: _Checker, name: str, data: object, path: str
) -> tuple[DependencyConfig, list[tuple[str, str, str]]] | None:
    if not isinstance(data, dict):
        c.add(path, "must be a table: [dependencies.NAME] with description, probe_url, ...")
        return None
    table = c.table(data, path, _DEPENDENCY)
    description = _text(c, table.get("description", ""), f"{path}.description", MAX_DESCRIPTION)
    probe_url = table.get("probe_url")
    if probe_url is not None:
        probe_url = _text(c, probe_url, f"{path}.probe_url", MAX_URL)
        parts = urlsplit(probe_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            c.add(f"{path}.probe_url", "must be an http(s) URL with a host")
    settings = tuple(
        (
            key,
            _setting(c, table[key], f"{path}.{key}", setting) if key in table else setting.default,
        )
        for key, setting in DEPENDENCY_SETTINGS.items()
    )
    bindings: list[tuple[str, str, str]] = []
    flags = table.get("flags", [])
    if not isinstance(flags, list):
        c.add(f"{path}.flags", "must be a list: [{ flag = ..., environment = ..., variant = ... }]")
        flags = []
    for i, item in enumerate(flags):
        where = f"{path}.flags[{i}]"
        if not isinstance(item, dict):
            c.add(where, "must be a table: { flag = ..., environment = ..., variant = ... }")
            continue
        binding = c.table(item, where, _BINDING)
        flag = _plain_name(c, binding.get("flag"), f"{where}.flag", "flag key")
        env = _plain_name(c, binding.get("environment"), f"{where}.environment", "environment")
        variant = binding.get("variant")
        if not isinstance(variant, str) or not variant or len(variant) > 128:
            c.add(
                f"{where}.variant", "is required: the variant (1-128 characters) it falls back to"
            )
            variant = None
        if flag is not None and env is not None and variant is not None:
            bindings.append((flag, env, variant))
    return DependencyConfig(name, description, probe_url, settings), bindings


def _dependencies(
    c: _Checker, data: object
) -> tuple[tuple[DependencyConfig, ...], tuple[Fallback, ...]]:
    if not isinstance(data, dict):
        c.add("dependencies", "must be a table of [dependencies.NAME] tables")
        return (), ()
    found: list[DependencyConfig] = []
    # (flag, environment) -> (variant, dependencies, the path that first named the variant)
    bound: dict[tuple[str, str], tuple[str, list[str], str]] = {}
    for key, value in data.items():
        path = f"dependencies.{toml_key(key)}"
        name = _plain_name(c, key, path, "dependency name")
        parsed = _dependency(c, key, value, path) if name is not None else None
        if parsed is None:
            continue
        found.append(parsed[0])
        for flag, env, variant in parsed[1]:
            first = bound.setdefault((flag, env), (variant, [], path))
            if first[0] != variant:
                c.add(
                    f"{path}.flags",
                    f"flag {flag!r} in {env!r} falls back to {variant!r} here but to "
                    f"{first[0]!r} in {first[2]}: a flag has one fallback variant",
                )
            elif key not in first[1]:
                first[1].append(key)
    fallbacks = tuple(
        Fallback(flag, env, variant, tuple(sorted(deps)))
        for (flag, env), (variant, deps, _) in sorted(bound.items())
        if deps
    )
    return tuple(sorted(found, key=lambda d: d.name)), fallbacks


# TOML basic strings: these characters have short escapes; other control characters (and
# DEL) take \uXXXX. Everything else, brackets and quotes of shell commands included, is data.
_SHORT_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}


def toml_string(text: str) -> str:
    """``text`` as a TOML basic string that reads back as exactly ``text``."""
    out = []
    for ch in text:
        if ch in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def toml_key(key: str) -> str:
    """A key as TOML writes it: bare (``billing-api``) when it can be, else quoted."""
    if key and all(ch.isascii() and (ch.isalnum() or ch in "-_") for ch in key):
        return key
    return toml_string(key)


def _check_graph(c: _Checker, services: list[tuple[int, ServiceConfig]]) -> None:
    index = {s.name: i for i, s in services}
    for i, s in services:
        for dep in s.depends_on:
            if dep == s.name:
                c.add(f"services[{i}].depends_on", f"{s.name!r} cannot depend on itself")
            elif dep not in index:
                c.add(
                    f"services[{i}].depends_on",
                    f"unknown service {dep!r}; declare it in [[services]]",
                )
    graph = {s.name: {d for d in s.depends_on if d in index} for _, s in services}
    cycle = find_cycle(graph)
    if cycle is not None and len(cycle) > 2:
        c.add(f"services[{index[cycle[0]]}].depends_on", str(RequirementCycleError(cycle)))


def parse_config(text: str) -> ProjectConfig:
    """Parse and validate a ``trimtab.toml``; raise ConfigError listing every problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([Problem("(file)", f"not valid TOML: {exc}")]) from exc
    c = _Checker()
    c.table(data, "", _TOP)
    project = c.table(data.get("project"), "project", _PROJECT) if "project" in data else {}
    name = c.name(project.get("name"), "project.name")
    days, per_env = _stabilization(c, data.get("stabilization", {}))

    services: list[tuple[int, ServiceConfig]] = []
    seen: dict[str, int] = {}
    raw_services = data.get("services", [])
    if not isinstance(raw_services, list):
        c.add("services", "must be an array of tables: [[services]]")
        raw_services = []
    for i, raw in enumerate(raw_services):
        service = _service(c, raw, f"services[{i}]")
        if service is None:
            continue
        if service.name in seen:
            c.add(
                f"services[{i}].name",
                f"duplicate service {service.name!r} (also services[{seen[service.name]}])",
            )
            continue
        seen[service.name] = i
        services.append((i, service))
    _check_graph(c, services)

    freezes: list[Freeze] = []
    raw_freezes = data.get("freezes", [])
    if not isinstance(raw_freezes, list):
        c.add("freezes", "must be an array of tables: [[freezes]]")
        raw_freezes = []
    for i, raw in enumerate(raw_freezes):
        freeze = _freeze(c, raw, f"freezes[{i}]")
        if freeze is not None:
            if any(f.name == freeze.name for f in freezes):
                c.add(f"freezes[{i}].name", f"duplicate freeze {freeze.name!r}")
            else:
                freezes.append(freeze)

    environments = None
    if "environments" in data:
        environments = _environments(c, data["environments"])

    dependencies: tuple[DependencyConfig, ...] | None = None
    fallbacks: tuple[Fallback, ...] = ()
    if "dependencies" in data:
        dependencies, fallbacks = _dependencies(c, data["dependencies"])

    if c.problems or name is None:
        raise ConfigError(c.problems)
    return ProjectConfig(
        name,
        days,
        per_env,
        tuple(s for _, s in services),
        tuple(freezes),
        dependencies,
        fallbacks,
        environments,
    )
