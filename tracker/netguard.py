"""Which network addresses tracker may connect to.

By default only public addresses: a tracked URL (or, later, a webhook endpoint) must not make
tracker reach into the machine it runs on or the private network around it. IPv6 forms that
embed an IPv4 address (IPv4-mapped ``::ffff:a.b.c.d``, NAT64 ``64:ff9b::/96``, 6to4
``2002::/16``) are unwrapped first, because ``ipaddress`` does not call ``::ffff:127.0.0.1``
loopback. ``allow_private`` (``TRACKER_ALLOW_PRIVATE_ADDRESSES=1``) lifts the rule for tests and
intranets.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit

import httpx

from tracker.errors import BlockedAddress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_SIX_TO_FOUR = ipaddress.ip_network("2002::/16")
_METADATA = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}


def embedded_ipv4(address: IPAddress) -> IPAddress:
    """The IPv4 address hidden in an IPv6 one, or the address itself."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address in _NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if address.sixtofour is not None:
            return address.sixtofour
    return address


def is_public(address: IPAddress) -> bool:
    address = embedded_ipv4(address)
    return address.is_global and not address.is_multicast and address not in _METADATA


def check_scheme(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an http(s) URL; BlockedAddress for anything else."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:  # an unclosed "[::1", a port that is no number or over 65535
        raise BlockedAddress(url, f"not a valid URL ({exc})") from exc
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise BlockedAddress(url, "only http:// and https:// URLs can be tracked")
    try:
        parts.hostname.encode("idna")  # what the resolver will do; refuses empty or long labels
    except UnicodeError as exc:
        raise BlockedAddress(url, f"not a valid host name ({exc})") from exc
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)


def resolve_public(url: str) -> str:
    """A checked public address of the URL's host, to connect to (not to be re-resolved)."""
    _, host, port = check_scheme(url)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise BlockedAddress(url, f"cannot resolve host {host!r}: {reason}") from exc
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    blocked = [a for a in addresses if not is_public(a)]
    if blocked or not addresses:
        raise BlockedAddress(
            url,
            f"{host} resolves to a non-public address ({blocked[0] if blocked else 'none'}); "
            "set TRACKER_ALLOW_PRIVATE_ADDRESSES=1 to allow loopback and private networks",
        )
    return str(addresses[0])


def guarded_transport(**options: Any) -> httpx.HTTPTransport:
    """An httpx transport that checks every address at connect time and connects to exactly
    the address it checked, so a second DNS answer (rebinding) cannot slip through. TLS still
    verifies the certificate against the host name in the URL."""
    import httpcore

    class _GuardedBackend(httpcore.SyncBackend):
        def connect_tcp(
            self, host: str, port: int, timeout: float | None = None,
            local_address: str | None = None, socket_options: Any = None,
        ) -> httpcore.NetworkStream:
            address = resolve_public(f"http://{_bracket(host)}:{port}/")
            return super().connect_tcp(address, port, timeout, local_address, socket_options)

    transport = httpx.HTTPTransport(**options)
    # httpx has no public hook for the network backend; httpcore's pool takes one. Pinned by
    # the httpx<1 requirement and covered by tests/test_fetch.py.
    transport._pool._network_backend = _GuardedBackend()
    return transport


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
