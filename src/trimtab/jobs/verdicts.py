"""Recompute the verdict of every stabilization window still waiting for its final one."""

from __future__ import annotations

from trimtab.domain.releases import verdicts
from trimtab.jobs.scheduler import Job
from trimtab.settings import Settings
from trimtab.store.db import Store

INTERVAL_S = 300.0


def run(store: Store, settings: Settings) -> None:
    with store.write() as session:
        verdicts.update_all(session)


def jobs() -> list[Job]:
    return [Job("window-verdicts", INTERVAL_S, run)]
