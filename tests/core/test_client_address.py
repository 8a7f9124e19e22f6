"""The client behind trusted proxies: X-Forwarded-For believed only from a listed proxy."""

from __future__ import annotations

import pytest

from trimtab.core.client_address import (
    TrustedProxiesError,
    client_address,
    limit_key,
    parse_networks,
)

PROXIES = parse_networks("10.0.0.0/8, 192.0.2.7, 2001:db8:ffff::/48")


def test_client_address__untrusted_peer__forwarded_for_ignored() -> None:
    assert client_address("203.0.113.9", ["198.51.100.1"], PROXIES) == "203.0.113.9"


def test_client_address__no_proxies_configured__peer_even_from_loopback() -> None:
    assert client_address("127.0.0.1", ["198.51.100.1"], ()) == "127.0.0.1"


def test_client_address__trusted_peer__rightmost_untrusted_hop() -> None:
    # The client forged the first hop; 198.51.100.1 is what our own proxies saw.
    forwarded = ["6.6.6.6, 198.51.100.1, 10.1.2.3"]
    assert client_address("192.0.2.7", forwarded, PROXIES) == "198.51.100.1"


def test_client_address__several_headers__read_as_one_list() -> None:
    assert client_address("10.0.0.1", ["6.6.6.6", "198.51.100.1"], PROXIES) == "198.51.100.1"


def test_client_address__every_hop_trusted__leftmost_hop() -> None:
    assert client_address("10.0.0.1", ["10.9.9.9, 10.0.0.2"], PROXIES) == "10.9.9.9"


def test_client_address__trusted_peer_without_header__the_peer() -> None:
    assert client_address("10.0.0.1", [], PROXIES) == "10.0.0.1"


def test_client_address__garbage_hop__last_vouched_address() -> None:
    assert client_address("10.0.0.1", ["not-an-ip, 10.0.0.5"], PROXIES) == "10.0.0.5"


def test_client_address__ports_brackets_and_mapped_forms__normalized() -> None:
    assert client_address("10.0.0.1", ["198.51.100.1:4711"], PROXIES) == "198.51.100.1"
    assert client_address("10.0.0.1", ["[2001:db8::1]:443"], PROXIES) == "2001:db8::1"
    assert client_address("::ffff:10.0.0.1", ["198.51.100.1"], PROXIES) == "198.51.100.1"


def test_limit_key__ipv6__counts_per_64() -> None:
    assert limit_key("2001:db8:1:2:aaaa::1") == limit_key("2001:db8:1:2:bbbb::2")
    assert limit_key("2001:db8:1:2::1") != limit_key("2001:db8:1:3::1")
    assert limit_key("198.51.100.1") == "198.51.100.1"


def test_parse_networks__not_an_address__refused_naming_it() -> None:
    with pytest.raises(TrustedProxiesError, match=r"'proxy\.local'"):
        parse_networks("10.0.0.0/8, proxy.local")
