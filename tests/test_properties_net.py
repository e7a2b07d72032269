"""Property tests: generated hostile input at the network edges. Header parsing (Retry-After,
Content-Type, Content-Encoding), decoding bodies, charsets, the URL guard for fetched and
redirect URLs, and webhook payload building. None may raise anything but ``tracker.errors``;
every result stays within its stated bounds."""

from __future__ import annotations

import datetime as dt
import gzip
import ipaddress
import json
import math
import zlib
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracker.charset import decode
from tracker.config import load_settings
from tracker.decoding import Decoder
from tracker.errors import FetchError, TrackerError
from tracker.fetch import Fetcher
from tracker.headers import MAX_RETRY_AFTER, content_codings, content_type, retry_after
from tracker.netguard import METADATA, check_scheme, embedded_ipv4, is_public, policy_from
from tracker.webhooks.payload import build_payload

# Modest and without deadlines: the suite must be fast and stable on a loaded 2-core machine.
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NOW = 1_750_000_000.0

header_text = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x2FF), max_size=80)
http_dates = st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31))


@FAST
@given(st.one_of(header_text, st.text(max_size=40),
                 st.integers(min_value=-(10**30), max_value=10**400).map(str),
                 http_dates.map(lambda d: d.strftime("%a, %d %b %Y %H:%M:%S GMT")),
                 st.sampled_from(["²", "١٢", "𝟗", "1e309", "nan", "-5", "Fri, 31 Dec 9999"])))
def test_retry_after_is_none_or_within_bounds(value: str) -> None:
    seconds = retry_after(value, NOW)
    assert seconds is None or (0.0 <= seconds <= MAX_RETRY_AFTER and math.isfinite(seconds))


@FAST
@given(st.one_of(header_text, st.text(max_size=60)))
def test_content_type_gives_a_lowercase_media_type_and_a_plausible_label(value: str) -> None:
    media_type, charset = content_type(value)
    assert media_type == media_type.lower()
    assert charset is None or (charset.isascii() and len(charset) <= 40)


@FAST
@given(st.one_of(header_text, st.lists(st.sampled_from(
    ["gzip", "deflate", "br", "zstd", "identity", "x-gzip", "", " ", "g\x00zip", "GZIP"])).map(
    ", ".join)))
def test_content_codings_are_tokens_or_refusable(value: str) -> None:
    for coding in content_codings(value):
        assert coding == "?" or (coding.isascii() and coding == coding.lower() and coding)


