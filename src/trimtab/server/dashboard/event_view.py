"""Shape an event (`domain.reports.events.event_detail`, as JSON) for the event page.

Only presentation: which exception is shown first, frames newest first, context lines with
their numbers, breadcrumbs with times relative to the error, and the user's path through the
app (the navigation breadcrumbs) in one line. Every value stays as the SDK sent it; anything
of an unexpected shape is shown as JSON rather than dropped.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from trimtab.core.event_fields import AUTO_IP, parse_timestamp

# Contexts shown first, in this order; the rest follow alphabetically. `flags` has its own
# section, `trace` is tracing plumbing.
CONTEXT_ORDER = ("device", "os", "browser", "runtime", "app", "culture", "cloud_resource")
HIDDEN_CONTEXTS = frozenset({"flags"})
LABELS = {"os": "OS", "app": "App", "gpu": "GPU", "trace": "Trace", "cloud_resource": "Cloud"}
MAX_PATH = 30


def pretty(value: Any) -> str:
    """A scalar as text, anything else as indented JSON."""
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    if isinstance(value, bool | int | float):
        return orjson.dumps(value).decode()
    try:
        return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return repr(value)


def is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | bool | int | float)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _frames(holder: dict[str, Any], key: str) -> list[dict[str, Any]]:
    stack = _dict(holder.get(key))
    return [f for f in (stack.get("frames") or []) if isinstance(f, dict)]


def exceptions(detail: dict[str, Any], minified: bool = False) -> list[dict[str, Any]]:
    """The chain, the exception that was raised first and its causes after it. Sentry SDKs
    send the chain oldest cause first. Frames a source map mapped are shown mapped, each
    saying what it was minified (or, with `minified`, as sent, each saying what it maps to);
    a frame that could not be mapped says why."""
    chain = []
    for exc in reversed(detail.get("exception") or []):
        frames = _frames(exc, "stacktrace")
        raw = _frames(exc, "raw_stacktrace")
        if minified and raw:
            # The mapped frame at the same place says where the minified one comes from.
            mapped = frames if len(frames) == len(raw) else [{}] * len(raw)
            shown = [
                _frame(f, maps_to=m) for f, m in zip(reversed(raw), reversed(mapped), strict=True)
            ]
            frames = raw
        else:
            shown = [_frame(f) for f in reversed(frames)]
        mechanism = exc.get("mechanism") if isinstance(exc.get("mechanism"), dict) else {}
        chain.append(
            {
                "type": exc.get("type") or "Error",
                "value": exc.get("value") or "",
                "module": exc.get("module"),
                "mechanism": mechanism,
                "handled": mechanism.get("handled"),
                # Newest call first, as people read a traceback in a tracker.
                "frames": shown,
                "groups": frame_groups(shown),
                "in_app_count": sum(1 for f in frames if f.get("in_app")),
                "sourcemaps": sourcemap_counts(shown, bool(raw)),
            }
        )
    return chain


def frame_groups(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Runs of frames for folding: each in-app frame alone (shown open), each run of library
    frames together (folded behind "N library frames"). A trace with no in-app frame at all
    (an SDK that does not mark them) is one open run: folding all of it would hide it."""
    if not any(f["in_app"] for f in frames):
        return [{"library": False, "frames": frames}] if frames else []
    groups: list[dict[str, Any]] = []
    for frame in frames:
        if frame["in_app"]:
            groups.append({"library": False, "frames": [frame]})
        elif groups and groups[-1]["library"]:
            groups[-1]["frames"].append(frame)
        else:
            groups.append({"library": True, "frames": [frame]})
    return groups


def user_fields(user: dict[str, Any]) -> dict[str, Any]:
    """The event's user as shown: an ip_address still "{{auto}}" (an event stored before
    ingest resolved it to the client's address) says it was not recorded."""
    if user.get("ip_address") == AUTO_IP:
        return {**user, "ip_address": "not recorded (sent as {{auto}})"}
    return user


def user_label(user: dict[str, Any]) -> str:
    """Who the user was, in one line: the first of email, username, id, IP address."""
    for key in ("email", "username", "id", "ip_address"):
        value = user.get(key)
        if value not in (None, "", AUTO_IP):
            return pretty(value)
    return "—"


def sourcemap_counts(frames: list[dict[str, Any]], has_raw: bool) -> dict[str, Any]:
    """How many of the shown frames a source map mapped, how many could not be mapped, and
    whether the frames as sent (minified) are there to show instead."""
    return {
        "mapped": sum(1 for f in frames if f["sourcemap"].get("minified")),
        "unmapped": sum(1 for f in frames if f["sourcemap"].get("error")),
        "has_minified": has_raw,
    }


def frame_sourcemap(frame: dict[str, Any], maps_to: dict[str, Any] | None) -> dict[str, Any]:
    """What source maps did to a frame, as shown: the minified frame it was (`minified`), the
    original one it maps to (`maps_to`, when showing minified frames), or why it could not be
    mapped (`error`); empty for a frame no map was looked up for."""
    data = _dict(frame.get("data"))
    out: dict[str, Any] = {}
    if isinstance(data.get("minified"), dict):
        out["minified"] = _position(data["minified"])
        out["map"] = data.get("sourcemap")
        out["resolved_with"] = data.get("resolved_with")
    if isinstance(data.get("sourcemap_error"), str):
        out["error"] = data["sourcemap_error"]
    target = maps_to.get("data") if maps_to else None
    if isinstance(target, dict) and isinstance(target.get("minified"), dict):
        out = {"maps_to": _position(maps_to or {})}
    elif isinstance(target, dict) and isinstance(target.get("sourcemap_error"), str):
        out = {"error": target["sourcemap_error"]}
    return out


