"""Every HTTP request trimtab makes on its own (webhooks, dependency probes, deploy health
checks) goes through `outbound_client`, whose transport resolves the host and refuses the
destination when `core.urls.refused_address` says so — after DNS resolution, so a name that
points at 169.254.169.254, or a decimal/hex spelling of it, is refused like the address itself.

Known limit: the address is checked, then httpx connects by name again; a DNS server that
answers differently the second time (rebinding) could slip through. Closing that needs the
connection pinned to the checked address; see docs/security.md.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import httpx

from trimtab.core.urls import AddressPolicy, refused_address


class RefusedDestination(httpx.TransportError):
    """The request's host resolves to an address trimtab does not send to."""


def _addresses(host: str, port: int) -> list[Any]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise httpx.ConnectError(f"cannot resolve {host}: {exc}") from None
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


class GuardedTransport(httpx.HTTPTransport):
    """An HTTP transport that refuses destinations the policy forbids."""

    def __init__(self, policy: AddressPolicy, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.policy = policy

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        port = request.url.port or (443 if request.url.scheme == "https" else 80)
        for address in _addresses(host, port):
            reason = refused_address(address, self.policy)
            if reason is not None:
                raise RefusedDestination(f"refused to connect to {host}: {reason}")
        return super().handle_request(request)


def outbound_client(policy: AddressPolicy, *, timeout: float | httpx.Timeout) -> httpx.Client:
    """A client for requests trimtab makes itself: no redirects (a redirect could lead past the
    check), the policy enforced on every request."""
    return httpx.Client(transport=GuardedTransport(policy), timeout=timeout, follow_redirects=False)
