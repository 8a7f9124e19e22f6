"""Pull the fields trimtab indexes out of an event dict, normalized and bounded.

The event keeps every field the SDK sent (stored compressed elsewhere); these helpers only
produce the small values that go into index rows. Each is bounded, so a hostile or broken event
cannot make a row huge, and each tolerates any shape (a wrong type reads as absent).

Feature flags: Sentry's flag integrations send the flags evaluated before an error as
`contexts.flags.values = [{"flag": "<name>", "result": <value>}, ...]`, oldest first. trimtab's
own SDK uses the same place and shape, so Sentry tooling shows them too, and may add
`"variant": "<name>"` and `"reason": "<why>"` (OpenFeature reasons such as
"TARGETING_MATCH") to an entry. The last evaluation of a flag wins.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = [
    "LEVELS",
    "EventFields",
    "FlagEvaluation",
    "bounded",
    "derived_tags",
    "event_id",
    "event_timestamp",
    "extract_fields",
    "feature_flags",
    "normalize_level",
    "parse_timestamp",
    "tags",
    "user_key",
]

LEVELS = ("debug", "info", "warning", "error", "fatal")
_LEVEL_ALIASES = {
    "warn": "warning",
    "critical": "fatal",
    "log": "info",
    "trace": "debug",
    "err": "error",
    "exception": "error",
}

MAX_TAG_KEY = 200
MAX_TAG_VALUE = 200
MAX_TAGS = 100
MAX_FLAGS = 100
MAX_FLAG_NAME = 200
MAX_ENVIRONMENT = 64
MAX_RELEASE = 200
MAX_USER_KEY = 200
# A browser SDK's user ip_address meaning "the address this request came from".
AUTO_IP = "{{auto}}"
MAX_SHORT = 200  # platform, transaction and other one-line labels
# Events dated further ahead than this are taken as received now: a skewed device clock
# must not pin an issue's "last seen" in the future.
MAX_CLOCK_SKEW = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class FlagEvaluation:
    flag: str
    result: bool | int | float | str | None
    variant: str | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class EventFields:
    """The indexed fields of one event."""

    event_id: str | None
    timestamp: datetime
    level: str
    platform: str
    environment: str | None
    release: str | None
    transaction: str | None
    user_key: str | None
    tags: list[tuple[str, str]]
    flags: list[FlagEvaluation]


def extract_fields(
    event: Mapping[str, Any], received_at: datetime, client_ip: str | None = None
) -> EventFields:
    """All indexed fields at once; `received_at` (aware) stands in for a missing or future
    timestamp, `client_ip` for a user `ip_address` of "{{auto}}"."""
    timestamp = event_timestamp(event)
    if timestamp is None or timestamp > received_at + MAX_CLOCK_SKEW:
        timestamp = received_at
    sdk_tags = tags(event)
    seen = {key for key, _ in sdk_tags}
    extra = [(k, v) for k, v in derived_tags(event) if k not in seen]
    return EventFields(
        event_id=event_id(event),
        timestamp=timestamp,
        level=normalize_level(event.get("level")),
        platform=bounded(event.get("platform"), MAX_SHORT) or "other",
        environment=bounded(event.get("environment"), MAX_ENVIRONMENT),
        release=bounded(event.get("release"), MAX_RELEASE),
        transaction=bounded(event.get("transaction"), MAX_SHORT),
        user_key=user_key(event, client_ip),
        tags=(sdk_tags + extra)[:MAX_TAGS],
        flags=feature_flags(event),
    )


def bounded(value: Any, limit: int) -> str | None:
    """`value` as one line of at most `limit` characters; None when absent or blank."""
    if (
        type(value) is str
        and 0 < len(value) <= limit
        and value.isprintable()
        and not value[0].isspace()
        and not value[-1].isspace()
    ):
        return value  # the common case, checked in C
    if value is None or isinstance(value, (dict, list)):
        return None
    if isinstance(value, bool):
        text = "true" if value else "false"
    else:
        text = value if isinstance(value, str) else str(value)
    text = text[: limit * 2]  # what follows is cut anyway; do not copy megabytes around
    if "\n" in text or "\r" in text or "\t" in text:
        text = " ".join(text.split())
    text = text.strip()
    if not text:
        return None
    return text if len(text) <= limit else text[: limit - 1] + "…"


def normalize_level(value: Any) -> str:
    """One of LEVELS; SDK spellings like "warn" and "critical" map over, unknown -> "error"."""
    if not isinstance(value, str):
        return "error"
    level = value.strip().lower()
    if level in LEVELS:
        return level
    return _LEVEL_ALIASES.get(level, "error")


def event_id(event: Mapping[str, Any]) -> str | None:
    """The event id as 32 lowercase hex characters (dashes dropped), or None if malformed."""
    raw = event.get("event_id")
    if not isinstance(raw, str):
        return None
    text = raw.replace("-", "").lower()
    return text if _HEX32_RE.fullmatch(text) else None


_HEX32_RE = re.compile(r"[0-9a-f]{32}")


def event_timestamp(event: Mapping[str, Any]) -> datetime | None:
    """The event's `timestamp` read by `parse_timestamp`."""
    return parse_timestamp(event.get("timestamp"))


