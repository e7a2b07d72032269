"""Fetching from a hostile server on 127.0.0.1: compression bombs, dripping heads and bodies,
endless bodies, broken headers and redirects. Each must end in a FetchError within the cap and
the deadline, never in memory growth, a hang or another exception."""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests import hostile
from tests.hostile import Answer, HostileServer
from tracker.config import load_settings
from tracker.errors import (
    BodyTooLarge,
    PermanentFetchError,
    TransientFetchError,
    UnsupportedContent,
)
from tracker.fetch import Fetcher
from tracker.headers import MAX_RETRY_AFTER

DEADLINE = 1.5
SLACK = 1.0  # the deadline is checked between socket operations of at most SLICE … read_timeout


@pytest.fixture
def server() -> Iterator[HostileServer]:
    with HostileServer() as running:
        yield running


@pytest.fixture
def make_fetcher() -> Iterator[Callable[..., Fetcher]]:
    made: list[Fetcher] = []

    def factory(**overrides: Any) -> Fetcher:
        settings = {"fetch_deadline": DEADLINE, "read_timeout": 30.0, **overrides}
        fetcher = Fetcher(load_settings(**settings))
        made.append(fetcher)
        return fetcher

    yield factory
    for fetcher in made:
        fetcher.close()


@pytest.fixture
def fetcher(make_fetcher: Callable[..., Fetcher]) -> Fetcher:
    return make_fetcher()


def timed(call: Callable[[], object]) -> tuple[BaseException | None, float]:
    started = time.monotonic()
    try:
        call()
    except BaseException as exc:
        return exc, time.monotonic() - started
    return None, time.monotonic() - started


# --- compression bombs ----------------------------------------------------------------------


@pytest.mark.parametrize("codings", [("gzip", "gzip"), ("deflate", "gzip"), ("gzip", "deflate")])
def test_stacked_compression_is_refused_before_anything_is_unpacked(
    server: HostileServer, fetcher: Fetcher, codings: tuple[str, ...]
) -> None:
    url = server.route("/a", hostile.bomb(codings, size=256 << 20))
    tracemalloc.start()
    try:
        with pytest.raises(UnsupportedContent, match="stacked content codings"):
            fetcher.fetch(url)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20


@pytest.mark.parametrize("coding", ["gzip", "deflate"])
def test_single_layer_bomb_stops_at_the_cap_of_decoded_bytes(
    server: HostileServer, make_fetcher: Callable[..., Fetcher], coding: str
) -> None:
    cap = 2 << 20
    url = server.route("/a", hostile.bomb((coding,), size=256 << 20))
    fetcher = make_fetcher(max_body_bytes=cap)
    tracemalloc.start()
    try:
        with pytest.raises(BodyTooLarge, match="decodes to more than"):
            fetcher.fetch(url)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * cap


@pytest.mark.parametrize("coding", ["br", "zstd", "compress", "gzip;q=1"])
def test_codings_tracker_did_not_ask_for_are_refused(
    server: HostileServer, fetcher: Fetcher, coding: str
) -> None:
    url = server.route("/a", hostile.html(hostile.ARTICLE, f"Content-Encoding: {coding}"))
    with pytest.raises(UnsupportedContent, match="content coding"):
        fetcher.fetch(url)


@pytest.mark.parametrize("coding", ["gzip", "x-gzip", "deflate", "identity", "gzip, identity"])
def test_a_page_in_one_ordinary_coding_is_read(
    server: HostileServer, fetcher: Fetcher, coding: str
) -> None:
    import gzip
    import zlib

    pack = {"gzip": gzip.compress, "x-gzip": gzip.compress, "deflate": zlib.compress,
            "identity": bytes, "gzip, identity": gzip.compress}[coding]
    url = server.route("/a", hostile.html(pack(hostile.ARTICLE), f"Content-Encoding: {coding}"))
    assert fetcher.fetch(url).body == hostile.ARTICLE


def test_raw_deflate_without_zlib_wrapping_is_read(server: HostileServer, fetcher: Fetcher) -> None:
    import zlib

    packer = zlib.compressobj(6, zlib.DEFLATED, -15)
    raw = packer.compress(hostile.ARTICLE) + packer.flush()
    url = server.route("/a", hostile.html(raw, "Content-Encoding: deflate"))
    assert fetcher.fetch(url).body == hostile.ARTICLE


def test_sitemap_gz_served_gzip_encoded_too_is_bounded(
    server: HostileServer, make_fetcher: Callable[..., Fetcher]
) -> None:
    import gzip

    inner = hostile.zeros_gzip(64 << 20)  # a .xml.gz that unpacks to 64 MiB …
    url = server.route("/sitemap.xml.gz", hostile.respond(
        "200 OK", "Content-Type: application/x-gzip", "Content-Encoding: gzip",
        body=gzip.compress(inner)))  # … sent gzip-encoded on top
    with pytest.raises(BodyTooLarge):
        make_fetcher(max_body_bytes=1 << 20).fetch(url, kind="listing")


def test_endless_body_is_cut_at_the_cap(
    server: HostileServer, make_fetcher: Callable[..., Fetcher]
) -> None:
    url = server.route("/a", hostile.endless_body())
    with pytest.raises(BodyTooLarge):
        make_fetcher(max_body_bytes=1 << 20, fetch_deadline=30).fetch(url)


# --- one deadline, every phase --------------------------------------------------------------


def assert_cut_at_the_deadline(error: BaseException | None, took: float) -> None:
    assert isinstance(error, TransientFetchError), error
    assert f"took longer than {DEADLINE:g} s in all" in str(error)
    assert took < DEADLINE + SLACK


