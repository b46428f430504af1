"""The address rule for enforcement endpoints (moderation/services/addresses.py, issue 9)."""

from __future__ import annotations

import socket
from ipaddress import ip_address

import pytest

from moderation.services import addresses
from moderation.services.addresses import AddressRefused, address_is_public, url_check_public

NOT_PUBLIC = [
    ("127.0.0.1", "loopback"),
    ("127.255.0.9", "loopback range"),
    ("10.0.0.1", "private 10/8"),
    ("172.16.0.1", "private 172.16/12"),
    ("172.31.255.254", "private 172.16/12 top"),
    ("192.168.1.1", "private 192.168/16"),
    ("169.254.169.254", "link-local (cloud metadata)"),
    ("0.0.0.0", "unspecified"),
    ("100.64.0.1", "shared CGNAT"),
    ("192.0.2.10", "documentation"),
    ("198.18.0.1", "benchmarking"),
    ("224.0.1.1", "multicast"),
    ("239.255.255.250", "multicast SSDP"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "broadcast"),
    ("::1", "IPv6 loopback"),
    ("::", "IPv6 unspecified"),
    ("fe80::1", "IPv6 link-local"),
    ("fd12:3456::1", "IPv6 unique local"),
    ("ff02::1", "IPv6 multicast"),
    ("ff0e::1", "IPv6 global-scope multicast"),
    ("2001:db8::1", "IPv6 documentation"),
    ("::ffff:127.0.0.1", "IPv4-mapped loopback"),
    ("::ffff:169.254.169.254", "IPv4-mapped metadata"),
    ("::ffff:10.0.0.1", "IPv4-mapped private"),
    ("2002:7f00:1::", "6to4 of 127.0.0.1"),
    ("2002:a00:1::", "6to4 of 10.0.0.1"),
    ("64:ff9b::7f00:1", "NAT64 of 127.0.0.1"),
]
PUBLIC = ["93.184.215.14", "8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"]


@pytest.mark.parametrize(("address", "why"), NOT_PUBLIC, ids=[why for _, why in NOT_PUBLIC])
def test_it_counts_a_non_public_address_as_not_public(address, why):
    assert address_is_public(ip_address(address)) is False


@pytest.mark.parametrize("address", PUBLIC)
def test_it_counts_a_public_address_as_public(address):
    assert address_is_public(ip_address(address)) is True


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://localhost:8000/hook",
        "http://[::1]:9/",
        "http://[::ffff:7f00:1]/",
        "http://169.254.169.254/latest/meta-data/",
        "http://0.0.0.0/",
        "http://10.9.8.7:8080/x",
    ],
)
def test_a_url_on_a_non_public_host_is_refused(url):
    with pytest.raises(AddressRefused, match="refused: .* non-public address"):
        url_check_public(url)


def test_a_url_on_a_public_address_passes():
    url_check_public("https://93.184.215.14/hook")
    url_check_public("https://[2606:4700:4700::1111]:8443/hook")


def test_a_name_is_refused_if_any_of_its_addresses_is_not_public(monkeypatch):
    def getaddrinfo(host, *args, **kwargs):
        assert host == "split.test"
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", 0)),
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("fe80::1%eth0", 0, 0, 2)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    with pytest.raises(AddressRefused, match=r"split\.test resolves to .*\(fe80::1\)"):
        url_check_public("https://split.test/hook")


def test_a_name_that_does_not_resolve_is_refused():
    with pytest.raises(AddressRefused, match=r"refused: nowhere\.invalid does not resolve"):
        url_check_public("https://nowhere.invalid/hook")


def test_the_example_names_of_the_tests_resolve_publicly():
    """tests/conftest.py gives `.example` names a public address, for the address rule only."""
    assert addresses.resolve("platform.example") == [ip_address("93.184.215.14")]
