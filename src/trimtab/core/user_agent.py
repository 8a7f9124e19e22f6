"""User-Agent → browser, OS and device contexts, as Sentry shows them for browser events.

Browser SDKs (`@sentry/browser`) send no `browser`/`os` contexts: the server derives them from the
request's User-Agent at ingest. `contexts_from_user_agent` does that; ingest fills only the
contexts the SDK did not send itself. The rules cover the engines people actually run — they do
not try to be a full UA database; anything unrecognised is simply not filled in.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

MAX_USER_AGENT = 512

# Order matters: Edge and Opera and Samsung carry "Chrome/", Chrome carries "Safari/".
_BROWSERS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("Edge", re.compile(r"\bEdg(?:e|A|iOS)?/([\d.]+)")),
    ("Opera", re.compile(r"\bOPR/([\d.]+)")),
    ("Samsung Internet", re.compile(r"\bSamsungBrowser/([\d.]+)")),
    ("Firefox", re.compile(r"\b(?:Firefox|FxiOS)/([\d.]+)")),
    ("Chrome Headless", re.compile(r"\bHeadlessChrome/([\d.]+)")),
    ("Chrome", re.compile(r"\b(?:Chrome|CriOS)/([\d.]+)")),
    ("Mobile Safari", re.compile(r"\bVersion/([\d.]+).*\bMobile/\S+.*\bSafari/")),
    ("Safari", re.compile(r"\bVersion/([\d.]+).*\bSafari/")),
)

_WINDOWS_VERSIONS = {"10.0": "10", "6.3": "8.1", "6.2": "8", "6.1": "7"}
_IOS = re.compile(r"\b(?:iPhone|CPU) OS (\d+(?:_\d+)*)")
_MACOS = re.compile(r"\bMac OS X (\d+(?:[_.]\d+)*)")
_ANDROID = re.compile(r"\bAndroid (\d+(?:\.\d+)*)")
_WINDOWS = re.compile(r"\bWindows NT (\d+\.\d+)")
_CROS = re.compile(r"\bCrOS \S+ ([\d.]+)")
_ANDROID_MODEL = re.compile(r"\bAndroid [\d.]+; (?:[a-zA-Z-]+; )?([^;)]+?)(?: Build/[^;)]*)?\)")


def _dotted(raw: str) -> str:
    return raw.replace("_", ".")


def _browser(ua: str) -> dict[str, Any] | None:
    for name, pattern in _BROWSERS:
        match = pattern.search(ua)
        if match:
            return {"name": name, "version": match.group(1), "type": "browser"}
    return None


def _os(ua: str) -> dict[str, Any] | None:
    if match := _IOS.search(ua):
        return {"name": "iOS", "version": _dotted(match.group(1)), "type": "os"}
    if match := _ANDROID.search(ua):
        return {"name": "Android", "version": match.group(1), "type": "os"}
    if match := _WINDOWS.search(ua):
        version = _WINDOWS_VERSIONS.get(match.group(1), match.group(1))
        return {"name": "Windows", "version": version, "type": "os"}
    if match := _CROS.search(ua):
        return {"name": "Chrome OS", "version": match.group(1), "type": "os"}
    if match := _MACOS.search(ua):
        return {"name": "Mac OS X", "version": _dotted(match.group(1)), "type": "os"}
    if "Linux" in ua:
        return {"name": "Linux", "type": "os"}
    return None


def _device(ua: str) -> dict[str, Any] | None:
    for family in ("iPad", "iPhone", "iPod"):
        if f"({family};" in ua or f"({family} " in ua:
            return {"family": family, "model": family, "brand": "Apple", "type": "device"}
    if match := _ANDROID_MODEL.search(ua):
        model = match.group(1).strip()
        if model and model.upper() != "K":  # "K" is Chrome's reduced UA placeholder
            return {"family": model, "model": model, "type": "device"}
    if "Macintosh" in ua:
        return {"family": "Mac", "brand": "Apple", "type": "device"}
    return None


def contexts_from_user_agent(user_agent: str | None) -> dict[str, dict[str, Any]]:
    """The `browser`, `os` and `device` contexts a User-Agent string tells; missing ones omitted."""
    if not user_agent:
        return {}
    ua = user_agent[:MAX_USER_AGENT]
    contexts: dict[str, dict[str, Any]] = {}
    for key, found in (("browser", _browser(ua)), ("os", _os(ua)), ("device", _device(ua))):
        if found is not None:
            contexts[key] = found
    return contexts


def event_user_agent(event: Mapping[str, Any]) -> str | None:
    """The User-Agent in the event's `request.headers` (a dict or a list of pairs)."""
    request = event.get("request")
    headers = request.get("headers") if isinstance(request, dict) else None
    pairs: list[Any]
    if isinstance(headers, dict):
        pairs = list(headers.items())
    elif isinstance(headers, list):
        pairs = headers[:200]
    else:
        return None
    for pair in pairs:
        if isinstance(pair, list | tuple) and len(pair) == 2:
            name, value = pair
            if isinstance(name, str) and name.lower() == "user-agent" and isinstance(value, str):
                return value
    return None


def fill_missing_contexts(event: dict[str, Any], user_agent: str | None) -> None:
    """Add derived contexts to `event` where the SDK sent none (never overwrite what it sent)."""
    derived = contexts_from_user_agent(user_agent)
    if not derived:
        return
    contexts = event.get("contexts")
    if not isinstance(contexts, dict):
        contexts = {}
        event["contexts"] = contexts
    for key, value in derived.items():
        if not isinstance(contexts.get(key), dict):
            contexts[key] = value
