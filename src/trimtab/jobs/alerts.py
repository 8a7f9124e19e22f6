"""The alerts job: spike checks, outbox fan-out and webhook delivery, every few seconds."""

from __future__ import annotations

from trimtab.domain.reports import alert_delivery
from trimtab.jobs.scheduler import Job
from trimtab.settings import Settings
from trimtab.store.db import Store
from trimtab.store.models import utcnow

INTERVAL_S = 5.0


def run_alerts(store: Store, settings: Settings) -> None:
    with alert_delivery.new_client(settings.outbound) as client:
        alert_delivery.run(store, settings.public_url, utcnow(), client)


def alert_jobs() -> list[Job]:
    return [Job("alerts", INTERVAL_S, run_alerts)]
