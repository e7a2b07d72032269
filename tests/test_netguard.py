"""Which addresses tracker may connect to: only public ones, IPv4 hidden in IPv6 included."""

from __future__ import annotations

import ipaddress

import pytest

from tracker.errors import BlockedAddress
from tracker.netguard import check_scheme, embedded_ipv4, is_public, policy_from, resolve_public

PUBLIC_V4 = "93.184.216.34"


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",  # loopback
        "127.8.9.10",
        "::1",
        "10.1.2.3",  # private
        "172.16.0.1",
        "192.168.1.1",
        "fd12:3456::1",
        "100.64.0.1",  # carrier-grade NAT
        "169.254.10.20",  # link-local
        "fe80::1",
        "224.0.0.251",  # multicast
        "239.255.255.250",
        "ff02::1",
        "ff0e::1",  # global-scope multicast
        "169.254.169.254",  # cloud metadata service
        "fd00:ec2::254",
        "0.0.0.0",
        "::",
    ],
)
def test_non_public_addresses_are_refused(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "address",
    [
        "::ffff:127.0.0.1",  # IPv4-mapped
        "::ffff:10.0.0.1",
        "::ffff:169.254.169.254",
        "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
        "2002:7f00:1::",  # 6to4 of 127.0.0.1
        "2002:c0a8:101::1",  # 6to4 of 192.168.1.1
    ],
)
def test_ipv4_hidden_in_ipv6_is_unwrapped_and_refused(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    ("address", "inner"),
    [
        ("::ffff:127.0.0.1", "127.0.0.1"),
        ("64:ff9b::7f00:1", "127.0.0.1"),
        ("2002:7f00:1::", "127.0.0.1"),
        ("2606:2800:220:1:248:1893:25c8:1946", "2606:2800:220:1:248:1893:25c8:1946"),
        (PUBLIC_V4, PUBLIC_V4),
    ],
)
def test_embedded_ipv4_is_the_address_inside(address: str, inner: str) -> None:
    assert embedded_ipv4(ipaddress.ip_address(address)) == ipaddress.ip_address(inner)


@pytest.mark.parametrize(
    "address",
    [PUBLIC_V4, "2606:2800:220:1:248:1893:25c8:1946", f"::ffff:{PUBLIC_V4}", "64:ff9b::5db8:d822"],
)
def test_public_addresses_are_accepted(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "url",
    ["ftp://example.com/a", "file:///etc/passwd", "gopher://example.com/", "javascript:alert(1)",
     "data:text/html,hi", "example.com/news", "http:///news/a"],
)  # fmt: skip
def test_urls_other_than_http_with_a_host_are_refused(url: str) -> None:
    with pytest.raises(BlockedAddress, match="only http"):
        check_scheme(url)


@pytest.mark.parametrize(
    ("url", "port"),
    [("http://example.com/a", 80), ("https://example.com/a", 443),
     ("HTTPS://Example.COM:8443/a", 8443)],
)  # fmt: skip
def test_http_urls_give_scheme_host_and_port(url: str, port: int) -> None:
    scheme, host, found = check_scheme(url)
    assert (scheme, host, found) == (url.split(":")[0].lower(), "example.com", port)


@pytest.mark.parametrize(
    "url", ["http://example.com:99999/a", "http://example.com:http/a", "http://[::1/a"]
)
def test_malformed_url_is_refused_as_blocked_address(url: str) -> None:
    with pytest.raises(BlockedAddress, match="not a valid URL"):
        check_scheme(url)


@pytest.mark.parametrize("host", ["a" * 64 + ".example", "news..example"])
def test_host_name_the_resolver_cannot_encode_is_refused(host: str) -> None:
    with pytest.raises(BlockedAddress, match="not a valid host name"):
        check_scheme(f"http://{host}/a")


def test_resolving_localhost_is_refused_and_names_the_override() -> None:
    with pytest.raises(BlockedAddress, match="TRACKER_ALLOW_NETWORKS") as caught:
        resolve_public("http://localhost/news/a")
    assert caught.value.url == "http://localhost/news/a"


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080/a", "http://[::1]/a", "http://[::ffff:127.0.0.1]/a",
            "http://169.254.169.254/latest/meta-data/", "http://0x7f.1/a"],
)  # fmt: skip
def test_resolving_a_private_literal_is_refused(url: str) -> None:
    with pytest.raises(BlockedAddress, match="non-public"):
        resolve_public(url)


def test_resolving_a_public_literal_gives_that_address() -> None:
    # a numeric host needs no DNS
    assert resolve_public(f"http://{PUBLIC_V4}:8080/news/a") == PUBLIC_V4


