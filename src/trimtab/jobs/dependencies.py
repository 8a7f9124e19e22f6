"""Jobs for dependency health and auto-off rules.

- `dependency-health` (every second): runs the checks that are due — each dependency has its
  own interval — probing first, outside any transaction, several probes at once.
- `flag-auto-off`: checks every active auto-off rule and turns off those whose errors spiked.
- `dependency-prune`: drops SDK report buckets and evaluation minutes older than a day.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from trimtab.domain.flags import auto_off, dependency_health
from trimtab.domain.flags.dependencies import prune_reports
from trimtab.jobs.scheduler import Job
from trimtab.outbound import outbound_client
from trimtab.settings import Settings
from trimtab.store.db import Store
from trimtab.store.models import utcnow

log = logging.getLogger("trimtab.jobs")
MAX_PARALLEL_PROBES = 8
RETENTION = timedelta(days=1)
# Each probe passes its own timeout; this only bounds a request that names none.
PROBE_CLIENT_TIMEOUT_S = 30.0


def run_dependency_checks(store: Store, settings: Settings) -> None:
    """Run every due check."""
    with store.read() as session:
        due = dependency_health.due_for_check(session, utcnow())
    if not due:
        return
    results: dict[int, dependency_health.ProbeResult] = {}
    probes = [(dep_id, url, status, timeout) for dep_id, url, status, timeout in due if url]
    if probes:
        with (
            outbound_client(settings.outbound, timeout=PROBE_CLIENT_TIMEOUT_S) as client,
            ThreadPoolExecutor(min(MAX_PARALLEL_PROBES, len(probes))) as pool,
        ):
            futures = {
                dep_id: pool.submit(dependency_health.probe, url, status, timeout, client)
                for dep_id, url, status, timeout in probes
            }
            results = {dep_id: future.result() for dep_id, future in futures.items()}
    for dep_id, *_ in due:
        # One transaction per dependency: one failing check must not hold back the others.
        try:
            with store.write() as session:
                dependency_health.check_id(session, dep_id, utcnow(), results.get(dep_id))
        except Exception:
            log.exception("dependency check %s failed", dep_id)


def run_auto_off_checks(store: Store, settings: Settings) -> None:
    """Check every active auto-off rule, turning off the flags whose errors spiked."""
    with store.read() as session:
        ids = auto_off.active_rule_ids(session)
    for guard_id in ids:
        try:
            with store.write() as session:
                auto_off.check_rule_id(session, guard_id, utcnow())
        except Exception:
            log.exception("auto-off rule %s failed", guard_id)


def prune(store: Store, settings: Settings) -> None:
    with store.write() as session:
        prune_reports(session, utcnow() - RETENTION)
        auto_off.prune_exposure(session, utcnow() - RETENTION)


def dependency_jobs() -> list[Job]:
    return [
        Job("dependency-health", 1.0, run_dependency_checks),
        # Every 2 s: a flag that hurts users goes off within seconds of crossing its threshold
        # (a check is a few indexed queries per active rule).
        Job("flag-auto-off", 2.0, run_auto_off_checks),
        Job("dependency-prune", 3600.0, prune),
    ]
