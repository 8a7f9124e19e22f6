"""Queue a notification for people, inside the caller's transaction (see the outbox model)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from trimtab.core.alerts import NOTIFICATION_KINDS
from trimtab.store.models import Notification

# The kinds people can be notified of; core.alerts lists them, with the rule families.
KINDS = frozenset(NOTIFICATION_KINDS)


def notify(
    session: Session,
    project_id: int,
    kind: str,
    title: str,
    body: dict[str, Any],
    *,
    environment: str | None = None,
) -> Notification:
    """Queue `kind` for delivery; nothing is sent if the caller's transaction rolls back."""
    if kind not in KINDS:
        raise ValueError(f"unknown notification kind {kind!r}")
    notification = Notification(
        project_id=project_id, kind=kind, environment=environment, title=title[:300], body=body
    )
    session.add(notification)
    session.flush()
    return notification
