"""Who is on the other end: the client address behind trusted proxies, and the key a per-client
limit counts under.

`X-Forwarded-For` is only believed when the peer that sent it is a proxy the admin listed
(`TRIMTAB_TRUSTED_PROXIES`); anyone else could write any address into it. Behind trusted
proxies the client is the rightmost hop that is not itself a trusted proxy: each proxy appends
the address it saw, so everything left of the first untrusted hop is the client's own claim.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_TRUSTED_PROXIES = 100
MAX_HOPS = 32  # a longer X-Forwarded-For is read only this far from the right
# IPv6 hands one subscriber a /64: counting per address would give an attacker 2^64 tries.
IPV6_CLIENT_PREFIX = 64


class TrustedProxiesError(ValueError):
    """TRIMTAB_TRUSTED_PROXIES holds something that is not an address or a network."""


def parse_networks(value: str) -> tuple[Network, ...]:
    """`"10.0.0.0/8, 192.0.2.7, ::1"` → networks (an address is a network of one)."""
    parts = [part.strip() for part in value.split(",") if part.strip()]
    if len(parts) > MAX_TRUSTED_PROXIES:
        raise TrustedProxiesError(
            f"TRIMTAB_TRUSTED_PROXIES lists at most {MAX_TRUSTED_PROXIES} addresses or networks"
        )
    networks: list[Network] = []
    for part in parts:
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise TrustedProxiesError(
                f"TRIMTAB_TRUSTED_PROXIES: {part!r} is not an IP address or network "
                "(e.g. 10.0.0.0/8 or 192.0.2.7)"
            ) from None
    return tuple(networks)


# Every request asks for its peer's address, and ipaddress parsing costs ~10 us a time on
# ingest's hot path; clients come back, so the recent answers are kept (bounded).
@functools.lru_cache(maxsize=4096)
def parse_address(text: str) -> Address | None:
    """An address as proxies write it (`192.0.2.1`, `192.0.2.1:5000`, `[2001:db8::1]:443`,
    `2001:db8::1`); IPv4-mapped IPv6 becomes IPv4. None when it is not an address."""
    text = text.strip()
    if text.startswith("["):
        text = text[1 : text.find("]")] if "]" in text else ""
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: Address, proxies: Iterable[Network]) -> bool:
    return any(address.version == net.version and address in net for net in proxies)


def client_address(peer: str | None, forwarded_for: list[str], proxies: tuple[Network, ...]) -> str:
    """The client's address: the peer itself, unless the peer is a trusted proxy; then the
    rightmost `X-Forwarded-For` hop that is not a trusted proxy (`forwarded_for`: every
    X-Forwarded-For header's value, in order)."""
    if peer is None:
        return "unknown"
    current = parse_address(peer)
    if current is None or not proxies or not _trusted(current, proxies):
        return str(current) if current is not None else peer[:64]
    hops = [hop for value in forwarded_for for hop in value.split(",")][-MAX_HOPS:]
    for hop in reversed(hops):
        address = parse_address(hop)
        if address is None:
            # A trusted proxy wrote something that is not an address: nothing to its left can
            # be believed, so the last address a trusted proxy vouched for is the client.
            break
        current = address
        if not _trusted(address, proxies):
            break
    return str(current)


def limit_key(address: str) -> str:
    """What a per-client limit counts under: the address, or its /64 for IPv6."""
    parsed = parse_address(address)
    if isinstance(parsed, ipaddress.IPv6Address):
        network = ipaddress.IPv6Network((parsed, IPV6_CLIENT_PREFIX), strict=False)
        return str(network)
    return str(parsed) if parsed is not None else address[:64]
