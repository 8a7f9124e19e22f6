"""Outbound URLs: checked when saved, destinations checked after resolution."""

from __future__ import annotations

import ipaddress

import httpx
import pytest

from trimtab.core.urls import AddressPolicy, InvalidUrl, check_url, refused_address
from trimtab.outbound import RefusedDestination, outbound_client


@pytest.mark.parametrize(
    "url", ["http://billing.internal/healthz", "https://hooks.example.com:8443/x?y=1"]
)
def test_check_url__http_and_https__accepted_stripped(url: str) -> None:
    assert check_url(f"  {url} ", "a probe URL") == url


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://billing/health\r\nX-Injected: 1", "line breaks"),
        ("http://billing/\x00", "control characters"),
        ("http://bill ing/", "spaces"),
        ("ftp://billing/", "http:// or https://"),
        ("http:///path", "needs a host"),
        ("http://billing:0/", "port between"),
        ("http://billing:99999/", "not a valid URL"),
        ("", "cannot be empty"),
        ("file:///etc/passwd", "http:// or https://"),
        ("javascript:alert(1)", "http:// or https://"),
        ("http://x/" + "a" * 2000, "at most 2000"),
    ],
)
def test_check_url__bad__refused_naming_why(url: str, reason: str) -> None:
    with pytest.raises(InvalidUrl, match=reason):
        check_url(url, "a probe URL")


@pytest.mark.parametrize(
    "address",
    ["169.254.169.254", "169.254.0.1", "fe80::1", "::ffff:169.254.169.254", "fd00:ec2::254"],
)
def test_refused_address__link_local_and_metadata__refused_unless_allowed(address: str) -> None:
    ip = ipaddress.ip_address(address)
    assert refused_address(ip, AddressPolicy()) is not None
    assert refused_address(ip, AddressPolicy(allow_link_local=True)) is None


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "192.168.0.5", "::1", "fd12::1"])
def test_refused_address__private__allowed_by_default_denied_on_request(address: str) -> None:
    ip = ipaddress.ip_address(address)
    assert refused_address(ip, AddressPolicy()) is None
    assert refused_address(ip, AddressPolicy(deny_private=True)) is not None


@pytest.mark.parametrize("address", ["0.0.0.0", "::", "224.0.0.1"])
def test_refused_address__nowhere_or_multicast__always_refused(address: str) -> None:
    ip = ipaddress.ip_address(address)
    assert refused_address(ip, AddressPolicy(allow_link_local=True)) is not None


@pytest.mark.parametrize(
    "url", ["http://169.254.169.254/latest", "http://2852039166/", "http://0xa9fea9fe/"]
)
def test_outbound_client__metadata_in_any_spelling__refused_before_connecting(url: str) -> None:
    with outbound_client(AddressPolicy(), timeout=5) as client, pytest.raises(RefusedDestination):
        client.get(url)


def test_outbound_client__loopback__allowed_by_default() -> None:
    # Nothing listens on port 9 (discard) here: the request gets past the check and fails to
    # connect, which is what tells the two apart.
    with outbound_client(AddressPolicy(), timeout=5) as client:
        with pytest.raises(httpx.ConnectError) as raised:
            client.get("http://127.0.0.1:9/")
        assert not isinstance(raised.value, RefusedDestination)
