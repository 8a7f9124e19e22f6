"""The agent jobs: `agent-leases` fails as interrupted the deploy steps whose agent stopped
calling in; `agent-forget` deletes the agents silent for a week (agents.FORGET_AFTER)."""

from __future__ import annotations

import logging

from trimtab.domain.releases import agents
from trimtab.jobs.scheduler import Job
from trimtab.settings import Settings
from trimtab.store.db import Store

log = logging.getLogger("trimtab.jobs")

INTERVAL_S = 2.0
FORGET_INTERVAL_S = 3600.0


def expire_agent_leases(store: Store, settings: Settings) -> None:
    with store.read() as session:
        if not agents.any_lease_expired(session):
            return
    with store.write() as session:
        failed = agents.expire_leases(session)
    if failed:
        log.warning("failed %d deploy step(s) whose agent's lease ran out", len(failed))


def forget_silent_agents(store: Store, settings: Settings) -> None:
    with store.write() as session:
        forgotten = agents.forget_silent_agents(session)
    if forgotten:
        log.info("forgot %d deploy agent(s) silent for %s", forgotten, agents.FORGET_AFTER)


def agent_jobs() -> list[Job]:
    return [
        Job("agent-leases", INTERVAL_S, expire_agent_leases),
        Job("agent-forget", FORGET_INTERVAL_S, forget_silent_agents),
    ]
