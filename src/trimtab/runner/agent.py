"""`trimtab agent`: runs one environment's deploy steps on the host it runs on.

It claims steps from the server over HTTP(S) with its `agent` token (domain/releases/agents.py):
the server hands out one step with a lease and the command text from the stored service
definition — the agent never defines a command. It runs the step as the local runner does
(`run_step`: a minimal environment, this host's TRIMTAB_DEPLOY_ENV and TRIMTAB_DEPLOY_TIMEOUT),
sends the scrubbed output the server has not acknowledged yet with each heartbeat (which renews
the lease; at most every second while there is output, else every third of the lease), then the
result. When the server answers that the step is no longer the agent's (cancelled, or the lease
ran out while the server could not be reached) the command is killed. SIGTERM / SIGINT stop
the agent after killing the command in flight (its step is reported failed).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

import httpx

from trimtab.core.urls import AddressPolicy
from trimtab.domain.releases import runs
from trimtab.domain.releases.runs import StepTicket
from trimtab.runner.environment import scrub, secrets_of
from trimtab.runner.local import OutputTail, StepLimits, run_step
from trimtab.settings import SECRET_VARIABLES, parse_passthrough
from trimtab.store.models.deploys import OUTPUT_TAIL_BYTES

log = logging.getLogger("trimtab.agent")

OUTPUT_EVERY_S = 1.0
RETRY_S = 2.0
TICKET_FIELDS = frozenset(StepTicket.__dataclass_fields__)


class AgentError(Exception):
    """The server refused the agent (a bad token, another project, a local environment)."""


class StepLost(Exception):
    """The step is no longer this agent's (cancelled, or its lease ran out)."""


class OutputStream(OutputTail):
    """A step's output as the agent reports it: besides the tail, the lines the server has not
    acknowledged, from stream offset `start` on. A heartbeat sends them (`unsent`); its answer
    gives the offset the server holds (`acknowledge`), so each byte goes over the wire until
    the server has it, and a resend after a lost answer is recognized by its offset. At most
    OUTPUT_TAIL_BYTES wait: older lines would fall out of the server's tail anyway."""

    def __init__(self, secrets: tuple[str, ...] = ()) -> None:
        super().__init__(secrets)
        self._unsent: deque[tuple[int, str]] = deque()  # (UTF-8 length, scrubbed line)
        self._unsent_bytes = 0
        self._start = 0

    def add(self, line: str) -> None:
        super().add(line)
        text = runs.tail(scrub(line if line.endswith("\n") else line + "\n", self._secrets))
        size = len(text.encode("utf-8", errors="replace"))
        with self._lock:
            self._unsent.append((size, text))
            self._unsent_bytes += size
            while self._unsent_bytes > OUTPUT_TAIL_BYTES:
                dropped, _ = self._unsent.popleft()
                self._unsent_bytes -= dropped
                self._start += dropped

    @property
    def pending(self) -> bool:
        with self._lock:
            return bool(self._unsent)

    def unsent(self) -> tuple[int, str]:
        """The stream offset of the first line not acknowledged, and the lines from there."""
        with self._lock:
            return self._start, "".join(text for _, text in self._unsent)

    def acknowledge(self, offset: int) -> None:
        """The server holds the output up to `offset`: forget the lines before it."""
        with self._lock:
            while self._unsent and self._start + self._unsent[0][0] <= offset:
                size, _ = self._unsent.popleft()
                self._unsent_bytes -= size
                self._start += size


class Agent:
    def __init__(
        self,
        url: str,
        token: str,
        project: str,
        environment: str,
        services: Sequence[str] = (),
        *,
        name: str | None = None,
        poll_s: float = 2.0,
    ) -> None:
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self.services = list(services)
        self.poll_s = poll_s
        self.base = (
            f"/api/v1/projects/{quote(project, safe='')}/agents/{quote(environment, safe='')}"
        )
        self.http = httpx.Client(
            base_url=url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
            follow_redirects=False,
        )
        self.limits = StepLimits(
            parse_passthrough(os.environ.get("TRIMTAB_DEPLOY_ENV", "")),
            float(os.environ.get("TRIMTAB_DEPLOY_TIMEOUT", "1800")),
        )
        self.policy = AddressPolicy()
        self._secrets = secrets_of([token, *(os.environ.get(n) for n in sorted(SECRET_VARIABLES))])
        self.stop = threading.Event()

    def _post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        response = self.http.post(self.base + path, json={"agent": self.name, **body})
        if response.status_code in (401, 403, 404):
            raise AgentError(
                f"the server refused the agent ({response.status_code}): {_detail(response)}"
            )
        return response

    def run(self) -> None:
        """Claim and run steps until `stop` is set."""
        while not self.stop.is_set():
            try:
                worked = self.run_one()
            except AgentError:
                raise
            except httpx.HTTPError as exc:
                log.warning("cannot reach the server: %s", exc)
                worked = False
            if not worked:
                self.stop.wait(self.poll_s)

    def run_one(self) -> bool:
        response = self._post("/claim", {"services": self.services})
        if response.status_code == 204:
            return False
        if response.status_code != 200:
            raise AgentError(f"claim failed ({response.status_code}): {_detail(response)}")
        data = response.json()
        lease_s = float(data["lease_s"])
        ticket = StepTicket(**{k: v for k, v in data.items() if k in TICKET_FIELDS})
        log.info("running step %d: %s %s", ticket.deploy_id, ticket.service, ticket.version)
        out = OutputStream(self._secrets)
        steps = f"/steps/{ticket.deploy_id}"
        last = time.monotonic()

        def flush() -> bool:
            nonlocal last
            since = time.monotonic() - last
            if not (out.pending and since >= OUTPUT_EVERY_S) and since < lease_s / 3:
                return True
            offset, text = out.unsent()
            try:
                answer = self._post(steps + "/heartbeat", {"offset": offset, "output": text})
            except httpx.HTTPError as exc:  # keep running; the lease covers a short outage
                log.warning("heartbeat failed: %s", exc)
                return True
            if answer.status_code == 409:
                return False
            if answer.status_code == 200:
                out.acknowledge(int(answer.json()["offset"]))
                last = time.monotonic()
            return True

        ok = run_step(ticket, out, self.limits, self.policy, self.stop, flush)
        self._finish(steps, ok, out, lease_s)
        return True

    def _finish(self, steps: str, ok: bool, out: OutputStream, lease_s: float) -> None:
        give_up = time.monotonic() + max(lease_s, RETRY_S)
        offset, text = out.unsent()  # a retry sends the same: the offset makes it harmless
        while True:
            try:
                answer = self._post(steps + "/finish", {"ok": ok, "offset": offset, "output": text})
            except httpx.HTTPError as exc:
                if time.monotonic() > give_up:
                    log.error("could not report the step's result: %s", exc)
                    return
                time.sleep(RETRY_S)
                continue
            if answer.status_code == 409:
                # Also the answer to a retry whose first try was recorded (its answer was lost).
                log.info("the step is no longer this agent's: %s", _detail(answer))
            return

    def close(self) -> None:
        self.http.close()


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        return str(body.get("detail") or body.get("title") or body)[:500]
    return str(body)[:500]
