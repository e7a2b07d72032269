"""Fetching sources (``Fetcher.fetch(kind="listing")``) from the local site: XML media types,
compressed sitemaps within the size cap, and articles fetched exactly as before."""

from __future__ import annotations

import gzip
from collections.abc import Iterator

import pytest

from tests.articleserver import ArticleServer
from tracker.config import load_settings
from tracker.errors import BodyTooLarge, UnsupportedContent
from tracker.feeds import parse_listing
from tracker.fetch import Fetcher


@pytest.fixture
def fetcher() -> Iterator[Fetcher]:
    made = Fetcher(load_settings())
    yield made
    made.close()


@pytest.fixture
def site(article_server: ArticleServer) -> ArticleServer:
    for slug in ("a", "b", "c"):
        article_server.add_article(slug, 1)
    return article_server


@pytest.mark.parametrize(
    ("kind", "media_type"),
    [("rss", "application/rss+xml"), ("atom", "application/atom+xml"),
     ("sitemap", "application/xml")],
)
def test_a_listing_is_fetched_with_its_media_type(
    fetcher: Fetcher, site: ArticleServer, kind: str, media_type: str
) -> None:
    url = site.add_listing("news", kind, ["a", "b"])
    page = fetcher.fetch(url, kind="listing")
    assert (page.status, page.media_type, page.charset) == (200, media_type, "utf-8")
    assert len(parse_listing(page.body, url=page.url).entries) == 2
    [request] = site.listing_requests("news")
    assert request.headers["accept"].startswith("application/rss+xml,application/atom+xml")


def test_a_listing_is_no_article_page(fetcher: Fetcher, site: ArticleServer) -> None:
    """Articles are fetched as before: a feed's URL given as an article is refused."""
    url = site.add_listing("news", "rss", ["a"])
    with pytest.raises(UnsupportedContent, match=r"not an article page \(Content-Type application"):
        fetcher.fetch(url)
    assert site.requests()[-1].headers["accept"].startswith("text/html")


def test_a_listing_answers_304_to_its_validators(fetcher: Fetcher, site: ArticleServer) -> None:
    url = site.add_listing("news", "atom", ["a"])
    first = fetcher.fetch(url, kind="listing")
    again = fetcher.fetch(url, etag=first.etag, last_modified=first.last_modified, kind="listing")
    assert again.not_modified
    site.add_entries("news", ["b"])
    assert fetcher.fetch(url, etag=first.etag, kind="listing").status == 200


def test_a_gzip_sitemap_is_unpacked(fetcher: Fetcher, site: ArticleServer) -> None:
    url = site.add_listing("news", "sitemap", ["a", "b", "c"])
    plain = fetcher.fetch(url, kind="listing").body
    site.set_listing_mode("news", "gzip")
    page = fetcher.fetch(url, kind="listing")
    assert page.media_type == "application/x-gzip"
    assert page.body == plain


def test_a_gzip_sitemap_unpacking_past_the_cap_is_refused(site: ArticleServer) -> None:
    url = site.add_listing("news", "sitemap", ["a", "b", "c"])
    site.set_listing_mode("news", "gzip")
    small = Fetcher(load_settings(max_body_bytes=700))  # the packed body fits, unpacked not
    try:
        with pytest.raises(BodyTooLarge, match="unpacks to more than the 700-byte cap"):
            small.fetch(url, kind="listing")
    finally:
        small.close()


def test_broken_or_binary_bodies_are_refused(fetcher: Fetcher, site: ArticleServer) -> None:
    url = site.url("a")
    with pytest.raises(UnsupportedContent, match="a broken gzip file"):
        fetcher._gunzip(url, b"\x1f\x8b\x08\x00 definitely not deflate data")
    with pytest.raises(UnsupportedContent, match="unpacked body is binary"):
        fetcher._gunzip(url, gzip.compress(bytes(range(256))))
    site.set_mode("a", "binary", content_type="application/octet-stream")
    with pytest.raises(UnsupportedContent, match="binary, not a feed or sitemap"):
        fetcher.fetch(url, kind="listing")


def test_an_image_is_no_listing(fetcher: Fetcher, site: ArticleServer) -> None:
    with pytest.raises(UnsupportedContent, match=r"not a feed or sitemap \(Content-Type image"):
        fetcher.fetch(site.base_url + "/img/abc.jpg", kind="listing")
