"""trimtab's threads carry their names to the operating system (`top -H`, /proc)."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest

from trimtab.threads import name_os_thread

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="thread names are read from Linux's /proc"
)


def _os_name_of_thread(python_name: str, given: str | None = None) -> str:
    """The OS name a thread called `python_name` has after `name_os_thread(given)`."""
    seen: list[str] = []

    def run() -> None:
        name_os_thread(given)
        comm = Path(f"/proc/self/task/{threading.get_native_id()}/comm")
        seen.append(comm.read_text().strip())

    thread = threading.Thread(target=run, name=python_name)
    thread.start()
    thread.join(60)
    return seen[0]


def test_name_os_thread__its_python_name__without_the_trimtab_prefix() -> None:
    assert _os_name_of_thread("trimtab-ingest-writer") == "ingest-writer"


def test_name_os_thread__long_or_not_ascii__cut_to_what_linux_keeps() -> None:
    assert _os_name_of_thread("trimtab-ingest-decode_12") == "ingest-decode_1"
    assert _os_name_of_thread("x", given="écrivain-de-données") == "?crivain-de-don"


def test_name_os_thread__the_main_thread_of_the_test_process__left_alone() -> None:
    """Only the thread that asks is named: the process's own name (its main thread's) stays."""
    before = Path("/proc/self/comm").read_text()
    _os_name_of_thread("trimtab-relay-poll")
    assert Path("/proc/self/comm").read_text() == before
