"""Outbound URLs: what trimtab accepts as a webhook, probe or health-check address, and which
network addresses it refuses to send to.

Checked twice. When saved (`check_url`): an absolute http(s) URL with a host and a valid port,
bounded, with no white space or control characters (a CR/LF URL once broke a job for every
project). When sent (`refused_address`, after DNS resolution, by `trimtab.outbound`): never to
link-local or cloud-metadata addresses (169.254.0.0/16, fe80::/10, and their IPv4-mapped forms —
decimal or hex spellings of a host resolve to the same address and are caught there), nor to
"this host" (0.0.0.0, ::) or multicast; private ranges and loopback stay allowed by default,
since health checks of internal services are the normal case, unless the install denies them.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_URL = 2000

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_METADATA = (
    ipaddress.ip_network("169.254.0.0/16"),  # link-local; AWS, GCP, Azure metadata live here
    ipaddress.ip_network("fe80::/10"),  # IPv6 link-local
    ipaddress.ip_network("fd00:ec2::254/128"),  # AWS metadata over IPv6
)
_NOWHERE = (
    ipaddress.ip_network("0.0.0.0/8"),
    ipaddress.ip_network("::/128"),
    ipaddress.ip_network("224.0.0.0/4"),
    ipaddress.ip_network("ff00::/8"),
)
_PRIVATE = (
    ipaddress.ip_network("10.0.0.0/8"),
    ipaddress.ip_network("172.16.0.0/12"),
    ipaddress.ip_network("192.168.0.0/16"),
    ipaddress.ip_network("100.64.0.0/10"),  # carrier-grade NAT
    ipaddress.ip_network("127.0.0.0/8"),
    ipaddress.ip_network("::1/128"),
    ipaddress.ip_network("fc00::/7"),
)


class InvalidUrl(ValueError):
    """A URL trimtab will not store, with the reason."""


@dataclass(frozen=True)
class AddressPolicy:
    """Which destinations outbound requests may reach (TRIMTAB_OUTBOUND_* settings)."""

    allow_link_local: bool = False
    deny_private: bool = False


def check_url(url: str, what: str = "a URL") -> str:
    """An absolute http(s) URL with a host, bounded, no white space or control characters;
    returned stripped of surrounding blanks. `what` names it in the error ("a probe URL")."""
    url = url.strip()
    if not url:
        raise InvalidUrl(f"{what} cannot be empty")
    if len(url) > MAX_URL:
        raise InvalidUrl(f"{what} has at most {MAX_URL} characters")
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        raise InvalidUrl(f"{what} cannot contain spaces, line breaks or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError on a malformed port
    except ValueError as exc:
        raise InvalidUrl(f"{what} is not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise InvalidUrl(f"{what} must start with http:// or https://")
    if not parts.hostname:
        raise InvalidUrl(f"{what} needs a host")
    if port == 0:
        raise InvalidUrl(f"{what} needs a port between 1 and 65535")
    return url


def _unmapped(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped or address.sixtofour
        if mapped is not None:
            return mapped
    return address


def refused_address(address: IPAddress, policy: AddressPolicy) -> str | None:
    """Why trimtab will not connect to `address` under `policy`, or None when it may."""
    address = _unmapped(address)
    if any(address in network for network in _NOWHERE if network.version == address.version):
        return f"{address} is not a destination"
    if not policy.allow_link_local and any(
        address in network for network in _METADATA if network.version == address.version
    ):
        return f"{address} is link-local (cloud metadata lives there); an admin can allow it"
    if policy.deny_private and any(
        address in network for network in _PRIVATE if network.version == address.version
    ):
        return f"{address} is a private or loopback address, denied on this install"
    return None
