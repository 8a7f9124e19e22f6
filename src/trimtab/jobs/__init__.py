"""Background jobs. Each capability lists its jobs in its own module; `all_jobs()` joins them."""

from __future__ import annotations

from trimtab.jobs.scheduler import Job, Scheduler


def all_jobs() -> list[Job]:
    """A fresh list of every job the server runs (fresh: jobs carry per-run stats)."""
    from trimtab.jobs import verdicts  # jobs import the domain; keep this module light

    jobs: list[Job] = []
    jobs += verdicts.jobs()
    return jobs


__all__ = ["Job", "Scheduler", "all_jobs"]
