"""`trimtab serve --workers N`: N server processes on one port.

The parent binds the port, forks N workers (each runs its own uvicorn, its own store connections
and its own group-commit ingest writer) and supervises them: a worker that dies is started
again; SIGTERM or SIGINT stops them all gracefully.

On Linux each worker accepts on a listening socket of its own, all bound to the port with
SO_REUSEPORT, and the kernel spreads new connections over them evenly (by a hash of their
addresses). One socket shared by every worker spread them badly: the worker that woke first
accepted every connection waiting (uvicorn takes up to its backlog at once), and clients that
keep their connections (SDKs, a proxy's upstream pool) stayed with it, one core busy and the
other idle (docs/benchmarks.md, stop 23). The parent holds every socket, so connections that
reach a dead worker's socket wait in its queue for the restarted worker instead of being
refused. Where SO_REUSEPORT does not balance (macOS, the BSDs) the workers share one socket.

Work that must happen once runs in worker 0 only: the background jobs (on PostgreSQL their
advisory locks would also keep them single across nodes; on SQLite there is no lock) and the
local runner. Changes announced in one worker reach the others' SSE streams through PostgreSQL
LISTEN/NOTIFY, or on SQLite through the change relay table (store/notify_sqlite.py).
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from multiprocessing.process import BaseProcess

from trimtab.settings import Settings

log = logging.getLogger("trimtab.server")

# How long a thread keeps the GIL once another thread asks for it (CPython's default: 5 ms).
# The ingest writer holds SQLite's write lock, which every server process shares, while it runs
# Python between its statements, and it gives the GIL up during each statement: taking it back
# from a busy event loop could wait the whole interval each time while the other processes'
# writers waited on the lock. A first A/B with `serve --workers 2` measured about 1,050 events/s
# with 5 ms against 1,400-1,500 with 1 ms; a second could not separate them from the host's
# noise; no run showed a cost (docs/benchmarks.md, stop 22).
SWITCH_INTERVAL_S = 0.001
# A worker that keeps dying at once is not restarted in a tight loop.
RESTART_BACKOFF_S = 1.0
STOP_GRACE_S = 30.0


class CannotListen(Exception):
    """The port is in use, or not ours to take."""


def bind_sockets(host: str, port: int, count: int) -> list[socket.socket]:
    """The listening sockets of `count` workers: one each on Linux (SO_REUSEPORT), else one
    for all. Port 0 picks a free port once, for all of them. A port another server listens on
    is refused ("address already in use") in either case."""
    if not (sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")):
        return [_socket(host, port, reuse_port=False, listen=True)]
    # SO_REUSEPORT would also let these join a server of the same user already listening on the
    # port (a second trimtab started by mistake), and the kernel would split connections
    # between the two. A plain bind first fails as it always did, then makes way.
    probe = _socket(host, port, reuse_port=False, listen=False)
    port = probe.getsockname()[1]
    probe.close()
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sockets.append(_socket(host, port, reuse_port=True, listen=True))
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def _socket(host: str, port: int, *, reuse_port: bool, listen: bool) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        if listen:
            sock.listen(2048)
            sock.set_inheritable(True)
    except OSError:
        sock.close()
        raise
    return sock


def worker_settings(settings: Settings, index: int) -> Settings:
    """Worker 0 runs the once-only work (jobs, local runner); the others serve requests."""
    return settings if index == 0 else dataclasses.replace(settings, runner_enabled=False)


def settle_serving_process() -> None:
    """Ready a server process once its app is built, before it serves: everything imported and
    built so far lives as long as the process, so it is frozen out of the cycle collector, which
    would otherwise walk it again on every full collection (the thousands of objects of each
    parsed ~40 KB event trigger collections all the time); and threads hand over the GIL
    within `SWITCH_INTERVAL_S`."""
    gc.collect()
    gc.freeze()
    sys.setswitchinterval(SWITCH_INTERVAL_S)


def _worker_main(
    settings: Settings, index: int, count: int, sockets: list[socket.socket], level: str
) -> None:
    import uvicorn

    from trimtab.server.app import create_app
    from trimtab.store.db import Store

    sock = sockets[index % len(sockets)]
    for other in sockets:
        if other is not sock:
            other.close()  # this process's copy; the parent keeps it for its own worker
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_DFL)  # uvicorn installs its own once it runs
    store = Store(settings.database_url)
    if count > 1:
        store.share_changes_across_processes()
    app = create_app(worker_settings(settings, index), store=store, run_jobs=index == 0)
    settle_serving_process()
    duties = "runs the background jobs" if index == 0 else "serves requests only"
    print(f"trimtab worker {index} (pid {os.getpid()}): {duties}", file=sys.stderr, flush=True)
    config = uvicorn.Config(
        app, log_level=level, access_log=False, proxy_headers=False, lifespan="on"
    )
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        store.dispose()


def run_workers(settings: Settings, host: str, port: int, count: int, log_level: str) -> int:
    """Serve with `count` worker processes until SIGTERM/SIGINT; returns the exit status.
    Raises `CannotListen` when the port cannot be bound."""
    try:
        sockets = bind_sockets(host, port, count)
    except OSError as exc:
        raise CannotListen(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    context = multiprocessing.get_context("fork")
    stopping = threading.Event()

    def start(index: int) -> BaseProcess:
        process = context.Process(
            target=_worker_main,
            args=(settings, index, count, sockets, log_level),
            name=f"trimtab-worker-{index}",
            daemon=False,
        )
        process.start()
        return process

    def on_signal(signum: int, frame: object) -> None:
        stopping.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    workers = {index: start(index) for index in range(count)}
    try:
        while not stopping.wait(0.5):
            for index, process in list(workers.items()):
                if process.is_alive():
                    continue
                log.warning(
                    "worker %d (pid %s) exited with %s; starting it again",
                    index,
                    process.pid,
                    process.exitcode,
                )
                time.sleep(RESTART_BACKOFF_S)
                if not stopping.is_set():
                    workers[index] = start(index)
    finally:
        for process in workers.values():
            if process.is_alive() and process.pid is not None:
                os.kill(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for process in workers.values():
            process.join(max(0.1, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()
        for sock in sockets:
            sock.close()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0