bodies = st.one_of(
    st.binary(max_size=4096),
    st.binary(max_size=4096).map(gzip.compress),
    st.binary(max_size=4096).map(zlib.compress),
    st.binary(max_size=4096).map(lambda b: gzip.compress(b)[: len(b) // 2]),  # cut short
    st.integers(min_value=0, max_value=2_000_000).map(lambda n: gzip.compress(b"\0" * n)),
)


@FAST
@given(bodies, header_text, st.integers(min_value=0, max_value=100_000), st.booleans(),
       st.integers(min_value=1, max_value=5000))
def test_decoding_any_body_stays_under_the_cap_or_raises_a_tracker_error(
    body: bytes, header: str, cap: int, truncate: bool, piece: int
) -> None:
    try:
        decoder = Decoder("http://x.example/", content_codings(header), cap, truncate=truncate)
        out = b"".join(decoder.decode(body[i : i + piece]) for i in range(0, len(body), piece))
        out += decoder.finish()
    except TrackerError:
        return
    assert len(out) <= cap


@FAST
@given(st.binary(max_size=3000), st.one_of(st.none(), header_text,
                                           st.sampled_from(["utf-16", "utf-7", "rot13",
                                                            "unicode_escape", "utf-32-be"])))
def test_any_body_under_any_label_decodes_to_text(body: bytes, label: str | None) -> None:
    assert isinstance(decode(body, label), str)


url_parts = st.text(alphabet=st.characters(max_codepoint=0x10FFFF, exclude_categories=["Cs"]),
                    max_size=30)
urls = st.one_of(
    st.text(max_size=80),
    st.builds(lambda s, h, p, rest: f"{s}://{h}{p}/{rest}",
              st.sampled_from(["http", "https", "HTTP", "ftp", "javascript"]),
              st.one_of(url_parts, st.sampled_from(["xn--a-.example", "[::1", "exa mple.com",
                                                    "127.0.0.1", "[::ffff:7f00:1]"])),
              st.one_of(st.just(""), st.integers(-5, 70000).map(lambda n: f":{n}"), url_parts),
              url_parts),
)


@FAST
@given(urls)
def test_checking_any_url_raises_only_a_tracker_error(url: str) -> None:
    try:
        scheme, _, port = check_scheme(url)
    except TrackerError:
        return
    assert scheme in {"http", "https"}
    assert 0 < port < 65536
    httpx.URL(url)  # what passes the guard, the client accepts too


@FAST
@given(st.one_of(st.integers(0, 2**32 - 1).map(ipaddress.IPv4Address),
                 st.integers(0, 2**128 - 1).map(ipaddress.IPv6Address)),
       st.sampled_from(["news.example", "x", "NEWS.example."]))
def test_the_address_policy_answers_for_any_address(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, host: str
) -> None:
    policy = policy_from("127.0.0.0/8,fd00::/8", "intranet.example")
    allowed = policy.address_allowed(host, address)
    assert allowed == (is_public(address) or (any(
        a in n for a in (address, embedded_ipv4(address)) for n in policy.networks
        if a.version == n.version) and embedded_ipv4(address) not in METADATA))


@FAST
@given(st.one_of(urls, url_parts, st.sampled_from(["//xn--a-.example/", "http://[::1/",
                                                     "https://a\tb/", "/\x00", "http:x"])))
def test_following_any_redirect_raises_only_a_fetch_error(location: str) -> None:
    safe = location.encode("latin-1", "replace").replace(b"\r", b"").replace(b"\n", b"")

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/a":
            return httpx.Response(302, headers=[(b"Location", safe)])
        return httpx.Response(200, headers={"Content-Type": "text/html"}, content=b"<p>x</p>")

    fetcher = Fetcher(load_settings(), client=httpx.Client(transport=httpx.MockTransport(answer)))
    try:
        fetcher.fetch("http://news.example/a")
    except FetchError:
        pass
    finally:
        fetcher.close()


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=200)),
    lambda children: st.one_of(st.lists(children, max_size=5),
                               st.dictionaries(st.text(max_size=10), children, max_size=5)),
    max_leaves=30,
)
changes = st.lists(st.fixed_dictionaries({
    "op": st.sampled_from(["insert", "delete", "replace", "move"]),
    "old": st.lists(st.integers(0, 5), max_size=3), "new": st.lists(st.integers(0, 5), max_size=3),
    "old_text": st.one_of(st.none(), st.text(max_size=3000)),
    "new_text": st.one_of(st.none(), st.text(max_size=3000)),
}), max_size=8)


@FAST
@given(st.sampled_from(["article.changed", "article.discovered", "article.first_seen", "x"]),
       st.datetimes(timezones=st.one_of(st.none(), st.timezones())),
       st.fixed_dictionaries({"url": st.text(max_size=3000),
                              "title": st.one_of(st.none(), st.text(max_size=3000))}),
       st.one_of(st.dictionaries(st.text(max_size=10), json_values, max_size=6),
                 st.builds(lambda c, extra: {"changes": c, **extra}, changes,
                           st.dictionaries(st.text(max_size=10), json_values, max_size=3))),
       st.integers(min_value=0, max_value=20_000))
def test_a_payload_fits_its_cap_or_raises_a_tracker_error(
    event_type: str, when: dt.datetime, article: dict[str, Any], data: dict[str, Any],
    max_bytes: int,
) -> None:
    try:
        body = build_payload(event_type, when, article, data, max_bytes=max_bytes)
    except TrackerError:
        return
    assert len(body) <= max_bytes
    assert json.loads(body)["type"] == event_type
