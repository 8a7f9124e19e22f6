"""Flag jobs: apply due scheduled changes and ramp steps (see domain.flag_schedules)."""

from __future__ import annotations

from trimtab.domain.flags import schedules
from trimtab.jobs.scheduler import Job
from trimtab.settings import Settings
from trimtab.store.db import Store

SCHEDULES_INTERVAL_S = 10.0


def apply_flag_schedules(store: Store, settings: Settings) -> None:
    schedules.apply_due(store)


def flag_jobs() -> list[Job]:
    return [Job("flag-schedules", SCHEDULES_INTERVAL_S, apply_flag_schedules)]