# --- deny by default: forms ipaddress calls global ------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "::7f00:1",  # IPv4-compatible 127.0.0.1
        "::a9fe:a9fe",  # IPv4-compatible 169.254.169.254
        "::ffff:0:7f00:1",  # IPv4-translated 127.0.0.1
        "64:ff9b:1::7f00:1",  # local-use NAT64
        "64:ff9b:1::5db8:d822",  # ... even around a public IPv4 address
        "fec0::1",  # site-local
        "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
        "2001:db8::1",  # documentation
        "100::1",  # discard-only
        "ff0e::1",  # global-scope multicast
        "192.0.0.8",  # IETF protocol assignments
        "198.18.0.1",  # benchmarking
        "240.0.0.1",  # reserved
        "255.255.255.255",
    ],
)
def test_addresses_that_are_not_globally_routable_unicast_are_refused(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))


# --- the policy: allow-lists and ports -------------------------------------------------------


def test_allow_networks_opens_those_networks_only() -> None:
    policy = policy_from("127.0.0.0/8, 10.1.0.0/16", ports="*")
    assert policy.address_allowed("x", ipaddress.ip_address("127.0.0.1"))
    assert policy.address_allowed("x", ipaddress.ip_address("10.1.2.3"))
    assert not policy.address_allowed("x", ipaddress.ip_address("10.2.0.1"))
    assert not policy.address_allowed("x", ipaddress.ip_address("192.168.1.1"))


@pytest.mark.parametrize("networks", ["169.254.0.0/16", "0.0.0.0/0", "::/0"])
def test_a_broad_allow_list_never_opens_the_metadata_address(networks: str) -> None:
    policy = policy_from(networks)
    for metadata in ("169.254.169.254", "fd00:ec2::254", "::ffff:169.254.169.254"):
        assert not policy.address_allowed("x", ipaddress.ip_address(metadata))


def test_the_metadata_address_listed_exactly_is_allowed() -> None:
    assert policy_from("169.254.169.254/32").address_allowed(
        "x", ipaddress.ip_address("169.254.169.254"))
    assert policy_from(hosts="metadata.google.internal").address_allowed(
        "metadata.google.internal", ipaddress.ip_address("169.254.169.254"))


def test_the_deprecated_flag_opens_private_networks_but_not_the_metadata_address() -> None:
    policy = policy_from(allow_private=True)
    assert policy.address_allowed("x", ipaddress.ip_address("127.0.0.1"))
    assert policy.address_allowed("x", ipaddress.ip_address("192.168.1.1"))
    assert not policy.address_allowed("x", ipaddress.ip_address("169.254.169.254"))


def test_allow_hosts_opens_a_host_name_wherever_it_resolves() -> None:
    policy = policy_from(hosts="Intranet.Example.")
    assert policy.address_allowed("intranet.example", ipaddress.ip_address("10.0.0.5"))
    assert not policy.address_allowed("other.example", ipaddress.ip_address("10.0.0.5"))


@pytest.mark.parametrize("port", [22, 25, 6379, 9200])
def test_ports_other_than_the_web_ones_are_refused_by_default(port: int) -> None:
    with pytest.raises(BlockedAddress, match=f"port {port} is not allowed.*allowed_ports"):
        resolve_public(f"http://{PUBLIC_V4}:{port}/a")


def test_allowed_ports_setting_opens_a_port() -> None:
    assert resolve_public(f"http://{PUBLIC_V4}:9200/a", policy_from(ports="80,9200")) == PUBLIC_V4


@pytest.mark.parametrize(
    ("networks", "ports", "message"),
    [("10.0.0.0/33", "80", "allow_networks"), ("intranet", "80", "allow_networks"),
     ("", "80,http", "allowed_ports"), ("", "0", "allowed_ports"), ("", "70000", "allowed_ports")],
)  # fmt: skip
def test_bad_allow_list_entries_are_named(networks: str, ports: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        policy_from(networks, ports=ports)


@pytest.mark.parametrize("url", ["http://xn--a-.example/", "http://exa mple.com/x",
                                 "http://example.com:0/x"])
def test_urls_the_client_would_refuse_are_blocked_at_the_door(url: str) -> None:
    with pytest.raises(BlockedAddress):
        check_scheme(url)


def test_every_client_of_the_process_shares_one_verifying_tls_context() -> None:
    """Made once (loading the authorities' certificates is ~50 ms; a forked process of a pass
    inherits it), with httpx's defaults: certificates verified, host names checked."""
    import ssl

    from tracker.netguard import guarded_transport, tls_context

    context = tls_context()
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    transports = [guarded_transport(), guarded_transport()]
    try:
        assert all(t._pool._ssl_context is context for t in transports)
    finally:
        for transport in transports:
            transport.close()