def test_a_server_that_never_answers_is_cut_at_the_deadline(
    server: HostileServer, fetcher: Fetcher
) -> None:
    url = server.route("/a", hostile.hang())
    assert_cut_at_the_deadline(*timed(lambda: fetcher.fetch(url)))


def test_headers_dripping_one_byte_a_second_are_cut_at_the_deadline(
    server: HostileServer, fetcher: Fetcher
) -> None:
    url = server.route("/a", hostile.drip_head(0.2))
    assert_cut_at_the_deadline(*timed(lambda: fetcher.fetch(url)))


def test_a_body_dripping_one_byte_at_a_time_is_cut_at_the_deadline(
    server: HostileServer, fetcher: Fetcher
) -> None:
    url = server.route("/a", hostile.drip_body(0.2))
    assert_cut_at_the_deadline(*timed(lambda: fetcher.fetch(url)))


def drip_after(status: str, *headers: str) -> hostile.Script:
    """A prompt head announcing a body that then drips."""

    def script(answer: Answer) -> None:
        if answer.send(hostile.head(status, *headers, "Content-Length: 1000")):
            answer.drip(b"x" * 1000, 0.2)

    return script


def test_a_redirect_body_dripping_is_cut_at_the_deadline(
    server: HostileServer, fetcher: Fetcher
) -> None:
    url = server.route("/a", drip_after("302 Found", "Location: /b"))
    server.route("/b", hostile.html())
    assert_cut_at_the_deadline(*timed(lambda: fetcher.fetch(url)))


def test_a_304_that_announces_a_dripping_body_is_not_waited_for(
    server: HostileServer, fetcher: Fetcher
) -> None:
    # a 304 has no body, whatever its headers say: nothing of the drip is read
    url = server.route("/a", drip_after("304 Not Modified", 'ETag: "1"'))
    started = time.monotonic()
    assert fetcher.fetch(url, etag='"1"').not_modified
    assert time.monotonic() - started < DEADLINE


def slow_redirect(location: str, seconds: float) -> hostile.Script:
    def script(answer: Answer) -> None:
        if answer.sleep(seconds):
            answer.send(hostile.head("302 Found", f"Location: {location}", "Content-Length: 0"))

    return script


def test_redirect_hops_share_one_deadline(server: HostileServer, fetcher: Fetcher) -> None:
    # each hop alone is well within the deadline; together they are not
    for hop in range(4):
        server.route(f"/{hop}", slow_redirect(f"/{hop + 1}", DEADLINE / 3))
    server.route("/4", hostile.html())
    assert_cut_at_the_deadline(*timed(lambda: fetcher.fetch(server.url("/0"))))


def test_a_dripping_robots_txt_counts_against_the_deadline(
    server: HostileServer, make_fetcher: Callable[..., Fetcher]
) -> None:
    server.route("/robots.txt", drip_after("200 OK", "Content-Type: text/plain"))
    url = server.route("/a", hostile.html())
    fetcher = make_fetcher(robots_txt=True)
    assert_cut_at_the_deadline(*timed(lambda: fetcher.fetch(url)))
    assert server.hits("/a") == 0


def test_a_robots_txt_bomb_is_read_only_to_its_cap(
    server: HostileServer, make_fetcher: Callable[..., Fetcher]
) -> None:
    server.route("/robots.txt", hostile.bomb(("gzip",), size=256 << 20))
    url = server.route("/a", hostile.html())
    page = make_fetcher(robots_txt=True, fetch_deadline=30).fetch(url)
    assert page.body == hostile.ARTICLE


# --- headers trusted too far ----------------------------------------------------------------


def test_304_to_a_request_without_validators_is_an_error_not_unchanged(
    server: HostileServer, fetcher: Fetcher
) -> None:
    url = server.route("/a", hostile.respond("304 Not Modified"))
    with pytest.raises(TransientFetchError, match="sent no validators"):
        fetcher.fetch(url)


@pytest.mark.parametrize(
    ("case", "expected"),
    [("retry-after-b2", None), ("retry-after-huge", MAX_RETRY_AFTER),
     ("retry-after-9999", MAX_RETRY_AFTER)],
)
def test_a_hostile_retry_after_is_ignored_or_capped(
    server: HostileServer, fetcher: Fetcher, case: str, expected: float | None
) -> None:
    url = server.route("/a", hostile.CATALOGUE[case]())
    with pytest.raises(TransientFetchError) as caught:
        fetcher.fetch(url)
    found = caught.value.retry_after
    if expected is None:
        assert found is None
    else:
        assert found is not None
        assert expected - 5 <= found <= expected


@pytest.mark.parametrize("case", ["huge-headers", "header-garbage"])
def test_broken_headers_are_a_transient_fetch_error(
    server: HostileServer, fetcher: Fetcher, case: str
) -> None:
    url = server.route("/a", hostile.CATALOGUE[case]())
    with pytest.raises(TransientFetchError, match="connection failed"):
        fetcher.fetch(url)


def test_a_redirect_to_an_invalid_idn_host_is_a_permanent_error(
    server: HostileServer, fetcher: Fetcher
) -> None:
    url = server.route("/a", hostile.CATALOGUE["idn-redirect"]())
    with pytest.raises(PermanentFetchError, match=r"invalid URL|not a valid"):
        fetcher.fetch(url)


def test_a_page_whose_header_falsely_says_utf16_is_stored_readable(
    server: HostileServer, fetcher: Fetcher
) -> None:
    from tracker.extract import extract_page

    url = server.route("/a", hostile.CATALOGUE["utf16-lie"]())
    page = fetcher.fetch(url)
    assert page.charset == "utf-16"
    article = extract_page(page.body, url=page.url, media_type=page.media_type,
                           charset=page.charset)
    assert any("Absatz 3: Die Stadtverwaltung" in text for text in article.texts)
