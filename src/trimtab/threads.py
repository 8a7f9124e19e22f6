"""trimtab's threads named for the operating system.

CPython 3.11 gives every thread the process's name at the OS level, so `top -H`, `ps -L` and
/proc show a busy server as a row of identical "trimtab" threads. Each long-lived thread of a
server (the ingest writer, the quota flusher, the change relay, the deploy runner, the decode
pool) names itself when it starts, from its Python name: an operator sees which one is busy,
and `bench/ingest.py` tells the event loop's CPU from the writer's.
"""

from __future__ import annotations

import contextlib
import sys
import threading

__all__ = ["name_os_thread"]

PREFIX = "trimtab-"
MAX_OS_NAME = 15  # bytes Linux keeps of a thread's name


def name_os_thread(name: str | None = None) -> None:
    """Name the calling thread at the OS level: `name`, else its Python name less the
    "trimtab-" prefix (the process says it is trimtab), cut to what Linux keeps. Nothing
    happens on other systems or if /proc refuses: a name only helps someone looking."""
    if not sys.platform.startswith("linux"):
        return
    name = name or threading.current_thread().name
    name = name.removeprefix(PREFIX).encode("ascii", "replace")[:MAX_OS_NAME].decode("ascii")
    with (
        contextlib.suppress(OSError),
        open(f"/proc/self/task/{threading.get_native_id()}/comm", "w") as comm,
    ):
        comm.write(name)
