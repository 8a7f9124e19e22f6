"""Dependency health: checks combining three signals, with hysteresis, and what a transition does.

A check (every `interval_s` per dependency, sooner when an SDK reports an open breaker) reads:

- the probe: the HTTP status of GET probe_url (run by the job before the check, outside any
  transaction) against the expected status, within the timeout;
- SDK reports: bad when at least `open_reports` SDK instances have their breaker open now
  (each instance's latest report counts until it reports again or goes quiet, whatever the
  window: `dependencies.open_reporters`), or when over the last `window_s` at least
  `min_calls` calls failed or timed out at `failure_rate`;
- error reports tagged with the dependency over `error_window_s`: bad at `max_errors`.

A check is bad when any signal is bad. No signal at all is no evidence of failure: a good
check. `down_after` bad checks in a row make a healthy dependency unhealthy, `up_after` good
ones bring it back. A transition bumps every environment's flag-set revision (so SDKs refetch
and bound flags serve their fallback, or stop), is audited as an automatic change for the
dependency and each bound flag, announced as `dependencies.changed` (pages showing health
refresh) and notifies the team (`flag.fallback`).
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

import httpx
from pydantic import ConfigDict
from sqlalchemy import select
from sqlalchemy.orm import Session

from trimtab.domain.flags.dependencies import (
    announce_change,
    bound_flags,
    open_reporters,
    report_totals,
)
from trimtab.domain.flags.rule_sets import bump_revision
from trimtab.domain.results import Result
from trimtab.domain.spine import audit
from trimtab.domain.spine.actors import Actor
from trimtab.domain.spine.notifications import notify
from trimtab.store import rollups
from trimtab.store.models import Dependency, DependencyTransition, utcnow

HEALTH_ACTOR = Actor(kind="system", name="dependency-health", scopes=frozenset({"admin"}))
MAX_PROBE_BODY = 64 * 1024


class ProbeResult(Result):
    """One probe: whether it answered the expected status, and in how many milliseconds
    (to 0.1 ms). A check keeps it in its signals."""

    model_config = ConfigDict(frozen=True)

    ok: bool
    status: int | None
    error: str | None
    elapsed_ms: float


def probe(
    url: str, expected_status: int, timeout_s: float, client: httpx.Client | None = None
) -> ProbeResult:
    """GET `url` once (no redirects followed: a redirect is not the expected answer)."""
    started = time.perf_counter()
    owned = client is None
    http = client or httpx.Client(follow_redirects=False)
    try:
        with http.stream("GET", url, timeout=timeout_s) as response:
            # Read a bounded prefix so a keep-alive connection is left clean.
            for _ in response.iter_bytes(MAX_PROBE_BODY):
                break
            status = response.status_code
    except Exception as exc:  # any failure to get an answer is a failed probe, never a crash
        failure = f"{type(exc).__name__}: {exc}"[:300]
        return ProbeResult(ok=False, status=None, error=failure, elapsed_ms=_since(started))
    finally:
        if owned:
            http.close()
    ok = status == expected_status
    error = None if ok else f"HTTP {status} (expected {expected_status})"
    return ProbeResult(ok=ok, status=status, error=error, elapsed_ms=_since(started))


def _since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


def due_for_check(session: Session, now: datetime) -> list[tuple[int, str | None, int, float]]:
    """(id, probe_url, expected status, probe timeout) of dependencies whose check is due."""
    rows = session.execute(
        select(
            Dependency.id,
            Dependency.probe_url,
            Dependency.probe_expected_status,
            Dependency.probe_timeout_s,
        )
        .where(Dependency.next_check_at <= now)
        .order_by(Dependency.next_check_at)
        .limit(500)
    )
    return [(r[0], r[1], r[2], r[3]) for r in rows]


def check_id(
    session: Session, dependency_id: int, now: datetime, probe_result: ProbeResult | None
) -> bool:
    """`check` by id, for the job (a dependency deleted meanwhile is skipped)."""
    dependency = session.get(Dependency, dependency_id)
    return dependency is not None and check(session, dependency, now, probe_result)


def check(
    session: Session,
    dependency: Dependency,
    now: datetime | None = None,
    probe_result: ProbeResult | None = None,
) -> bool:
    """Run one check (see the module doc). Returns whether the state changed."""
    now = now or utcnow()
    signals: dict[str, Any] = {}
    problems: list[str] = []
    if probe_result is not None:
        signals["probe"] = probe_result.model_dump()
        if not probe_result.ok:
            problems.append(f"probe {probe_result.error}")
    reports = report_totals(session, dependency.id, now - timedelta(seconds=dependency.window_s))
    open_now = open_reporters(session, dependency.id, now)
    signals["sdk"] = {**reports.model_dump(), "open_reporters": open_now}
    calls = reports.successes + reports.failures + reports.timeouts
    bad_calls = reports.failures + reports.timeouts
    if open_now >= dependency.open_reports:
        problems.append(f"{open_now} SDK instance(s) report an open circuit")
    elif calls >= dependency.min_calls and bad_calls / calls >= dependency.failure_rate:
        problems.append(f"SDKs saw {bad_calls} of {calls} calls fail")
    if dependency.max_errors is not None:
        errors = rollups.count_between(
            session,
            dependency.project_id,
            rollups.dependency(dependency.name),
            now - timedelta(seconds=dependency.error_window_s),
            now + timedelta(minutes=1),
        )
        signals["errors"] = {"count": errors, "window_s": dependency.error_window_s}
        if errors >= dependency.max_errors:
            problems.append(f"{errors} error reports in {dependency.error_window_s // 60} min")
    signals["bad"] = bool(problems)
    dependency.last_signals = signals
    dependency.last_checked_at = now
    dependency.next_check_at = now + timedelta(seconds=dependency.interval_s)
    if problems:
        dependency.bad_streak += 1
        dependency.good_streak = 0
        if dependency.state == "healthy" and dependency.bad_streak >= dependency.down_after:
            _transition(session, dependency, "unhealthy", "; ".join(problems), signals, now)
            return True
    else:
        dependency.good_streak += 1
        dependency.bad_streak = 0
        if dependency.state == "unhealthy" and dependency.good_streak >= dependency.up_after:
            reason = f"{dependency.good_streak} good checks in a row"
            _transition(session, dependency, "healthy", reason, signals, now)
            return True
    return False


def _transition(
    session: Session,
    dependency: Dependency,
    to_state: str,
    reason: str,
    signals: dict[str, Any],
    now: datetime,
) -> None:
    from_state = dependency.state
    reason = reason[:500]
    session.add(
        DependencyTransition(
            dependency_id=dependency.id,
            project_id=dependency.project_id,
            from_state=from_state,
            to_state=to_state,
            at=now,
            reason=reason,
            signals=signals,
        )
    )
    dependency.state = to_state
    dependency.state_since = now
    dependency.state_reason = reason
    name = dependency.name
    session.flush()  # rule_sets.unhealthy_dependencies() must see the new state below
    bump_revision(session, dependency.project_id, None, f"dependency {name} {to_state}")
    announce_change(session, dependency.project_id, name, to_state)
    audit.record(
        session,
        HEALTH_ACTOR,
        f"dependency.{to_state}",
        target_type="dependency",
        target_id=name,
        project_id=dependency.project_id,
        before={"state": from_state},
        after={"state": to_state, "automatic": True, "signals": signals},
        reason=reason,
    )
    affected = [b for b in bound_flags(session, dependency.project_id).get(name, []) if b.enabled]
    failing = to_state == "unhealthy"
    for item in affected:
        audit.record(
            session,
            HEALTH_ACTOR,
            "flag.fallback" if failing else "flag.fallback_ended",
            target_type="flag",
            target_id=item.flag,
            project_id=dependency.project_id,
            environment=item.environment,
            after={
                "serving": "fallback" if failing else "rules",
                "fallback_variant": item.fallback_variant,
                "dependency": name,
                "automatic": True,
            },
            reason=f"{name} {'failing' if failing else 'recovered'}: {reason}",
        )
    if affected:
        keys = sorted({item.flag for item in affected})
        title = (
            f"{name} failing: {', '.join(keys)} serving fallback"
            if failing
            else f"{name} recovered: {', '.join(keys)} back to normal"
        )
        notify(
            session,
            dependency.project_id,
            "flag.fallback",
            title,
            {
                "dependency": name,
                "state": to_state,
                "since": now.isoformat(),
                "reason": reason,
                "flags": [{"flag": i.flag, "environment": i.environment} for i in affected],
            },
        )
