"""Write a ``ProjectConfig`` as a commented ``trimtab.toml`` (what ``trimtab init`` saves).

The text reads back through ``core.config_file.parse_config`` as the same config (a property
test holds the two together). Every value is written as TOML data: a deploy command full of
quotes, backslashes, brackets or newlines is one escaped basic string, never raw text spliced
into the file. Comments explain each section and key once, above the section;
docs/trimtab-toml.md is the full reference.
"""

from __future__ import annotations

from collections.abc import Iterable
from zoneinfo import ZoneInfo

from trimtab.core.config_file import (
    DEPENDENCY_SETTINGS,
    DependencyConfig,
    Fallback,
    HealthCheck,
    ProjectConfig,
    ServiceConfig,
    toml_key,
    toml_string,
)
from trimtab.core.cron import format_duration
from trimtab.core.windows import DEFAULT_WINDOW_DAYS, MAX_WINDOW_DAYS, MIN_WINDOW_DAYS, Freeze

__all__ = ["render_config"]

_HEADER = """\
# trimtab.toml: project {name} as code. `trimtab apply` shows what this file changes on the
# server, then makes the server match it; `trimtab init` wrote it from the server's state.
# The file is the whole truth for what it declares: a service or freeze left out is removed.
# Reference of every section and key: docs/trimtab-toml.md
"""

_PROJECT = """\
# The project this file describes (its slug). `apply` creates it if the server lacks it, and
# refuses a file written for another project.
"""

_STABILIZATION = f"""\
# Stabilization window: after a successful deploy, a new deploy of the same services is
# refused for this many days (override with `trimtab deploy start --override --reason`).
# days: the project's length, which production uses unless listed below \
({MIN_WINDOW_DAYS}-{MAX_WINDOW_DAYS}, default {DEFAULT_WINDOW_DAYS}).
# environments: per-environment lengths, e.g. {{ staging = 1 }}; only production and the
#   environments listed open a window. Also set by `trimtab window set`.
"""

_ENVIRONMENTS = """\
# Who runs each environment's deploy steps: runner = "local" (the trimtab server, the default)
# or "agent" (`trimtab agent --project P --env E` on the environment's own hosts, with a token
# of scope agent). An environment this table leaves out runs locally; without the table,
# `apply` leaves runners as they are. Also set by `trimtab env runner`.
"""

_NO_ENVIRONMENTS = """\
# [environments.production]
# runner = "agent"
"""

_SERVICES = """\
# Services, deployed in waves: a service after everything in its depends_on.
#   name        1-64 lowercase letters, digits, - _ or . (first a letter or digit)
#   command     the shell line the trimtab host runs; {service}, {version} and {env} are
#               filled in (a literal brace is written {{ or }})
#   manual      true: another team deploys it and confirms (no command)
#   depends_on  services that must be deployed first
#   downtime    true: its deploy interrupts users (a maintenance notice is shown)
#   health      checked after the deploy: GET url until it answers expect_status, up to
#               retries more times, interval_s apart, each try waiting timeout_s
"""

_FREEZES = """\
# Freezes: periods when deploys are refused.
#   recurring: cron (5 fields, or weekends / long-weekends) + duration (e.g. 62h), in timezone
#   one-off:   start and end (a date, or a datetime with its offset); a date as end means
#              through that day
#   reason (shown with each refusal), environments (empty: every environment)
"""

_DEPENDENCIES = """\
# Dependencies: external systems flags fall back on. While one is unhealthy, every flag
# listed in its `flags` serves its fallback variant in that environment. How the server
# decides health (unset keys take the default shown):
#   description, probe_url (GET every check; healthy when it answers probe_expected_status)
{settings}
#   flags = [{{ flag = "KEY", environment = "ENV", variant = "VARIANT" }}, ...]
# Without a [dependencies] table, `apply` leaves dependencies and fallbacks as they are.
"""

_NO_DEPENDENCIES = """\
# [dependencies.billing-api]
# description = "Billing API (backend team)"
# probe_url = "https://billing.example/health"
# flags = [{ flag = "new-payment-page", environment = "production", variant = "off" }]
"""


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)  # 5.0, 0.5, 1e-05: TOML floats that read back exactly
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {value!r}")


def _inline(pairs: Iterable[tuple[str, object]]) -> str:
    return "{ " + ", ".join(f"{toml_key(k)} = {_value(v)}" for k, v in pairs) + " }"


def _health(check: HealthCheck) -> str:
    return _inline(
        [
            ("url", check.url),
            ("expect_status", check.expect_status),
            ("retries", check.retries),
            ("interval_s", check.interval_s),
            ("timeout_s", check.timeout_s),
        ]
    )