def parse_timestamp(raw: Any) -> datetime | None:
    """An SDK timestamp as an aware UTC datetime: epoch seconds (number or numeric string)
    or ISO 8601 (naive means UTC). None when absent or unreadable."""
    if isinstance(raw, bool) or raw is None:
        return None
    try:
        if isinstance(raw, (int, float)):
            return datetime.fromtimestamp(raw, UTC)
        if not isinstance(raw, str):
            return None
        text = raw.strip()
        try:
            return datetime.fromtimestamp(float(text), UTC)
        except ValueError:
            pass
        parsed = datetime.fromisoformat(text.replace("z", "Z"))
    except (ValueError, OverflowError, OSError):
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def user_key(event: Mapping[str, Any], client_ip: str | None = None) -> str | None:
    """Who was affected, for distinct-user counts: "id:<id>", else "email:", "username:",
    "ip:". A browser SDK's "{{auto}}" ip means the address the request came from."""
    user = event.get("user")
    if not isinstance(user, dict):
        return None
    for field, prefix in (("id", "id"), ("email", "email"), ("username", "username")):
        value = bounded(user.get(field), MAX_USER_KEY)
        if value is not None:
            return f"{prefix}:{value}"[:MAX_USER_KEY]
    ip = user.get("ip_address")
    if ip == AUTO_IP:
        ip = client_ip
    value = bounded(ip, MAX_USER_KEY)
    return f"ip:{value}"[:MAX_USER_KEY] if value is not None else None


def with_client_ip(event: Mapping[str, Any], client_ip: str | None) -> dict[str, Any] | None:
    """The event with a user `ip_address` of "{{auto}}" replaced by the address the request
    came from, as Sentry does at ingest; None when there is nothing to replace (or the peer
    is no IP address, as over a unix socket)."""
    user = event.get("user")
    if not client_ip or not isinstance(user, dict) or user.get("ip_address") != AUTO_IP:
        return None
    try:
        ipaddress.ip_address(client_ip)
    except ValueError:
        return None
    return {**event, "user": {**user, "ip_address": client_ip}}


def tags(event: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The SDK's tags as (key, value) pairs, from a dict or a list of pairs; first of a
    duplicated key wins, empty keys and null values are dropped, at most MAX_TAGS."""
    raw = event.get("tags")
    if isinstance(raw, dict):
        pairs: list[Any] = list(raw.items())
    elif isinstance(raw, list):
        pairs = [p for p in raw if isinstance(p, (list, tuple)) and len(p) == 2]
    else:
        return []
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    for key_raw, value_raw in pairs:
        key = bounded(key_raw, MAX_TAG_KEY)
        value = bounded(value_raw, MAX_TAG_VALUE)
        if key is None or value is None or key in seen:
            continue
        seen.add(key)
        out.append((key, value))
        if len(out) >= MAX_TAGS:
            break
    return out


def derived_tags(event: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Tags trimtab adds from contexts and the exception, as Sentry does: browser, os,
    device, runtime (name and "name version"), handled, mechanism."""
    out: list[tuple[str, str]] = []
    contexts = event.get("contexts")
    if isinstance(contexts, dict):
        for context, key in (("browser", "browser"), ("os", "os"), ("runtime", "runtime")):
            ctx = contexts.get(context)
            if isinstance(ctx, dict):
                name = bounded(ctx.get("name"), MAX_TAG_VALUE)
                version = bounded(ctx.get("version"), MAX_TAG_VALUE)
                if name:
                    out.append((f"{key}.name", name))
                    out.append((key, f"{name} {version}"[:MAX_TAG_VALUE] if version else name))
        device = contexts.get("device")
        if isinstance(device, dict):
            model = bounded(device.get("model") or device.get("family"), MAX_TAG_VALUE)
            if model:
                out.append(("device", model))
    mechanism = _main_mechanism(event)
    if mechanism is not None:
        handled = mechanism.get("handled")
        if isinstance(handled, bool):
            out.append(("handled", "yes" if handled else "no"))
        kind = bounded(mechanism.get("type"), MAX_TAG_VALUE)
        if kind:
            out.append(("mechanism", kind))
    return out


def _main_mechanism(event: Mapping[str, Any]) -> dict[str, Any] | None:
    exception = event.get("exception")
    values = exception.get("values") if isinstance(exception, dict) else exception
    if not isinstance(values, list) or not values or not isinstance(values[-1], dict):
        return None
    mechanism = values[-1].get("mechanism")
    return mechanism if isinstance(mechanism, dict) else None


def feature_flags(event: Mapping[str, Any]) -> list[FlagEvaluation]:
    """The flags evaluated before the event (see the module docstring), oldest first, the
    last evaluation of each flag kept, at most MAX_FLAGS (the most recent)."""
    contexts = event.get("contexts")
    flags_ctx = contexts.get("flags") if isinstance(contexts, dict) else None
    values = flags_ctx.get("values") if isinstance(flags_ctx, dict) else None
    if not isinstance(values, list):
        return []
    latest: dict[str, FlagEvaluation] = {}
    for entry in values:
        if not isinstance(entry, dict):
            continue
        name = bounded(entry.get("flag"), MAX_FLAG_NAME)
        if name is None:
            continue
        latest.pop(name, None)  # re-inserting moves it to the end: order is by last use
        latest[name] = FlagEvaluation(
            flag=name,
            result=_flag_result(entry.get("result")),
            variant=bounded(entry.get("variant"), MAX_SHORT),
            reason=bounded(entry.get("reason"), MAX_SHORT),
        )
    return list(latest.values())[-MAX_FLAGS:]


def _flag_result(value: Any) -> bool | int | float | str | None:
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return value[:MAX_TAG_VALUE]
    return bounded(value if not isinstance(value, (dict, list)) else repr(value), MAX_TAG_VALUE)
