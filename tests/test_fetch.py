"""Fetching over real HTTP from the local article server: pages and validators, conditional GET,
every failure mapped to a transient or permanent error, caps, redirects, the address guard and
the per-host limit. httpx.MockTransport stands in only for public hosts, which a server on
127.0.0.1 cannot be."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.articleserver import MODIFIED, ArticleServer
from tracker import netguard
from tracker.config import load_settings
from tracker.errors import (
    BlockedAddress,
    BodyTooLarge,
    FetchError,
    GoneError,
    PermanentFetchError,
    RedirectError,
    TransientFetchError,
    UnsupportedContent,
)
from tracker.fetch import Fetcher

PUBLIC_IP = "93.184.216.34"

MakeFetcher = Callable[..., Fetcher]


@pytest.fixture
def make_fetcher() -> Iterator[MakeFetcher]:
    """Fetchers with settings overrides (load_settings(**overrides)); all closed afterwards."""
    made: list[Fetcher] = []

    def factory(client: httpx.Client | None = None, **overrides: Any) -> Fetcher:
        fetcher = Fetcher(load_settings(**overrides), client=client)
        made.append(fetcher)
        return fetcher

    yield factory
    for fetcher in made:
        fetcher.close()


@pytest.fixture
def fetcher(make_fetcher: MakeFetcher) -> Fetcher:
    return make_fetcher()


class _CountingStream(httpx.SyncByteStream):
    def __init__(self, inner: httpx.SyncByteStream, counter: CountingTransport) -> None:
        self.inner, self.counter = inner, counter

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.inner:
            self.counter.received += len(chunk)
            yield chunk

    def close(self) -> None:
        self.inner.close()


class CountingTransport(httpx.HTTPTransport):
    """The real HTTP transport, counting the body bytes the client actually took in."""

    received = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        assert isinstance(response.stream, httpx.SyncByteStream)
        response.stream = _CountingStream(response.stream, self)
        return response


# --- pages and validators ---------------------------------------------------------------------


def test_article_page_has_body_media_type_and_charset(
    article_server: ArticleServer, fetcher: Fetcher
) -> None:
    url = article_server.add_article("story")
    page = fetcher.fetch(url)
    assert (page.status, page.url, page.media_type, page.charset) == (
        200, url, "text/html", "utf-8",
    )  # fmt: skip
    assert page.body.startswith(b"<!DOCTYPE html>")
    assert not page.not_modified


def test_article_page_has_the_versions_validators(
    article_server: ArticleServer, fetcher: Fetcher
) -> None:
    url = article_server.add_article("story", 3)
    page = fetcher.fetch(url)
    assert page.etag is not None
    assert re.fullmatch(r'"\w+"', page.etag)
    assert page.last_modified is not None
    assert parsedate_to_datetime(page.last_modified) == MODIFIED[2]


@pytest.mark.parametrize(
    ("mode", "media_type"), [("xhtml", "application/xhtml+xml"), ("plain", "text/plain")]
)
def test_xhtml_and_plain_text_are_accepted(
    article_server: ArticleServer, fetcher: Fetcher, mode: str, media_type: str
) -> None:
    url = article_server.add_article("story")
    article_server.set_mode("story", mode)
    page = fetcher.fetch(url)
    assert page.media_type == media_type
    assert page.body


def test_etag_of_the_same_version_gives_not_modified(
    article_server: ArticleServer, fetcher: Fetcher
) -> None:
    url = article_server.add_article("story")
    first = fetcher.fetch(url)
    again = fetcher.fetch(url, etag=first.etag)
    assert again.not_modified
    assert again.body == b""
    assert article_server.requests()[-1].headers["if-none-match"] == first.etag


def test_last_modified_of_the_same_version_gives_not_modified(
    article_server: ArticleServer, fetcher: Fetcher
) -> None:
    url = article_server.add_article("story")
    first = fetcher.fetch(url)
    again = fetcher.fetch(url, last_modified=first.last_modified)
    assert again.not_modified
    assert article_server.requests()[-1].headers["if-modified-since"] == first.last_modified


def test_new_version_answers_a_conditional_get_with_the_page(
    article_server: ArticleServer, fetcher: Fetcher
) -> None:
    url = article_server.add_article("story")
    first = fetcher.fetch(url)
    article_server.advance("story")
    again = fetcher.fetch(url, etag=first.etag, last_modified=first.last_modified)
    assert again.status == 200
    assert again.etag != first.etag


def test_user_agent_is_sent_and_descriptive(
    article_server: ArticleServer, fetcher: Fetcher
) -> None:
    fetcher.fetch(article_server.add_article("story"))
    agent = article_server.requests()[0].headers["user-agent"]
    assert agent == fetcher.settings.user_agent
    assert re.match(r"tracker/\d", agent)
    assert re.search(r"\+https?://", agent)  # where a site owner can read who we are


# --- failures -------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [404, 410])
def test_missing_article_raises_gone_error_with_the_status(
    article_server: ArticleServer, fetcher: Fetcher, status: int
) -> None:
    url = article_server.add_article("story")
    article_server.set_mode("story", str(status))
    with pytest.raises(GoneError) as caught:
        fetcher.fetch(url)
    assert (caught.value.status, caught.value.url) == (status, url)


def test_server_error_is_transient_with_the_status(
    article_server: ArticleServer, fetcher: Fetcher
) -> None:
    url = article_server.add_article("story")
    article_server.set_mode("story", "500")
    with pytest.raises(TransientFetchError) as caught:
        fetcher.fetch(url)
    assert caught.value.status == 500
    assert caught.value.retry_after is None


@pytest.mark.parametrize(("status", "seconds"), [(503, 5), (429, 45)])
def test_unavailable_and_too_many_requests_are_transient_with_retry_after(
    article_server: ArticleServer, fetcher: Fetcher, status: int, seconds: int
) -> None:
    url = article_server.add_article("story")
    article_server.set_mode("story", str(status), retry_after=seconds)
    with pytest.raises(TransientFetchError) as caught:
        fetcher.fetch(url)
    assert (caught.value.status, caught.value.retry_after) == (status, seconds)


def test_retry_after_as_a_date_gives_seconds_from_now(
    article_server: ArticleServer, fetcher: Fetcher
) -> None:
    url = article_server.add_article("story")
    when = datetime.now(UTC) + timedelta(minutes=10)
    article_server.set_mode("story", "503", retry_after=format_datetime(when, usegmt=True))
    with pytest.raises(TransientFetchError) as caught:
        fetcher.fetch(url)
    assert caught.value.retry_after == pytest.approx(600, abs=5)


def test_no_answer_within_the_read_timeout_is_transient(
    article_server: ArticleServer, make_fetcher: MakeFetcher
) -> None:
    url = article_server.add_article("story")
    article_server.set_mode("story", "timeout", seconds=10)
    fetcher = make_fetcher(read_timeout=0.5)
    started = time.monotonic()
    with pytest.raises(TransientFetchError, match="timed out"):
        fetcher.fetch(url)
    assert time.monotonic() - started < 2


def test_body_stalling_longer_than_the_read_timeout_is_transient(
    article_server: ArticleServer, make_fetcher: MakeFetcher
) -> None:
    url = article_server.add_article("story")
    article_server.set_mode("story", "slow-body", chunk=4096, delay=5)
    with pytest.raises(TransientFetchError, match="timed out while reading the body"):
        make_fetcher(read_timeout=0.5).fetch(url)


def test_connection_reset_is_transient(article_server: ArticleServer, fetcher: Fetcher) -> None:
    url = article_server.add_article("story")
    article_server.set_mode("story", "reset")
    with pytest.raises(TransientFetchError, match="connection"):
        fetcher.fetch(url)


@pytest.mark.parametrize("mode", ["huge", "huge-chunked"])
def test_body_over_the_cap_raises_without_reading_it_all(
    article_server: ArticleServer, make_fetcher: MakeFetcher, mode: str
) -> None:
    url = article_server.add_article("story")
    article_server.set_mode("story", mode, size=50_000_000)
    transport = CountingTransport()
    fetcher = make_fetcher(client=httpx.Client(transport=transport), max_body_bytes=100_000)
    with pytest.raises(BodyTooLarge, match="100,000"):
        fetcher.fetch(url)
    assert transport.received < 1_000_000


def test_declared_length_over_the_cap_raises_before_reading(
    article_server: ArticleServer, make_fetcher: MakeFetcher
) -> None:
    url = article_server.add_article("story")
    article_server.set_mode("story", "huge", size=50_000_000)
    transport = CountingTransport()
    fetcher = make_fetcher(client=httpx.Client(transport=transport), max_body_bytes=100_000)
    with pytest.raises(BodyTooLarge, match="50,000,000 bytes"):
        fetcher.fetch(url)
    assert transport.received == 0


def test_binary_content_type_is_unsupported(
    article_server: ArticleServer, fetcher: Fetcher
) -> None:
    url = article_server.add_article("story")
    article_server.set_mode("story", "binary")
    with pytest.raises(UnsupportedContent, match="application/octet-stream"):
        fetcher.fetch(url)


def test_binary_body_labelled_html_is_unsupported(
    article_server: ArticleServer, fetcher: Fetcher
) -> None:
    url = article_server.add_article("story")
    article_server.set_mode("story", "binary", content_type="text/html")
    with pytest.raises(UnsupportedContent, match="binary"):
        fetcher.fetch(url)


# --- redirects ------------------------------------------------------------------------------


def test_redirect_is_followed_to_the_target(
    article_server: ArticleServer, fetcher: Fetcher
) -> None:
    moved = article_server.add_article("moved")
    target = article_server.add_article("target", 4)
    article_server.set_mode("moved", "redirect", target="target")
    page = fetcher.fetch(moved)
    assert (page.status, page.url) == (200, target)
    assert [(r.slug, r.status) for r in article_server.requests()] == [
        ("moved", 301), ("target", 200),
    ]  # fmt: skip


def test_redirect_loop_raises_redirect_error(
    article_server: ArticleServer, fetcher: Fetcher
) -> None:
    url = article_server.add_article("story")
    article_server.set_mode("story", "redirect-loop")
    with pytest.raises(RedirectError, match="loop"):
        fetcher.fetch(url)
    assert len(article_server.requests()) == 2


def test_more_redirects_than_allowed_raise_redirect_error(
    article_server: ArticleServer, make_fetcher: MakeFetcher
) -> None:
    moved = article_server.add_article("moved")
    article_server.add_article("target")
    article_server.set_mode("moved", "redirect", target="target")
    with pytest.raises(RedirectError, match="more than 0 redirects"):
        make_fetcher(max_redirects=0).fetch(moved)


# --- the address guard ----------------------------------------------------------------------


def test_private_address_is_blocked_before_any_request(
    article_server: ArticleServer, make_fetcher: MakeFetcher
) -> None:
    url = article_server.add_article("story")
    fetcher = make_fetcher(allow_networks="")
    with pytest.raises(BlockedAddress, match="TRACKER_ALLOW_NETWORKS"):
        fetcher.fetch(url)
    assert article_server.requests() == []


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/a", "file:///etc/passwd"])
def test_other_schemes_are_blocked(fetcher: Fetcher, url: str) -> None:
    with pytest.raises(BlockedAddress, match="only http"):
        fetcher.fetch(url)


@pytest.mark.parametrize(
    "location", ["http://[::1/a", "http://news.example:99999/a", "http://" + "a" * 64 + ".de/"]
)
def test_malformed_redirect_target_is_a_fetch_error(
    make_fetcher: MakeFetcher, location: str
) -> None:
    # A server's Location header must not crash the check with an error that is no FetchError.
    client = mock_client(lambda request: httpx.Response(302, headers={"Location": location}))
    fetcher = make_fetcher(client=client, allow_networks="")
    with pytest.raises(FetchError):
        fetcher.fetch(f"http://{PUBLIC_IP}/a")


def test_url_with_control_characters_is_a_permanent_error(fetcher: Fetcher) -> None:
    with pytest.raises(PermanentFetchError, match="not a valid URL"):
        fetcher.fetch("http://news\x00.example/a")


def mock_client(handler: Callable[[httpx.Request], httpx.Response]) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(handler))


def pretend_public(monkeypatch: pytest.MonkeyPatch, name: str, address: str) -> None:
    """Let the guard treat ``name`` as a public host living at ``address``; every other host
    goes through the real check."""
    real = netguard.resolve_public

    def resolve(url: str, *args: Any) -> str:
        return address if urlsplit(url).hostname == name else real(url, *args)

    monkeypatch.setattr(netguard, "resolve_public", resolve)


def test_connection_goes_to_the_checked_address_with_the_host_name_kept(
    make_fetcher: MakeFetcher, article_server: ArticleServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The guard resolves once, at connect time, and connects to exactly the address it checked
    # (no second DNS answer can slip in); the Host header still names the site.
    pretend_public(monkeypatch, "news.example", "127.0.0.1")
    article_server.add_article("a", 1)
    port = urlsplit(article_server.base_url).port
    fetcher = make_fetcher(allow_networks="")
    page = fetcher.fetch(f"http://news.example:{port}/news/a")
    assert page.status == 200
    [request] = article_server.requests("a")
    assert request.headers["host"] == f"news.example:{port}"


def test_redirect_from_a_public_host_to_a_private_one_is_blocked(
    make_fetcher: MakeFetcher, article_server: ArticleServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    pretend_public(monkeypatch, "news.example", "127.0.0.1")
    article_server.add_article("a", 1)
    article_server.add_article("b", 1)
    article_server.set_mode("a", "redirect", target="b")  # Location: http://127.0.0.1:…/news/b
    port = urlsplit(article_server.base_url).port
    fetcher = make_fetcher(allow_networks="")
    with pytest.raises(BlockedAddress, match=r"127\.0\.0\.1"):
        fetcher.fetch(f"http://news.example:{port}/news/a")
    assert [r.slug for r in article_server.requests()] == ["a"]


# --- politeness -----------------------------------------------------------------------------


def most_in_window(times: list[float], window: float) -> int:
    """The largest number of ``times`` that fall within any ``window`` seconds."""
    times = sorted(times)
    return max(sum(1 for t in times[i:] if t - start < window) for i, start in enumerate(times))


def test_at_most_per_host_concurrency_requests_reach_a_host_at_once(
    article_server: ArticleServer, make_fetcher: MakeFetcher
) -> None:
    answer_after = 0.3
    urls = []
    for number in range(6):
        urls.append(article_server.add_article(f"slow-{number}"))
        article_server.set_mode(f"slow-{number}", "timeout", seconds=answer_after)
    fetcher = make_fetcher(per_host_concurrency=2)
    with ThreadPoolExecutor(max_workers=6) as pool:
        pages = list(pool.map(fetcher.fetch, urls))
    assert [page.status for page in pages] == [200] * 6
    arrivals = [record.time for record in article_server.requests()]
    assert len(arrivals) == 6
    # each request is answered answer_after seconds after it arrived, so requests that arrive
    # within a shorter window were in flight together
    assert most_in_window(arrivals, answer_after * 0.8) == 2
