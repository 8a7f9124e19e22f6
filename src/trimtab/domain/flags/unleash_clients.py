"""Unleash SDK instances that said hello (`POST /api/client/register`), kept for the flag pages.

One row per environment, application and instance: a repeated hello updates it. Two nodes
receiving the first hello of an instance at once cannot collide (insert-or-ignore, then update).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from trimtab.store.db import insert_ignore
from trimtab.store.models import UnleashClientRegistration, utcnow


@dataclass(frozen=True)
class ClientHello:
    """What an Unleash SDK says about itself, already bounded by the protocol layer."""

    app_name: str
    instance_id: str
    sdk_version: str
    strategies: list[str]
    interval_ms: int | None
    started_at: datetime | None


def register_client(
    session: Session, project_id: int, environment_id: int, hello: ClientHello
) -> None:
    now = utcnow()
    insert_ignore(
        session,
        UnleashClientRegistration,
        {
            "project_id": project_id,
            "environment_id": environment_id,
            "app_name": hello.app_name,
            "instance_id": hello.instance_id,
            "sdk_version": hello.sdk_version,
            "strategies": [],
            "registered_at": now,
            "last_seen_at": now,
        },
    )
    row = session.scalars(
        select(UnleashClientRegistration).where(
            UnleashClientRegistration.environment_id == environment_id,
            UnleashClientRegistration.app_name == hello.app_name,
            UnleashClientRegistration.instance_id == hello.instance_id,
        )
    ).one()
    row.sdk_version = hello.sdk_version
    row.strategies = hello.strategies
    row.interval_ms = hello.interval_ms
    row.started_at = hello.started_at
    row.last_seen_at = now
