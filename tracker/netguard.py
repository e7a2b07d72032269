"""Which network addresses and ports tracker may connect to.

Deny by default: an address is allowed only if it is globally routable unicast, and every IPv4
address hidden inside an IPv6 one (IPv4-mapped ``::ffff:a.b.c.d``, IPv4-compatible ``::a.b.c.d``,
IPv4-translated ``::ffff:0:a.b.c.d``, NAT64 ``64:ff9b::/96``, 6to4 ``2002::/16``, Teredo
``2001::/32``) is unwrapped and must be allowed too. ``ipaddress``'s ``is_global`` alone calls
``::7f00:1`` or ``64:ff9b:1::1`` global, hence the explicit list of ranges refused on top.

A ``Policy`` opens more, explicitly (settings ``allow_networks``, ``allow_hosts``,
``allowed_ports``): networks (CIDRs) whose addresses may be reached, host names that may resolve
anywhere, and the ports that may be used (80, 443, 8080 and 8443 by default; ``*``: any). The
cloud metadata addresses stay refused unless a network of exactly that one address (a /32 or
/128) or the exact host name is listed: no broad allow-list opens them by accident. The old
``allow_private_addresses`` flag is a deprecated alias that opens the loopback and private ranges.

The guard runs at connect time in the transport (``guarded_transport``), for every request:
articles, redirect hops, robots.txt, feeds and webhooks. It connects to exactly the address it
checked, so a second DNS answer (rebinding) cannot slip through. The same transport enforces the
request's deadline (``tracker.deadline``) on every socket operation.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from tracker.errors import BlockedAddress

if TYPE_CHECKING:
    import ssl

    import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_HOST = re.compile(r"[a-z0-9_.-]+|[0-9a-f:.]+")  # a DNS name, or an IP literal unbracketed
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_SIX_TO_FOUR = ipaddress.ip_network("2002::/16")
_TEREDO = ipaddress.ip_network("2001::/32")
# Ranges some Python versions call global that are not globally routable unicast.
_NEVER = tuple(ipaddress.ip_network(n) for n in (
    "192.0.0.0/24",  # IETF protocol assignments
    "::/96",  # IPv4-compatible (deprecated); unwrapped, but never public itself
    "::ffff:0:0/96",  # IPv4-mapped
    "::ffff:0:0:0/96",  # IPv4-translated (SIIT)
    "64:ff9b:1::/48",  # local-use NAT64
    "fec0::/10",  # site-local (deprecated)
    "fc00::/7",  # unique local
    "100::/64",  # discard-only
    "2001:db8::/32",  # documentation
    "3fff::/20",  # documentation
    "5f00::/16",  # segment routing SIDs
))
METADATA = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254", "169.254.170.2", "100.100.100.200", "fd00:ec2::254", "fd00:ec2::23",
))
METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata", "instance-data"})
DEFAULT_PORTS = frozenset({80, 443, 8080, 8443})
# What the deprecated allow_private_addresses flag opens (never a metadata address: not a /32).
PRIVATE_NETWORKS = tuple(ipaddress.ip_network(n) for n in (
    "127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10",
    "169.254.0.0/16", "::1/128", "fc00::/7", "fe80::/10",
))


@dataclass(frozen=True, slots=True)
class Policy:
    """What may be reached beyond the public internet's ports 80, 443, 8080 and 8443."""

    networks: tuple[IPNetwork, ...] = ()
    hosts: frozenset[str] = frozenset()
    ports: frozenset[int] | None = DEFAULT_PORTS  # None: any port

    def port_allowed(self, port: int) -> bool:
        return self.ports is None or port in self.ports

    def address_allowed(self, host: str, address: IPAddress) -> bool:
        if host.lower().rstrip(".") in self.hosts:
            return True
        if address in METADATA or embedded_ipv4(address) in METADATA:
            return any(n.num_addresses == 1 and address in n for n in self.networks)
        if host.lower().rstrip(".") in METADATA_HOSTS:
            return False
        if is_public(address):
            return True
        candidates = (address, *_embedded(address))
        return any(a in n for a in candidates for n in self.networks if a.version == n.version)


STRICT = Policy()


def policy_from(
    networks: str = "", hosts: str = "", ports: str = "80,443,8080,8443",
    *, allow_private: bool = False,
) -> Policy:
    """A policy from the settings' comma-separated lists; ValueError names a bad entry."""
    parsed: list[IPNetwork] = []
    for item in _items(networks):
        try:
            parsed.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"allow_networks: {item!r} is not a network (e.g. 10.0.0.0/8)") \
                from None
    if allow_private:
        parsed.extend(PRIVATE_NETWORKS)
    return Policy(tuple(parsed), frozenset(h.lower().rstrip(".") for h in _items(hosts)),
                  _ports(ports))


