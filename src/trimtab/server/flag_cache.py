"""What the evaluation surfaces (OFREP, Unleash) keep in memory so that an evaluation costs no
database query: compiled rule sets, SDK token lookups, rate-limit buckets and evaluation counts.

Correctness across nodes rests on the flag-set revision (domain.flags): an entry is keyed by
environment and carries the revision it was compiled from.

- On this node, every committed `flags.changed` arrives through the store's notifier, and the
  entry is marked stale at once, before any SDK that got the same notice can come back for the
  new rules; the next request re-reads the revision (one indexed query) and recompiles only
  when it moved.
- Changes made on another node are seen by the same revision check, which every entry does at
  least every `RECHECK_S` (1 s). With PostgreSQL LISTEN/NOTIFY behind the notifier this
  becomes instant on every node; the periodic check stays as a safety net.

SDK tokens are looked up once per `RECHECK_S` per token, so a revoked token stops working
within a second. Rate limits and evaluation counts are per process: counts are flushed to the
store (domain.flags.record_evaluations) every `FLUSH_S` seconds and at shutdown.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import select

from trimtab.core.evaluation import CompiledFlag, compile_flag
from trimtab.core.unleash import translate_flags
from trimtab.domain.errors import DomainError, Forbidden, RateLimited, Unauthorized
from trimtab.domain.flags import flags, rule_sets
from trimtab.domain.spine import tokens
from trimtab.domain.spine.actors import SDK_SCOPES, Actor
from trimtab.store.db import Store
from trimtab.store.models import Environment, FlagSetRevision, Project, utcnow
from trimtab.store.notify import Change, Subscription

log = logging.getLogger("trimtab.flags")

RECHECK_S = 1.0
FLUSH_S = 10.0
MAX_TOKENS_CACHED = 10_000
DEFAULT_RATE_LIMIT = 10_000  # requests per second per token, per process


@dataclass(frozen=True)
class SdkCaller:
    """An SDK token, resolved: the one project and environment it may evaluate."""

    actor: Actor
    project_id: int
    project: str
    environment_id: int
    environment: str

    @property
    def server_side(self) -> bool:
        return "sdk-server" in self.actor.scopes


@dataclass
class CompiledSet:
    project_id: int
    project: str
    environment_id: int
    environment: str
    revision: int
    etag: str
    channel: str
    flags: dict[str, CompiledFlag]
    unhealthy: frozenset[str]
    configs: list[dict[str, Any]]
    segments: dict[str, list[Any]]
    checked_at: float
    _unleash: tuple[bytes, str] | None = field(default=None, repr=False)

    def unleash_features(self) -> tuple[bytes, str]:
        """The Unleash client features JSON (translated once per revision) and its ETag."""
        if self._unleash is None:
            translation = translate_flags(
                self.configs,
                segments=self.segments,
                unhealthy=self.unhealthy,
                project=self.project,
            )
            body = orjson.dumps(translation.features)
            self._unleash = (body, self.etag)
        return self._unleash


class FlagRuntime:
    """The per-process state of the evaluation surfaces; `app.state.flag_runtime`."""

    def __init__(self, store: Store, rate_limit: int = DEFAULT_RATE_LIMIT) -> None:
        self.store = store
        self.rate_limit = rate_limit
        self._sets: dict[int, CompiledSet] = {}
        self._tokens: dict[str, tuple[float, SdkCaller | DomainError]] = {}
        self._buckets: dict[int, list[float]] = {}
        self._counts: dict[tuple[int, str], dict[str, dict[str, int]]] = {}
        self._counts_lock = threading.Lock()
        self._last_flush = time.monotonic()
        self._flushing = False
        self._subscription: Subscription | None = None
        self._listener: asyncio.Task[None] | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        self._subscription = self.store.notifier.subscribe(None)
        self._listener = asyncio.create_task(self._listen(self._subscription))

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
        if self._subscription is not None:
            self._subscription.close()
        await asyncio.to_thread(self.flush_counts)

    async def _listen(self, subscription: Subscription) -> None:
        while True:
            change = await subscription.get(60.0)
            if subscription.overflowed:
                subscription.overflowed = False
                self._mark_all_stale()
            if change is not None and change.kind == "flags.changed":
                self._mark_stale(change)

    def _mark_stale(self, change: Change) -> None:
        for entry in list(self._sets.values()):
            if entry.project_id == change.project_id and change.environment in (
                None,
                entry.environment,
            ):
                entry.checked_at = float("-inf")

    def _mark_all_stale(self) -> None:
        for entry in list(self._sets.values()):
            entry.checked_at = float("-inf")

    # --- SDK tokens --------------------------------------------------------------------------

    def cached_caller(self, secret: str) -> SdkCaller | DomainError | None:
        """The caller for `secret` if known and fresh; None when the store must be asked."""
        found = self._tokens.get(secret)
        if found is None or time.monotonic() - found[0] > RECHECK_S:
            return None
        return found[1]

    def resolve_caller(self, secret: str) -> SdkCaller | DomainError:
        """Look the token up in the store (blocking) and cache the answer, good or bad."""
        result: SdkCaller | DomainError
        try:
            result = self._lookup(secret)
        except DomainError as exc:
            result = exc
        if len(self._tokens) >= MAX_TOKENS_CACHED:
            self._tokens.clear()  # bounded memory under a spray of made-up tokens
        self._tokens[secret] = (time.monotonic(), result)
        return result

    def _lookup(self, secret: str) -> SdkCaller:
        with self.store.read() as session:
            actor = tokens.authenticate(session, secret)
            if not actor.scopes & SDK_SCOPES:
                raise Forbidden("this endpoint takes an SDK token (sdk-server or sdk-client)")
            if actor.project_id is None or actor.environment_id is None:
                raise Forbidden("SDK tokens must be bound to a project and an environment")
            row = session.execute(
                select(Project.slug, Environment.name)
                .join(Environment, Environment.project_id == Project.id)
                .where(Environment.id == actor.environment_id)
            ).first()
            if row is None:
                raise Unauthorized("the token's environment no longer exists")
            return SdkCaller(actor, actor.project_id, row[0], actor.environment_id, row[1])

    # --- rate limit --------------------------------------------------------------------------

    def check_rate(self, token_id: int) -> None:
        """A token bucket per token: `rate_limit` requests per second, bursts up to the same."""
        now = time.monotonic()
        bucket = self._buckets.get(token_id)
        if bucket is None:
            bucket = self._buckets[token_id] = [float(self.rate_limit), now]
        tokens_left = min(float(self.rate_limit), bucket[0] + (now - bucket[1]) * self.rate_limit)
        bucket[1] = now
        if tokens_left < 1.0:
            bucket[0] = tokens_left
            raise RateLimited(
                f"over {self.rate_limit} requests per second for this token", retry_after=1
            )
        bucket[0] = tokens_left - 1.0

    # --- compiled flag sets ------------------------------------------------------------------

    def cached_set(self, caller: SdkCaller) -> CompiledSet | None:
        """The compiled set if checked within RECHECK_S and not invalidated; else None."""
        entry = self._sets.get(caller.environment_id)
        if entry is None or time.monotonic() - entry.checked_at > RECHECK_S:
            return None
        return entry

    def refresh_set(self, caller: SdkCaller) -> CompiledSet:
        """Check the revision (one indexed query) and recompile if it moved (blocking)."""
        checked_at = time.monotonic()
        entry = self._sets.get(caller.environment_id)
        revision_query = select(FlagSetRevision.revision, FlagSetRevision.channel).where(
            FlagSetRevision.environment_id == caller.environment_id
        )
        with self.store.read() as session:
            missing = session.execute(revision_query).first() is None
        if missing:  # an environment no flag change has touched yet
            with self.store.write() as writer:
                rule_sets.ensure_revision_row(writer, caller.project_id, caller.environment_id)
        with self.store.read() as session:
            row = session.execute(revision_query).one()
            revision, channel = int(row[0]), str(row[1])
            if entry is not None and entry.revision == revision:
                entry.checked_at = checked_at
                return entry
            flag_set = rule_sets.load_flag_set_by_id(
                session, caller.project_id, caller.environment_id, caller.environment
            )
            unhealthy = rule_sets.unhealthy_dependencies(session, caller.project_id)
        compiled: dict[str, CompiledFlag] = {}
        for config in flag_set.configs:
            try:
                compiled[config["key"]] = compile_flag(config, flag_set.segments)
            except Exception:  # stored configs are validated; never let one break the rest
                log.exception("flag %s in %s does not compile", config["key"], caller.environment)
        entry = CompiledSet(
            project_id=caller.project_id,
            project=caller.project,
            environment_id=caller.environment_id,
            environment=caller.environment,
            revision=flag_set.revision,
            etag=flag_set.etag,
            channel=channel,
            flags=compiled,
            unhealthy=unhealthy,
            configs=flag_set.configs,
            segments=flag_set.segments,
            checked_at=checked_at,
        )
        self._sets[caller.environment_id] = entry
        return entry

    # --- evaluation counts -------------------------------------------------------------------

    def count(self, caller: SdkCaller, key: str, variant: str | None) -> None:
        with self._counts_lock:
            per_env = self._counts.setdefault((caller.project_id, caller.environment), {})
            per_flag = per_env.setdefault(key, defaultdict(int))
            per_flag[variant or "error"] += 1

    def flush_due(self) -> bool:
        """Whether counts are due for a flush (the caller runs `flush_counts` off the loop)."""
        if self._flushing or time.monotonic() - self._last_flush < FLUSH_S:
            return False
        self._flushing = True
        return True

    def flush_counts(self) -> None:
        with self._counts_lock:
            counts, self._counts = self._counts, {}
            self._last_flush = time.monotonic()
        try:
            at = utcnow()
            for (project_id, environment), per_env in counts.items():
                plain = {k: dict(v) for k, v in per_env.items()}
                for start in range(0, len(plain), flags.MAX_METRIC_KEYS):
                    chunk = dict(list(plain.items())[start : start + flags.MAX_METRIC_KEYS])
                    with self.store.write() as session:
                        flags.record_evaluations(session, project_id, environment, chunk, at)
        except Exception:  # counts are best effort; the next flush carries on
            log.exception("could not record evaluation counts")
        finally:
            self._flushing = False


def runtime_of(app_state: Any) -> FlagRuntime:
    runtime: FlagRuntime = app_state.flag_runtime
    return runtime


async def in_thread(function: Callable[..., Any], *args: Any) -> Any:
    return await asyncio.to_thread(function, *args)
