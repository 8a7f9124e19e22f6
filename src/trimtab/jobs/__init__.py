"""Background jobs. Each capability lists its jobs in its own module; `all_jobs()` joins them."""

from __future__ import annotations

from trimtab.jobs import verdicts
from trimtab.jobs.agents import agent_jobs
from trimtab.jobs.alerts import alert_jobs
from trimtab.jobs.dependencies import dependency_jobs
from trimtab.jobs.flags import flag_jobs
from trimtab.jobs.retention import retention_jobs
from trimtab.jobs.scheduler import Job, Scheduler


def all_jobs() -> list[Job]:
    """A fresh list of every job the server runs (fresh: jobs carry per-run stats)."""
    jobs: list[Job] = []
    jobs += verdicts.jobs()
    jobs.extend(flag_jobs())
    jobs.extend(dependency_jobs())
    jobs.extend(alert_jobs())
    jobs.extend(retention_jobs())
    jobs.extend(agent_jobs())
    return jobs


__all__ = ["Job", "Scheduler", "all_jobs"]