def _position(frame: dict[str, Any]) -> str:
    """file:line:column in function, in one line."""
    where = frame.get("filename") or frame.get("abs_path") or "?"
    text = pretty(where)
    for key in ("lineno", "colno"):
        if isinstance(frame.get(key), int):
            text += f":{frame[key]}"
    function = frame.get("function")
    return f"{text} in {pretty(function)}" if function else text


def _frame(frame: dict[str, Any], maps_to: dict[str, Any] | None = None) -> dict[str, Any]:
    lineno = frame.get("lineno") if isinstance(frame.get("lineno"), int) else None
    pre = [line for line in frame.get("pre_context") or [] if isinstance(line, str)]
    post = [line for line in frame.get("post_context") or [] if isinstance(line, str)]
    context: list[tuple[int | None, str, bool]] = []
    if isinstance(frame.get("context_line"), str):
        start = lineno - len(pre) if lineno is not None else None
        for i, line in enumerate([*pre, frame["context_line"], *post]):
            number = start + i if start is not None else None
            context.append((number, line, i == len(pre)))
    where = frame.get("filename") or frame.get("abs_path") or frame.get("module") or "?"
    return {
        "where": where,
        "module": frame.get("module"),
        "function": frame.get("function") or "?",
        "lineno": lineno,
        "colno": frame.get("colno"),
        "in_app": bool(frame.get("in_app")),
        "context": context,
        "vars": frame.get("vars") if isinstance(frame.get("vars"), dict) else {},
        "package": frame.get("package"),
        "sourcemap": frame_sourcemap(frame, maps_to),
    }


def breadcrumbs(detail: dict[str, Any]) -> list[dict[str, Any]]:
    """Oldest first, each with seconds before the error (negative) when both times are known."""
    event_time = parse_timestamp(detail.get("timestamp"))
    out = []
    for crumb in detail.get("breadcrumbs") or []:
        at = parse_timestamp(crumb.get("timestamp"))
        data = crumb.get("data") if isinstance(crumb.get("data"), dict) else {}
        out.append(
            {
                "at": at,
                "offset": _offset(at, event_time),
                "category": crumb.get("category") or crumb.get("type") or "default",
                "type": crumb.get("type") or "default",
                "level": crumb.get("level") or "info",
                "message": crumb.get("message") or _summary(crumb, data),
                "data": data,
            }
        )
    return out


def _offset(at: datetime | None, event_time: datetime | None) -> str | None:
    if at is None or event_time is None:
        return None
    seconds = (at - event_time).total_seconds()
    if abs(seconds) < 60:
        return f"{seconds:+.1f}s"
    return f"{seconds / 60:+.1f}m"


def _summary(crumb: dict[str, Any], data: dict[str, Any]) -> str:
    if "from" in data or "to" in data:
        return f"{data.get('from', '?')} → {data.get('to', '?')}"
    if "url" in data:
        parts = [str(data.get("method", "")), str(data["url"])]
        if "status_code" in data:
            parts.append(f"[{data['status_code']}]")
        return " ".join(p for p in parts if p)
    return ""


def movement_path(crumbs: list[dict[str, Any]]) -> list[str]:
    """The screens the user went through: navigation breadcrumbs' destinations, in order,
    with repeats of the same screen in a row collapsed."""
    path: list[str] = []
    for crumb in crumbs:
        if crumb["category"] != "navigation" and crumb["type"] != "navigation":
            continue
        data = crumb["data"]
        if not path and isinstance(data.get("from"), str):
            path.append(data["from"])
        destination = data.get("to") or crumb["message"]
        if isinstance(destination, str) and destination and (not path or path[-1] != destination):
            path.append(destination)
    return path[-MAX_PATH:]


def contexts(detail: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    raw = detail.get("contexts") or {}
    names = [n for n in CONTEXT_ORDER if n in raw]
    names += sorted(n for n in raw if n not in CONTEXT_ORDER and n not in HIDDEN_CONTEXTS)
    out = []
    for name in names:
        value = raw[name]
        label = LABELS.get(name, name.replace("_", " ").capitalize())
        out.append((label, value if isinstance(value, dict) else {"value": value}))
    return out


def when(value: Any) -> str:
    """An ISO time (or epoch seconds) as 'YYYY-MM-DD HH:MM:SS UTC'."""
    moment = parse_timestamp(value) if not isinstance(value, datetime) else value
    if moment is None:
        return "—"
    # isoformat, not strftime: a page with a thousand times (the releases timeline) calls this
    # for each, and strftime costs five times as much.
    return moment.astimezone(UTC).isoformat(" ", "seconds")[:19] + " UTC"


def ago(value: Any, now: datetime | None = None) -> str:
    moment = parse_timestamp(value) if not isinstance(value, datetime) else value
    if moment is None:
        return "—"
    seconds = ((now or datetime.now(UTC)) - moment).total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit} ago"
    return "just now"
