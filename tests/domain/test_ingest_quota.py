"""The ingest quota's counting (domain/reports/ingest_quota.py): pure, on a fake clock, with the
store's part played by hand (`collect`, then `settle` with the totals a store would answer, or
`restore`); then `add_counts` and `prune_windows` on the real store."""

from __future__ import annotations

import pytest

from trimtab.domain.reports.ingest_quota import (
    FLUSH_S,
    ROWS_PER_STATEMENT,
    Flush,
    QuotaCounter,
    add_counts,
    prune_windows,
    window_start,
)
from trimtab.store.db import Store
from trimtab.store.models import IngestQuotaWindow

MINUTE = 29_000_000  # some minute since the epoch
KEY = "a" * 32


class Clock:
    def __init__(self, at: float = MINUTE * 60 + 10.0) -> None:
        self.at = at

    def __call__(self) -> float:
        return self.at


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def counter(clock: Clock) -> QuotaCounter:
    return QuotaCounter(clock)


def accepted(counter: QuotaCounter, n: int, limit: int, key: str = KEY) -> int:
    return sum(1 for _ in range(n) if counter.take(key, limit) is None)


def first_flush(counter: QuotaCounter, limit: int, total: int) -> None:
    """One event, flushed; the store answers the cluster's `total`."""
    counter.take(KEY, limit)
    flush = counter.collect()
    assert flush == Flush(MINUTE, {KEY: 1})
    counter.settle(flush, {KEY: total})


def test_take__up_to_the_limit__then_refused_with_the_rest_of_the_minute(
    counter: QuotaCounter, clock: Clock
) -> None:
    assert accepted(counter, 5, limit=5) == 5
    assert counter.take(KEY, 5) == 50  # 10 s into the minute
    assert counter.retry_after(KEY, 5) == 50
    clock.at += 49.5
    assert counter.retry_after(KEY, 5) == 1  # never 0: the SDK would come straight back


def test_take__next_minute__counts_afresh(counter: QuotaCounter, clock: Clock) -> None:
    assert accepted(counter, 3, limit=2) == 2
    clock.at += 60
    assert counter.retry_after(KEY, 2) is None
    assert accepted(counter, 3, limit=2) == 2


def test_take__keys_are_counted_apart(counter: QuotaCounter) -> None:
    assert accepted(counter, 2, limit=2) == 2
    assert accepted(counter, 2, limit=2, key="b" * 32) == 2


def test_first_event_of_a_minute__due_at_once(counter: QuotaCounter) -> None:
    counter.take(KEY, 100)
    assert counter.due
    assert counter.collect() == Flush(MINUTE, {KEY: 1})
    assert not counter.due


def test_after_a_flush__not_due_again_before_a_second__unless_a_tenth_of_the_limit(
    counter: QuotaCounter, clock: Clock
) -> None:
    first_flush(counter, limit=100, total=1)
    assert accepted(counter, 9, limit=100) == 9
    assert not counter.due and counter.collect() is None
    counter.take(KEY, 100)  # 10 unflushed: a tenth of the limit
    assert counter.due
    assert counter.collect() == Flush(MINUTE, {KEY: 10})


def test_unflushed_counts__flushed_once_their_second_is_up(
    counter: QuotaCounter, clock: Clock
) -> None:
    first_flush(counter, limit=100, total=1)
    counter.take(KEY, 100)
    clock.at += FLUSH_S / 2
    assert counter.collect() is None
    clock.at += FLUSH_S / 2
    assert counter.collect() == Flush(MINUTE, {KEY: 1})


def test_collect_everything__takes_what_is_not_due_yet(counter: QuotaCounter) -> None:
    first_flush(counter, limit=100, total=1)
    counter.take(KEY, 100)
    assert counter.collect() is None
    assert counter.collect(everything=True) == Flush(MINUTE, {KEY: 1})


def test_cluster_total__counts_against_the_limit(counter: QuotaCounter) -> None:
    first_flush(counter, limit=50, total=45)  # the others took 44 this minute
    assert accepted(counter, 10, limit=50) == 5
    assert counter.take(KEY, 50) is not None


def test_counts_in_flight__still_count_while_the_flush_runs(counter: QuotaCounter) -> None:
    counter.take(KEY, 3)
    flush = counter.collect()  # in flight: the store has not answered yet
    assert flush is not None
    assert accepted(counter, 5, limit=3) == 2
    counter.settle(flush, {KEY: 1})
    assert counter.take(KEY, 3) is not None


def test_failed_flush__counts_stay_local_and_go_with_the_next_flush(
    counter: QuotaCounter,
) -> None:
    assert accepted(counter, 2, limit=3) == 2
    flush = counter.collect()
    assert flush == Flush(MINUTE, {KEY: 2})
    counter.restore(flush)
    assert accepted(counter, 5, limit=3) == 1  # still limited, on this process's counts
    assert counter.collect() == Flush(MINUTE, {KEY: 3})


def test_settle_after_the_minute_ended__ignored(counter: QuotaCounter, clock: Clock) -> None:
    counter.take(KEY, 5)
    flush = counter.collect()
    assert flush is not None
    clock.at += 60
    assert accepted(counter, 2, limit=5) == 2
    counter.settle(flush, {KEY: 5})  # the old minute's total
    assert accepted(counter, 5, limit=5) == 3


def test_past_minutes__unflushed_counts_dropped(counter: QuotaCounter, clock: Clock) -> None:
    counter.take(KEY, 5)
    clock.at += 60
    assert counter.collect() is None


# -- the shared rows -------------------------------------------------------------------


def test_add_counts__adds_to_the_minute_and_answers_the_totals(store: Store) -> None:
    with store.write() as session:
        assert add_counts(session, Flush(MINUTE, {KEY: 3, "b" * 32: 1})) == {
            KEY: 3,
            "b" * 32: 1,
        }
    with store.write() as session:  # another process's flush
        assert add_counts(session, Flush(MINUTE, {KEY: 4})) == {KEY: 7}
    with store.write() as session:
        assert add_counts(session, Flush(MINUTE + 1, {KEY: 2})) == {KEY: 2}


def test_add_counts__more_keys_than_one_statement_takes__all_added(store: Store) -> None:
    counts = {f"{n:032x}": n + 1 for n in range(ROWS_PER_STATEMENT + 5)}
    with store.write() as session:
        assert add_counts(session, Flush(MINUTE, counts)) == counts


def test_prune_windows__keeps_this_minute_and_the_one_before(store: Store) -> None:
    with store.write() as session:
        for minute in range(MINUTE - 3, MINUTE + 1):
            add_counts(session, Flush(minute, {KEY: 1}))
    with store.write() as session:
        assert prune_windows(session, MINUTE) == 2
    with store.read() as session:
        kept = session.query(IngestQuotaWindow.window_start).order_by("window_start").all()
    assert [row[0] for row in kept] == [window_start(MINUTE - 1), window_start(MINUTE)]
