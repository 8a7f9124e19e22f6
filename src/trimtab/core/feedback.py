"""User feedback as Sentry SDKs send it, read into one shape (pure).

Two item types carry it. The newer `feedback` item is an event whose `contexts.feedback` holds
`message`, `contact_email`, `name`, `url` and `associated_event_id` (the error the user saw);
its own `event_id` is the feedback's id. The older `user_report` item is `{event_id, name,
email, comments}`, where `event_id` is the error's id and there is one report per error.
Every text is cut to what the store keeps; a feedback without a message is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from trimtab.core.event_fields import event_id as _hex_event_id

__all__ = ["Feedback", "InvalidFeedback", "parse_feedback_event", "parse_user_report"]

MAX_MESSAGE = 4096
MAX_NAME = 200
MAX_URL = 500


class InvalidFeedback(ValueError):
    """The item is not a feedback trimtab can keep; the text says why."""


@dataclass(frozen=True, slots=True)
class Feedback:
    feedback_id: str  # 32 hex characters
    event_id: str | None  # the event it is about, 32 hex characters
    kind: str  # "feedback" or "user_report"
    name: str | None
    email: str | None
    message: str
    url: str | None


def _text(value: Any, limit: int) -> str | None:
    if not isinstance(value, str):
        return None
    text = value.replace("\x00", "\ufffd").strip()
    return text[:limit] or None


def _hex(value: Any) -> str | None:
    return _hex_event_id({"event_id": value})


def parse_feedback_event(value: Any, fallback_id: str | None = None) -> Feedback:
    """A `feedback` item's payload (an event with `contexts.feedback`)."""
    if not isinstance(value, Mapping):
        raise InvalidFeedback("a feedback item is a JSON object")
    contexts = value.get("contexts")
    context = contexts.get("feedback") if isinstance(contexts, Mapping) else None
    if not isinstance(context, Mapping):
        raise InvalidFeedback("a feedback item has its fields in contexts.feedback")
    message = _text(context.get("message"), MAX_MESSAGE)
    if message is None:
        raise InvalidFeedback("contexts.feedback.message is empty")
    feedback_id = _hex(value.get("event_id")) or _hex(fallback_id)
    if feedback_id is None:
        raise InvalidFeedback("a feedback item needs an event_id (32 hexadecimal characters)")
    return Feedback(
        feedback_id=feedback_id,
        event_id=_hex(context.get("associated_event_id")),
        kind="feedback",
        name=_text(context.get("name"), MAX_NAME),
        email=_text(context.get("contact_email"), MAX_NAME),
        message=message,
        url=_text(context.get("url"), MAX_URL),
    )


def parse_user_report(value: Any) -> Feedback:
    """A `user_report` item's payload (or the body of the legacy user-feedback endpoint)."""
    if not isinstance(value, Mapping):
        raise InvalidFeedback("a user report is a JSON object")
    event_id = _hex(value.get("event_id"))
    if event_id is None:
        raise InvalidFeedback("a user report needs the event_id of its error")
    message = _text(value.get("comments"), MAX_MESSAGE)
    if message is None:
        raise InvalidFeedback("a user report's comments are empty")
    return Feedback(
        feedback_id=event_id,
        event_id=event_id,
        kind="user_report",
        name=_text(value.get("name"), MAX_NAME),
        email=_text(value.get("email"), MAX_NAME),
        message=message,
        url=None,
    )
