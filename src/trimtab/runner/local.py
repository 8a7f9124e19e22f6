"""The local runner: a thread in the server process that runs deploy steps.

It follows the step protocol of `trimtab.domain.releases.runs` (claim, report output, finish);
`trimtab agent` (runner/agent.py) does the same job on another host through the API, with the
same `run_step`. Environments whose runner is `agent` are not picked here. A step runs its rendered
command with the shell, with TRIMTAB_* variables describing the step, under a timeout; then its
health check. The output's tail is written to the ledger while the command runs, so
`deploy status` shows it live. Never called from an HTTP request: a deploy can take minutes.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO

from trimtab.core.urls import AddressPolicy
from trimtab.domain.errors import Conflict
from trimtab.domain.releases import runs
from trimtab.domain.releases.runs import StepTicket
from trimtab.outbound import outbound_client
from trimtab.runner.environment import scrub, secrets_of, step_environment
from trimtab.settings import SECRET_VARIABLES, Settings
from trimtab.store.db import Store
from trimtab.threads import name_os_thread

log = logging.getLogger("trimtab.runner")

FLUSH_INTERVAL_S = 0.5
KEEP_LINES = 400


class OutputTail:
    """The last lines of a command's output, safe to append from a reader thread, with trimtab's
    secrets scrubbed before anyone reads it."""

    def __init__(self, secrets: tuple[str, ...] = ()) -> None:
        self._lines: deque[str] = deque(maxlen=KEEP_LINES)
        self._secrets = secrets
        self._lock = threading.Lock()
        self.changed = False

    def add(self, line: str) -> None:
        with self._lock:
            self._lines.append(line if line.endswith("\n") else line + "\n")
            self.changed = True

    def text(self) -> str:
        with self._lock:
            self.changed = False
            return runs.tail(scrub("".join(self._lines), self._secrets))


def _pump(stream: IO[bytes], out: OutputTail) -> None:
    for raw in iter(stream.readline, b""):
        out.add(raw.decode("utf-8", errors="replace"))
    stream.close()


def check_health(
    health: dict[str, object], out: OutputTail, stop: threading.Event, policy: AddressPolicy
) -> bool:
    """GET the URL until it answers the expected status: 1 try plus `retries` more."""
    url = str(health["url"])
    expect = int(str(health["expect_status"]))
    retries = int(str(health["retries"]))
    interval = float(str(health["interval_s"]))
    timeout = float(str(health["timeout_s"]))
    with outbound_client(policy, timeout=timeout) as client:
        for attempt in range(retries + 1):
            try:
                status = client.get(url).status_code
                out.add(f"[trimtab] health check {url}: {status} (want {expect})")
                if status == expect:
                    return True
            except (
                Exception
            ) as exc:  # a bad URL or a refused address fails the step, never hangs it
                out.add(f"[trimtab] health check {url}: {type(exc).__name__}: {exc}")
            if attempt < retries and stop.wait(interval):
                return False
    return False


class LocalRunner:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        poll_s: float = 1.0,
        *,
        extra_secrets: tuple[str | None, ...] = (),
    ) -> None:
        self.store = store
        self.settings = settings
        self.poll_s = poll_s
        # What step output must never show: trimtab's own secrets, however the command found them.
        self._secrets = secrets_of(
            [
                settings.admin_token,
                settings.admin_password,
                settings.database_url,
                *(os.environ.get(name) for name in sorted(SECRET_VARIABLES)),
                *extra_secrets,
            ]
        )
        self.name = f"local:{socket.gethostname()}:{os.getpid()}"
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.recover()
        self._thread = threading.Thread(target=self._loop, name="trimtab-runner", daemon=True)
        self._thread.start()

    def recover(self) -> list[int]:
        """Fail steps that a dead local runner on this host left `running` (a server crash)."""
        prefix = f"local:{socket.gethostname()}:"

        def is_orphan(claimed_by: str) -> bool:
            if not claimed_by.startswith(prefix) or claimed_by == self.name:
                return False
            pid = claimed_by[len(prefix) :]
            return pid.isdigit() and not _process_alive(int(pid))

        with self.store.write() as session:
            failed = runs.fail_orphaned_steps(session, is_orphan)
        if failed:
            log.warning("failed %d deploy step(s) interrupted by a stopped server", len(failed))
        return failed

    def stop(self, timeout: float = 10) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def wake(self) -> None:
        """Look for work now (a run was started in this process) instead of at the next poll."""
        self._wake.set()

    def _loop(self) -> None:
        name_os_thread()
        while not self._stop.is_set():
            try:
                worked = self.run_one()
            except Exception:  # a broken step must not stop the runner for the next one
                log.exception("runner failed")
                worked = False
            if not worked:
                self._wake.wait(self.poll_s)
                self._wake.clear()

    def run_one(self) -> bool:
        """Claim and run one step; False if there was nothing to claim."""
        with self.store.read() as session:
            if not runs.claimable(session):
                return False
        with self.store.write() as session:
            ticket = runs.claim_next_step(session, self.name)
        if ticket is None:
            return False
        out = OutputTail(self._secrets)
        ok = self._execute(ticket, out)
        try:
            with self.store.write() as session:
                runs.finish_step(session, self.name, ticket.deploy_id, ok, out.text())
        except Conflict:
            log.info("step %d was cancelled while it ran", ticket.deploy_id)
        return True

    def _flush(self, ticket: StepTicket, out: OutputTail) -> bool:
        """Write the output so far; False when the step is no longer ours (cancelled)."""
        try:
            with self.store.write() as session:
                if out.changed:
                    runs.report_output(session, self.name, ticket.deploy_id, out.text())
                else:
                    runs.check_claim(session, self.name, ticket.deploy_id)
        except Conflict:
            return False
        return True

    def _execute(self, ticket: StepTicket, out: OutputTail) -> bool:
        return run_step(
            ticket,
            out,
            StepLimits(self.settings.deploy_env, self.settings.deploy_timeout_s),
            self.settings.outbound,
            self._stop,
            lambda: self._flush(ticket, out),
        )


@dataclass(frozen=True)
class StepLimits:
    """What a runner host allows a step: the variables it may see, how long it may run."""

    deploy_env: tuple[str, ...]
    timeout_s: float


def run_step(
    ticket: StepTicket,
    out: OutputTail,
    limits: StepLimits,
    policy: AddressPolicy,
    stop: threading.Event,
    flush: Callable[[], bool],
) -> bool:
    """Run a claimed step's command, then its health check; whether it succeeded.

    `flush` is called about every FLUSH_INTERVAL_S while the command runs: it reports the output
    so far and answers False when the step is no longer the runner's (cancelled, or an agent's
    lease ran out), which kills the command. The local runner and `trimtab agent` share this.
    """
    out.add(f"[trimtab] $ {ticket.command}")
    env = step_environment(os.environ, limits.deploy_env, ticket.environ)
    process = subprocess.Popen(
        ticket.command,
        shell=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,  # its own process group, so a timeout kills children too
    )
    assert process.stdout is not None
    reader = threading.Thread(target=_pump, args=(process.stdout, out), daemon=True)
    reader.start()
    deadline = time.monotonic() + limits.timeout_s
    code: int | None = None
    while code is None:
        try:
            code = process.wait(timeout=FLUSH_INTERVAL_S)
        except subprocess.TimeoutExpired:
            cancelled = not flush()
            if cancelled or time.monotonic() > deadline or stop.is_set():
                os.killpg(process.pid, signal.SIGKILL)
                code = process.wait()
                why = "cancelled" if cancelled else f"after {limits.timeout_s:g} s"
                out.add(f"[trimtab] killed: {why}")
                reader.join(2)
                return False
    reader.join(5)
    out.add(f"[trimtab] exit code {code}")
    if code != 0:
        return False
    if ticket.health is not None:
        if not flush():
            return False
        return check_health(ticket.health, out, stop, policy)
    return True


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True
