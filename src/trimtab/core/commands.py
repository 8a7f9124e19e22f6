"""Deploy command templates: ``./deploy.sh {service} {version} {env}`` -> a safe shell line.

A template is a shell command with three placeholders, ``{service}``, ``{version}`` and
``{env}``. Anything else in braces is refused, so a typo (``{verison}``) fails when the service
is saved rather than at deploy time; a literal brace is written doubled (``{{`` / ``}}``), as
in a shell ``${{HOME}}``.

The values come from people and from CI (a release's version string, an environment name), and
the line runs in a shell, so every value must match ``^[A-Za-z0-9._+-]{1,128}$`` and must not
start with ``-`` (it would read as an option to the deploy script), and is then passed through
``shlex.quote``. The pattern alone already rules out every shell metacharacter; the quoting
keeps the line safe even if the pattern is ever widened.

Exceptions (subclasses of ``CommandError``, a ``ValueError``): ``TemplateError`` for a bad
template, ``UnsafeValueError`` for a value that does not match the pattern.
"""

from __future__ import annotations

import re
import shlex
import string

__all__ = [
    "PLACEHOLDERS",
    "CommandError",
    "TemplateError",
    "UnsafeValueError",
    "check_name",
    "render_command",
    "template_placeholders",
]

PLACEHOLDERS = frozenset({"service", "version", "env"})
_SAFE = re.compile(r"[A-Za-z0-9._+-]{1,128}")


class CommandError(ValueError):
    """Base class for command template errors."""


class TemplateError(CommandError):
    """The template itself is malformed or uses a placeholder trimtab does not fill."""


class UnsafeValueError(CommandError):
    """A value to substitute is not a plain name (it could change the shell command)."""


def check_name(kind: str, value: str) -> str:
    """Return ``value`` if it is a safe name for a command line, else raise UnsafeValueError.

    ``kind`` names the value in the message (``"version"``, ``"service"``, ``"env"``).
    """
    if not isinstance(value, str) or _SAFE.fullmatch(value) is None:
        raise UnsafeValueError(
            f"{kind} {value!r} is not allowed in a deploy command: use 1-128 characters from "
            "letters, digits and . _ + -"
        )
    if value.startswith("-"):
        raise UnsafeValueError(
            f"{kind} {value!r} is not allowed in a deploy command: it must not start with '-'"
        )
    return value


def template_placeholders(template: str) -> frozenset[str]:
    """Return the placeholders a template uses; raise TemplateError if it is not valid."""
    if not template.strip():
        raise TemplateError("command template is empty")
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise TemplateError(
            f"command template {template!r}: {exc}; write a literal brace as {{{{ or }}}}"
        ) from exc
    used: set[str] = set()
    for _literal, field, spec, conversion in parsed:
        if field is None:
            continue
        if field not in PLACEHOLDERS:
            shown = "{" + field + "}" if field else "{}"
            raise TemplateError(
                f"command template {template!r}: unknown placeholder {shown}; use only "
                "{service}, {version} and {env} (write a literal brace as {{ or }})"
            )
        if spec or conversion:
            raise TemplateError(
                f"command template {template!r}: placeholder {{{field}}} takes no format spec "
                "or conversion"
            )
        used.add(field)
    return frozenset(used)


def render_command(template: str, service: str, version: str, env: str) -> str:
    """Substitute the placeholders of ``template``; return the shell line to run.

    Raises TemplateError for a bad template and UnsafeValueError for a value that is not a
    plain name. Values are shell-quoted after validation.
    """
    template_placeholders(template)
    values = {
        "service": shlex.quote(check_name("service", service)),
        "version": shlex.quote(check_name("version", version)),
        "env": shlex.quote(check_name("env", env)),
    }
    return template.format_map(values)
