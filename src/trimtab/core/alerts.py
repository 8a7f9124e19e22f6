"""Alert webhooks, pure parts: which rule kinds match a notification, what the request body
looks like (generic JSON or Slack-compatible), how it is signed, when to retry.

Bodies are rendered once, when a notification is handed to a target, so every retry sends the
same bytes' content; the signature is computed per attempt over the exact bytes sent:

    X-Trimtab-Timestamp: <unix seconds>
    X-Trimtab-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + body)>

A receiver recomputes it with the target's secret and rejects old timestamps (replays).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

__all__ = [
    "FORMATS",
    "MAX_ATTEMPTS",
    "NOTIFICATION_KINDS",
    "RULE_KINDS",
    "InvalidTarget",
    "Outcome",
    "classify",
    "kind_matches",
    "next_attempt",
    "render",
    "sign",
]

NOTIFICATION_KINDS = (
    "issue.new",
    "issue.regressed",
    "issue.spike",
    "release.verdict",
    "flag.auto_off",
    "flag.fallback",
    "deploy.refused",
    "deploy.failed",
)
# A rule names one kind, or a family ("deploy.*"), or everything ("*").
RULE_KINDS = (*NOTIFICATION_KINDS, "issue.*", "flag.*", "deploy.*", "*")
FORMATS = ("json", "slack")
MAX_URL = 2000
MAX_ATTEMPTS = 6
BACKOFF_BASE = timedelta(seconds=30)  # 30 s, 1 min, 2 min, 4 min, 8 min: ~15 min in all
MAX_BACKOFF = timedelta(hours=1)
_LABELS = {
    "issue.new": "New issue",
    "issue.regressed": "Regression",
    "issue.spike": "Spike",
    "release.verdict": "Release verdict",
    "flag.auto_off": "Flag turned off",
    "flag.fallback": "Flag fallback",
    "deploy.refused": "Deploy refused",
    "deploy.failed": "Deploy failed",
    "test": "Test",
}
_MAX_FIELDS = 8


class InvalidTarget(ValueError):
    """A webhook target trimtab will not send to, with the reason."""


def kind_matches(rule_kind: str, notification_kind: str) -> bool:
    if rule_kind == "*" or rule_kind == notification_kind:
        return True
    return rule_kind.endswith(".*") and notification_kind.startswith(rule_kind[:-1])


def render(
    fmt: str,
    *,
    kind: str,
    project: str,
    environment: str | None,
    title: str,
    data: Mapping[str, Any],
    created_at: datetime,
    link: str | None,
    notification_id: int | None,
) -> dict[str, Any]:
    """The JSON body for a target of format `fmt`."""
    if fmt == "slack":
        return _slack(kind, project, environment, title, data, link)
    if fmt != "json":
        raise InvalidTarget(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
    return {
        "kind": kind,
        "project": project,
        "environment": environment,
        "title": title,
        "created_at": created_at.isoformat(),
        "url": link,
        "notification_id": notification_id,
        "data": dict(data),
    }


def _slack(
    kind: str,
    project: str,
    environment: str | None,
    title: str,
    data: Mapping[str, Any],
    link: str | None,
) -> dict[str, Any]:
    label = _LABELS.get(kind, kind)
    where = f"{project}/{environment}" if environment else project
    # `text` is what notifications and clients without blocks show.
    text = f"[{where}] {label}: {title}"
    heading = f"*<{_escape(link)}|{_escape(title)}>*" if link else f"*{_escape(title)}*"
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"{label}\n{heading}"}},
    ]
    fields = [
        {"type": "mrkdwn", "text": f"*{_escape(key)}*\n{_escape(_short(value))}"}
        for key, value in _facts(data)
    ]
    if fields:
        blocks.append({"type": "section", "fields": fields})
    context = f"trimtab · {_escape(where)} · `{kind}`"
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": context}]})
    return {"text": text, "blocks": blocks}


def _facts(data: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """Scalar fields worth a glance, in the producer's order; ids and long text left out."""
    facts = []
    for key, value in data.items():
        if key.endswith("_id") or key in ("title", "url"):
            continue
        if isinstance(value, bool | int | float) or (
            isinstance(value, str) and 0 < len(value) <= 300
        ):
            facts.append((key.replace("_", " "), value))
        if len(facts) == _MAX_FIELDS:
            break
    return facts


def _short(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)[:300]


def _escape(text: str) -> str:
    # Slack's mrkdwn treats only these three as control characters.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def sign(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


class Outcome:
    DELIVERED = "delivered"
    RETRY = "retry"
    FAILED = "failed"  # permanent: retrying cannot help


def classify(status_code: int | None) -> str:
    """What an HTTP answer means for a delivery; None is a network error or a timeout."""
    if status_code is None:
        return Outcome.RETRY
    if 200 <= status_code < 300:
        return Outcome.DELIVERED
    if status_code in (408, 425, 429) or status_code >= 500:
        return Outcome.RETRY
    # 3xx (redirects are not followed) and other 4xx: the target or the body is wrong.
    return Outcome.FAILED


def next_attempt(
    now: datetime, attempts: int, retry_after_s: float | None = None
) -> datetime | None:
    """When to try again after `attempts` failed tries, or None when they are used up."""
    if attempts >= MAX_ATTEMPTS:
        return None
    delay: timedelta = BACKOFF_BASE * (2 ** max(attempts - 1, 0))
    if retry_after_s is not None and retry_after_s > 0:
        delay = max(delay, timedelta(seconds=retry_after_s))
    return now + min(delay, MAX_BACKOFF)
