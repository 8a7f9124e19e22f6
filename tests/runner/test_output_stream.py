"""What `trimtab agent` sends of a step's output: only what the server has not acknowledged."""

from __future__ import annotations

from trimtab.runner.agent import OutputStream
from trimtab.store.models.deploys import OUTPUT_TAIL_BYTES


def test_output_stream__acknowledged_lines__not_sent_again() -> None:
    out = OutputStream()
    out.add("one")
    out.add("two\n")
    assert out.unsent() == (0, "one\ntwo\n")
    out.acknowledge(4)  # the server holds "one\n"
    out.add("three\n")
    assert out.unsent() == (4, "two\nthree\n")
    out.acknowledge(14)
    assert out.unsent() == (14, "") and not out.pending


def test_output_stream__answer_lost__same_offset_sent_again() -> None:
    out = OutputStream()
    out.add("one\n")
    first = out.unsent()
    out.add("two\n")  # no acknowledge: the heartbeat's answer never came
    assert out.unsent() == (first[0], "one\ntwo\n")


def test_output_stream__more_than_the_tail_waiting__oldest_dropped_offset_moves() -> None:
    out = OutputStream()
    line = "y" * 99 + "\n"
    count = 2 * OUTPUT_TAIL_BYTES // len(line)
    for _ in range(count):
        out.add(line)
    offset, text = out.unsent()
    assert len(text.encode()) <= OUTPUT_TAIL_BYTES
    assert offset + len(text.encode()) == count * len(line)  # the end stays where it was


def test_output_stream__secrets_scrubbed_before_sending() -> None:
    out = OutputStream(("hunter2-secret",))
    out.add("token is hunter2-secret")
    assert out.unsent() == (0, "token is [redacted]\n")
