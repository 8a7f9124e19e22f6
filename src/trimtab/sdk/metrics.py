"""Evaluation counts without a lock on the hot path.

Each thread counts into its own dict, keyed by the identity of the (precomputed, shared)
evaluation result: `entry = [count, flag_key, variant, result, reported]`. Only the owning
thread writes `count`; only the reporter writes `reported`; so counts are exact without a lock
and the reporter sends `count - reported`. Holding `result` in the entry keeps its id from being
reused while the entry exists. Entries fully reported are dropped by their own thread when its
dict grows, and the dicts of finished threads once they are fully reported.
"""

from __future__ import annotations

import threading
from typing import Any

COUNT, KEY, VARIANT, RESULT, REPORTED = range(5)
PRUNE_AT = 512


class EvaluationCounter:
    def __init__(self) -> None:
        self.local = threading.local()
        self._lock = threading.Lock()
        self._threads: list[tuple[threading.Thread, dict[int, list[Any]]]] = []

    def register(self) -> dict[int, list[Any]]:
        """This thread's dict (first use in a thread)."""
        counts: dict[int, list[Any]] = {}
        self.local.counts = counts
        with self._lock:
            self._threads.append((threading.current_thread(), counts))
        return counts

    @staticmethod
    def add(counts: dict[int, list[Any]], key: str, result: Any) -> list[Any]:
        """A new entry in this thread's dict (pruning fully reported ones first)."""
        if len(counts) >= PRUNE_AT:
            for ident, entry in list(counts.items()):
                if entry[COUNT] == entry[REPORTED]:
                    del counts[ident]
        entry = [0, key, result.variant or "", result, 0]
        counts[id(result)] = entry
        return entry

    def collect(self) -> tuple[dict[str, dict[str, int]], list[tuple[list[Any], int]]]:
        """Counts not yet reported, `{flag: {variant: n}}`, and the marks to `commit` once the
        server has them."""
        with self._lock:
            threads = list(self._threads)
        by_flag: dict[str, dict[str, int]] = {}
        marks: list[tuple[list[Any], int]] = []
        for _, counts in threads:
            for entry in list(counts.values()):
                seen = entry[COUNT]
                delta = seen - entry[REPORTED]
                if delta > 0:
                    variants = by_flag.setdefault(entry[KEY], {})
                    variants[entry[VARIANT]] = variants.get(entry[VARIANT], 0) + delta
                    marks.append((entry, seen))
        return by_flag, marks

    def commit(self, marks: list[tuple[list[Any], int]]) -> None:
        for entry, seen in marks:
            entry[REPORTED] = seen
        with self._lock:
            self._threads = [
                (thread, counts)
                for thread, counts in self._threads
                if thread.is_alive() or any(e[COUNT] != e[REPORTED] for e in counts.values())
            ]
