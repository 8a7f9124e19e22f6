"""The flag-delivery runtime: the one per-process state behind every surface that serves flags
to SDKs — trimtab's SDK API (`/api/v1/sdk/*`, `/api/v1/stream`), OFREP and the Unleash APIs.
Each surface formats the same rule sets its own way; none reads a table itself.

- Rule sets: one entry per environment, compiled once per revision (domain.flags.rule_sets),
  so an evaluation or a rule-set fetch costs no database query. Every committed
  `flags.changed` reaches the store's notifier (from this node, or from the others through
  PostgreSQL LISTEN/NOTIFY) and marks the entry stale at once, before any SDK that got the same
  notice can come back for the new rules; the next request re-reads the revision (one indexed
  read) and recompiles only when it moved. Every entry is also rechecked at least every
  `RECHECK_S` (1 s), a safety net for a missed notice. Reading a rule set never writes.
- Tokens: one resolver (domain.spine.tokens.resolve_sdk_caller) with its answer, good or bad,
  kept for `RECHECK_S` per secret, so a revoked token stops working within a second. Each
  use is stamped through the server's `TokenUses` gate (a write at most once a minute).
- Rate limits (per token, per process) and evaluation counts, flushed to the store
  (domain.flags.flags.record_evaluations) every `FLUSH_S` seconds and at shutdown.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from trimtab.core.evaluation import CompiledFlag, compile_flag
from trimtab.domain.errors import DomainError, RateLimited, Unauthorized
from trimtab.domain.flags import flags, rule_sets
from trimtab.domain.flags.rule_sets import FlagSet
from trimtab.domain.spine import tokens
from trimtab.domain.spine.tokens import SdkCaller
from trimtab.server.auth import TokenUses
from trimtab.store.db import Store
from trimtab.store.models import utcnow
from trimtab.store.notify import Change, Subscription

log = logging.getLogger("trimtab.flags")

RECHECK_S = 1.0
FLUSH_S = 10.0
MAX_TOKENS_CACHED = 10_000
DEFAULT_RATE_LIMIT = 10_000  # requests per second per token, per process
T = TypeVar("T")

__all__ = ["CompiledSet", "FlagRuntime", "SdkCaller", "runtime_of"]


@dataclass
class CompiledSet:
    """One environment's rule set at one revision, compiled, with each protocol's rendering of it
    made at most once (`rendered`)."""

    project: str
    rule_set: FlagSet
    flags: dict[str, CompiledFlag]
    checked_at: float
    _rendered: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def unhealthy(self) -> frozenset[str]:
        return self.rule_set.unhealthy

    @property
    def environment(self) -> str:
        return self.rule_set.environment

    @property
    def environment_id(self) -> int:
        return self.rule_set.environment_id

    @property
    def revision(self) -> int:
        return self.rule_set.revision

    @property
    def etag(self) -> str:
        return self.rule_set.etag

    @property
    def channel(self) -> str:
        return self.rule_set.channel

    @property
    def stamp(self) -> rule_sets.Revision:
        return rule_sets.Revision(self.rule_set.revision, self.rule_set.channel)

    def rendered(self, name: str, render: Callable[[CompiledSet], T]) -> T:
        """`render(self)`, kept under `name` for as long as this revision is served."""
        found = self._rendered.get(name)
        if found is None:
            found = self._rendered[name] = render(self)
        return found  # type: ignore[no-any-return]


class FlagRuntime:
    """The per-process flag-delivery state; `app.state.flag_runtime`."""

    def __init__(
        self,
        store: Store,
        rate_limit: int = DEFAULT_RATE_LIMIT,
        token_uses: TokenUses | None = None,
    ) -> None:
        self.store = store
        self.rate_limit = rate_limit
        self.token_uses = token_uses or TokenUses()
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
            if entry.rule_set.project_id == change.project_id and change.environment in (
                None,
                entry.environment,
            ):
                entry.checked_at = float("-inf")

    def _mark_all_stale(self) -> None:
        for entry in list(self._sets.values()):
            entry.checked_at = float("-inf")

    # --- SDK tokens --------------------------------------------------------------------------

    async def caller(self, secret: str | None) -> SdkCaller:
        """The SDK caller for a token secret, or the DomainError that refuses it (cached)."""
        if not secret:
            raise Unauthorized("send an SDK token: 'Authorization: Bearer <token>' or 'X-API-Key'")
        found = self._tokens.get(secret)
        if found is None or time.monotonic() - found[0] > RECHECK_S:
            answer = await asyncio.to_thread(self._resolve_caller, secret)
        else:
            answer = found[1]
        if isinstance(answer, DomainError):
            raise answer.with_traceback(None)  # a cached error must not grow a traceback chain
        token_id = answer.actor.token_id
        if token_id is not None and self.token_uses.due(token_id):
            await asyncio.to_thread(self.token_uses.write, self.store, token_id)
        return answer

    def _resolve_caller(self, secret: str) -> SdkCaller | DomainError:
        result: SdkCaller | DomainError
        try:
            with self.store.read() as session:
                result = tokens.resolve_sdk_caller(session, secret)
        except DomainError as exc:
            result = exc
        if len(self._tokens) >= MAX_TOKENS_CACHED:
            self._tokens.clear()  # bounded memory under a spray of made-up tokens
        self._tokens[secret] = (time.monotonic(), result)
        return result

    # --- rate limit --------------------------------------------------------------------------

    def check_rate(self, caller: SdkCaller) -> None:
        """A token bucket per token: `rate_limit` requests per second, bursts up to the same."""
        token_id = caller.actor.token_id or 0
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

    # --- rule sets ---------------------------------------------------------------------------

    async def rule_set(self, caller: SdkCaller) -> CompiledSet:
        """The caller's environment's compiled rule set, fresh as described above."""
        found = self._sets.get(caller.environment_id)
        if found is None or time.monotonic() - found.checked_at > RECHECK_S:
            found = await asyncio.to_thread(self._refresh, caller)
        if self.flush_due():
            asyncio.get_running_loop().run_in_executor(None, self.flush_counts)
        return found

    def _refresh(self, caller: SdkCaller) -> CompiledSet:
        """Check the revision (one indexed read) and reload and recompile if it moved."""
        checked_at = time.monotonic()
        entry = self._sets.get(caller.environment_id)
        with self.store.read() as session:
            stamp = rule_sets.revision_of(session, caller.environment_id)
            if entry is not None and stamp == entry.stamp:
                entry.checked_at = checked_at
                return entry
            rule_set = rule_sets.load_flag_set_by_id(
                session, caller.project_id, caller.environment_id, caller.environment
            )
        entry = CompiledSet(
            project=caller.project,
            rule_set=rule_set,
            flags=_compile(rule_set),
            checked_at=checked_at,
        )
        self._sets[caller.environment_id] = entry
        return entry

    async def environment_of_channel(self, channel: str) -> tuple[int, str] | None:
        """(project id, environment name) of an OFREP change-stream channel, if it exists."""

        def lookup() -> tuple[int, str] | None:
            with self.store.read() as session:
                return rule_sets.environment_of_channel(session, channel)

        return await asyncio.to_thread(lookup)

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


def _compile(rule_set: FlagSet) -> dict[str, CompiledFlag]:
    compiled: dict[str, CompiledFlag] = {}
    for config in rule_set.configs:
        try:
            compiled[config["key"]] = compile_flag(config, rule_set.segments)
        except Exception:  # stored configs are validated; never let one break the rest
            log.exception("flag %s in %s does not compile", config["key"], rule_set.environment)
    return compiled


def runtime_of(app_state: Any) -> FlagRuntime:
    runtime: FlagRuntime = app_state.flag_runtime
    return runtime
