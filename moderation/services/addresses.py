"""Where an enforcement webhook may go: only to public addresses (CONTRACT §2 v2, issue 9).

Without this, an admin (or a stolen admin shell) could point the worker at 127.0.0.1,
10.x or the cloud metadata service at 169.254.169.254, and read the connection errors on
/enforcement/ as a port scan of the inside network. A host is public only when every
address it resolves to is; an organization may be allowed a private endpoint on purpose
(`set_enforcement_endpoint --allow-private`).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# NAT64's well-known prefix carries an IPv4 address in its last 32 bits.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def address_is_public(address: IPAddress) -> bool:
    """True for a globally routable unicast address; an IPv6 address that embeds an IPv4
    one (mapped, 6to4, NAT64) is judged by the IPv4 address it reaches."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return address_is_public(embedded)
    return address.is_global and not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


class AddressRefused(ValueError):
    """The URL's host is not public, or does not resolve; the message says which."""


def resolve(host: str) -> list[IPAddress]:
    """Every address `host` resolves to (an IP literal resolves to itself).

    The one place a name is looked up, so the tests can give a name the addresses they
    need (a public one for `platform.example`, 127.0.0.1 after a DNS change).
    """
    infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    # An IPv6 link-local address comes back with its zone ("fe80::1%eth0").
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


def public_addresses(host: str) -> list[IPAddress]:
    """The addresses of `host`, or AddressRefused unless every one of them is public."""
    try:
        addresses = resolve(host)
    except (OSError, UnicodeError, ValueError) as exc:
        raise AddressRefused(f"refused: {host} does not resolve") from exc
    if not addresses:
        raise AddressRefused(f"refused: {host} does not resolve")
    private = sorted({str(a) for a in addresses if not address_is_public(a)})
    if private:
        raise AddressRefused(
            f"refused: {host} resolves to a private or otherwise non-public address"
            f" ({', '.join(private)})"
        )
    return addresses


def url_check_public(url: str) -> None:
    """Raise AddressRefused unless every address of the URL's host is public."""
    host = urlsplit(url).hostname
    if not host:
        raise AddressRefused(f"refused: {url!r} names no host")
    public_addresses(host)


def connect_public(
    address: tuple[str, int],
    timeout: float | None = None,
    source_address: tuple[str, int] | None = None,
) -> socket.socket:
    """socket.create_connection, to an address of the host that was checked just now.

    The HTTP client would otherwise look the name up again after the check, and a name
    that answers a public address first and a private one next (DNS rebinding) would get
    through. TLS still verifies the certificate against the name.
    """
    host, port = address
    error: OSError | None = None
    for ip in public_addresses(host):
        try:
            return socket.create_connection((str(ip), port), timeout, source_address)
        except OSError as exc:
            error = exc
    assert error is not None  # public_addresses never returns an empty list
    raise error