def _items(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _ports(text: str) -> frozenset[int] | None:
    if text.strip() == "*":
        return None
    found = set()
    for item in _items(text):
        if not (item.isascii() and item.isdigit() and 0 < int(item) < 65536):
            raise ValueError(f"allowed_ports: {item!r} is not a port (1-65535), or give '*'")
        found.add(int(item))
    return frozenset(found)


def settings_policy(settings: Any) -> Policy:
    """The policy of a ``tracker.config.Settings``."""
    return policy_from(settings.allow_networks, settings.allow_hosts, settings.allowed_ports,
                       allow_private=settings.allow_private_addresses)


def embedded_ipv4(address: IPAddress) -> IPAddress:
    """The IPv4 address hidden in an IPv6 one, or the address itself."""
    inner = list(_embedded(address))
    return inner[0] if inner else address


def _embedded(address: IPAddress) -> Iterable[IPAddress]:
    if not isinstance(address, ipaddress.IPv6Address):
        return
    value = int(address)
    if address.ipv4_mapped is not None:
        yield address.ipv4_mapped
    elif value >> 32 == 0xFFFF_0000 or (value >> 32 == 0 and value > 1) or address in _NAT64:
        # ::ffff:0:a.b.c.d (translated), ::a.b.c.d (compatible; not :: or ::1), NAT64
        yield ipaddress.IPv4Address(value & 0xFFFFFFFF)
    elif address.sixtofour is not None:
        yield address.sixtofour
    elif address in _TEREDO and address.teredo is not None:
        yield from address.teredo  # the Teredo server and the client's (obfuscated) address


def is_public(address: IPAddress) -> bool:
    """Globally routable unicast, and so is every IPv4 address embedded in it."""
    inner = list(_embedded(address))
    if inner:
        return all(_routable(a) for a in inner) and address not in _TEREDO
    return _routable(address)


def _routable(address: IPAddress) -> bool:
    if not address.is_global or address.is_multicast or address in METADATA:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.is_site_local:
        return False
    return not any(address in n for n in _NEVER if n.version == address.version)


def check_scheme(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an http(s) URL; BlockedAddress for anything else, including
    URLs the HTTP client itself would refuse (an invalid IDN host, control characters)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:  # an unclosed "[::1", a port that is no number or over 65535
        raise BlockedAddress(url, f"not a valid URL ({exc})") from exc
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise BlockedAddress(url, "only http:// and https:// URLs can be tracked")
    if port == 0:
        raise BlockedAddress(url, "port 0 is not a port")
    try:
        parts.hostname.encode("idna")  # what the resolver will do; refuses empty or long labels
    except UnicodeError as exc:
        raise BlockedAddress(url, f"not a valid host name ({exc})") from exc
    import httpx  # here: the read commands that look up a tracked URL never need it

    try:
        _ = httpx.URL(url).host  # as the client will: IDNA 2008 ("xn--a-" refused), controls
    except (ValueError, httpx.InvalidURL) as exc:
        raise BlockedAddress(url, f"not a valid URL ({exc})") from exc
    if not _HOST.fullmatch(parts.hostname.encode("idna").decode("ascii")):
        raise BlockedAddress(url, f"not a valid host name ({parts.hostname!r})")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)


def resolve_public(url: str, policy: Policy = STRICT) -> str:
    """A checked address of the URL's host to connect to (not to be re-resolved): public, or
    opened by ``policy``; the port must be allowed too."""
    _, host, port = check_scheme(url)
    if not policy.port_allowed(port):
        allowed = ", ".join(map(str, sorted(policy.ports or ())))
        raise BlockedAddress(url, f"port {port} is not allowed (allowed: {allowed}; "
                                  "add it to the allowed_ports setting)")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise BlockedAddress(url, f"cannot resolve host {host!r}: {reason}") from exc
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    blocked = [a for a in addresses if not policy.address_allowed(host, a)]
    if blocked or not addresses:
        raise BlockedAddress(
            url,
            f"{host} resolves to a non-public address ({blocked[0] if blocked else 'none'}); "
            "list its network in allow_networks (TRACKER_ALLOW_NETWORKS) or the host in "
            "allow_hosts to allow it",
        )
    return str(addresses[0])


@cache
def tls_context() -> ssl.SSLContext:
    """The TLS settings of every HTTP client of the process, httpx's defaults (certificates
    verified against the system's or certifi's authorities), made once: loading the
    authorities' certificates costs ~50 ms of CPU, and each client made its own. A forked
    process inherits it (``tracker.passes`` makes it before forking)."""
    import httpx

    return httpx.create_ssl_context()


def guarded_transport(policy: Policy = STRICT, **options: Any) -> httpx.HTTPTransport:
    """An httpx transport that checks every address and port at connect time, connects to
    exactly the address it checked, and bounds every socket operation by the deadline of the
    request in progress (``tracker.deadline``). TLS still verifies the certificate against the
    host name in the URL."""
    import httpcore
    import httpx

    from tracker import deadline

    class _GuardedBackend(httpcore.SyncBackend):
        def connect_tcp(
            self, host: str, port: int, timeout: float | None = None,
            local_address: str | None = None, socket_options: Any = None,
        ) -> httpcore.NetworkStream:
            address = resolve_public(f"http://{_bracket(host)}:{port}/", policy)
            stream = super().connect_tcp(address, port, deadline.cut(timeout),
                                         local_address, socket_options)
            return deadline.BoundedStream(stream)

    transport = httpx.HTTPTransport(**{"verify": tls_context(), **options})
    # httpx has no public hook for the network backend; httpcore's pool takes one. Pinned by
    # the httpx<1 requirement and covered by tests/test_fetch.py.
    transport._pool._network_backend = _GuardedBackend()
    return transport


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