def _service(service: ServiceConfig) -> list[str]:
    lines = ["[[services]]", f"name = {_value(service.name)}"]
    if service.manual:
        lines.append("manual = true")
    if service.command is not None:
        lines.append(f"command = {_value(service.command)}")
    if service.depends_on:
        lines.append(f"depends_on = {_value(list(service.depends_on))}")
    if service.downtime:
        lines.append("downtime = true")
    if service.health is not None:
        lines.append(f"health = {_health(service.health)}")
    return lines


def _freeze(freeze: Freeze) -> list[str]:
    lines = ["[[freezes]]", f"name = {_value(freeze.name)}"]
    if freeze.reason:
        lines.append(f"reason = {_value(freeze.reason)}")
    if freeze.cron is not None:
        lines.append(f"cron = {_value(freeze.cron)}")
        lines.append(f"duration = {_value(format_duration(freeze.schedule()[1]))}")
    else:
        assert freeze.start is not None and freeze.end is not None
        zone = ZoneInfo(freeze.timezone)
        # Offset datetimes, in the freeze's own timezone: exact, and readable where it applies.
        lines.append(f"start = {freeze.start.astimezone(zone).isoformat()}")
        lines.append(f"end = {freeze.end.astimezone(zone).isoformat()}")
    lines.append(f"timezone = {_value(freeze.timezone)}")
    if freeze.environments:
        lines.append(f"environments = {_value(list(freeze.environments))}")
    return lines


def _dependency(dependency: DependencyConfig, fallbacks: tuple[Fallback, ...]) -> list[str]:
    lines = [f"[dependencies.{toml_key(dependency.name)}]"]
    if dependency.description:
        lines.append(f"description = {_value(dependency.description)}")
    if dependency.probe_url is not None:
        lines.append(f"probe_url = {_value(dependency.probe_url)}")
    for key, value in dependency.settings:
        if value is not None and value != DEPENDENCY_SETTINGS[key].default:
            lines.append(f"{key} = {_value(value)}")
    bound = [f for f in fallbacks if dependency.name in f.dependencies]
    if bound:
        lines.append("flags = [")
        for f in bound:
            pairs = [("flag", f.flag), ("environment", f.environment), ("variant", f.variant)]
            lines.append(f"  {_inline(pairs)},")
        lines.append("]")
    return lines


def _dependency_settings() -> str:
    lines = []
    for key, s in DEPENDENCY_SETTINGS.items():
        default = "unset" if s.default is None else f"{s.default:g}"
        lines.append(f"#   {key:<22}{s.meaning} ({s.low:g}-{s.high:g}, default {default})")
    return "\n".join(lines)


def _managed(intro: str, table: str, sections: list[str] | None, unmanaged: str, empty: str) -> str:
    """A table `apply` manages only when the file has it: an example in comments when it is
    not managed (`sections` None), the bare table when it is but holds nothing, else its
    sections."""
    if sections is None:
        return intro + unmanaged
    if not sections:
        return intro + f"[{table}]\n# ({empty})\n"
    return intro + "\n\n".join(sections)


def render_config(config: ProjectConfig) -> str:
    """``config`` as a commented trimtab.toml that ``parse_config`` reads back as ``config``."""
    parts = [_HEADER.format(name=config.name)]
    parts.append(_PROJECT + "[project]\n" + f"name = {_value(config.name)}\n")
    stabilization = [
        "[stabilization]",
        f"days = {config.stabilization_days}",
        f"environments = {_inline(config.stabilization_environments)}"
        if config.stabilization_environments
        else "environments = {}",
    ]
    parts.append(_STABILIZATION + "\n".join(stabilization) + "\n")
    environments = None
    if config.environments is not None:
        environments = [
            f"[environments.{toml_key(e.name)}]\nrunner = {_value(e.runner)}"
            for e in config.environments
        ]
    parts.append(
        _managed(_ENVIRONMENTS, "environments", environments, _NO_ENVIRONMENTS, "all local")
    )
    if config.services:
        parts.append(_SERVICES + "\n\n".join("\n".join(_service(s)) for s in config.services))
    else:
        parts.append(_SERVICES + "# (none yet)\n")
    if config.freezes:
        parts.append(_FREEZES + "\n\n".join("\n".join(_freeze(f)) for f in config.freezes))
    else:
        parts.append(_FREEZES + "# (none yet)\n")
    dependencies = None
    if config.dependencies is not None:
        dependencies = ["\n".join(_dependency(d, config.fallbacks)) for d in config.dependencies]
    intro = _DEPENDENCIES.format(settings=_dependency_settings())
    parts.append(_managed(intro, "dependencies", dependencies, _NO_DEPENDENCIES, "none yet"))
    return "\n".join(part.rstrip("\n") + "\n" for part in parts)
