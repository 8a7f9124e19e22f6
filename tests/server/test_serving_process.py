"""What a server process sets up once its app is built (`server.workers.settle_serving_process`,
run by `trimtab serve` and by each `--workers` process)."""

from __future__ import annotations

import gc
import sys

from trimtab.server.workers import SWITCH_INTERVAL_S, settle_serving_process


def test_settle_serving_process__freezes_the_heap_and_hands_the_gil_over_sooner() -> None:
    before = sys.getswitchinterval()
    try:
        settle_serving_process()
        # Shorter than CPython's 5 ms: the ingest writer holds SQLite's shared write lock while
        # it waits to take the GIL back from the event loop.
        assert sys.getswitchinterval() == SWITCH_INTERVAL_S < 0.005
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        sys.setswitchinterval(before)
