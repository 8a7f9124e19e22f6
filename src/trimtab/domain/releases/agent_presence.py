"""Which deploy agents are live, what they serve, and how a step names the agent holding it.

An agent is *live* while its last call (a claim, a heartbeat) is newer than the lease
(`TRIMTAB_AGENT_LEASE`): past that, a step it held would be failed as interrupted, so it counts
as gone, and the dashboard marks it stale. An agent started with `--service` serves those
services only; one without serves all.

This sits below both runs.py (a run's steps show which agent holds them, or that they wait for
one) and agents.py (the claim protocol), so neither imports the other for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from trimtab.store.models import DeployAgent, Environment

CLAIM_PREFIX = "agent:"


def claim_label(slug: str, environment: str, name: str) -> str:
    """How a step's `claimed_by` names the agent that holds it."""
    return f"{CLAIM_PREFIX}{slug}/{environment}:{name}"[:200]


def agent_name(claimed_by: str | None, slug: str, environment: str) -> str | None:
    """The agent's name in a step's `claimed_by`, or None when a local runner claimed it."""
    prefix = claim_label(slug, environment, "")
    if claimed_by is None or not claimed_by.startswith(prefix):
        return None
    return claimed_by[len(prefix) :]


def is_stale(last_heartbeat_at: datetime, lease_s: float, now: datetime) -> bool:
    return last_heartbeat_at < now - timedelta(seconds=lease_s)


@dataclass(frozen=True)
class Presence:
    """The live agents of one environment: whether one serves every service, and the services
    the others name."""

    any_service: bool
    services: frozenset[str]

    def serves(self, service: str) -> bool:
        return self.any_service or service in self.services


def presence(
    session: Session, project_id: int, environment: str, lease_s: float, now: datetime
) -> Presence | None:
    """Who can claim the environment's steps, or None when the server's local runner runs them."""
    runner = session.scalars(
        select(Environment.runner).where(
            Environment.project_id == project_id, Environment.name == environment
        )
    ).first()
    if runner != "agent":
        return None
    live = session.scalars(
        select(DeployAgent).where(
            DeployAgent.project_id == project_id,
            DeployAgent.environment == environment,
            DeployAgent.last_heartbeat_at >= now - timedelta(seconds=lease_s),
        )
    ).all()
    return Presence(
        any(not a.services for a in live), frozenset(s for a in live for s in a.services)
    )


def waiting_for(service: str, present: Presence | None) -> str | None:
    """Why a claimable step does not start, when no live agent serves its service."""
    if present is None or present.serves(service):
        return None
    return f"waiting for an agent serving {service}"
