"""Reading listings (tracker.feeds): RSS, Atom, news sitemaps, sitemap indexes, and everything
that is none of these, from junk to hostile XML. Pure unit tests: bytes in, a Listing out."""

from __future__ import annotations

import datetime as dt

import pytest

from tracker.errors import NotAFeed
from tracker.feeds import Entry, feed_links, parse_listing, root_element

BASE = "https://news.example/feeds/world"
UTC = dt.UTC

RSS = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Welt</title><link>https://news.example/</link>
<item><title>Putin trifft Kim</title><link>https://news.example/news/putin-kim</link>
<description>&lt;p&gt;Der russische Pr\xc3\xa4sident
 &lt;b&gt;reist&lt;/b&gt; nach Pj\xc3\xb6ngjang.&lt;/p&gt;</description>
<pubDate>Wed, 19 Jun 2024 06:30:00 +0200</pubDate></item>
<item><title>Relativer Link</title><link>/news/relativ</link></item>
<item><title>Nur eine guid</title><guid isPermaLink="true">https://news.example/news/guid</guid></item>
<item><title>Doppelt</title><link>https://news.example/news/putin-kim</link></item>
<item><title>Kein Artikel</title><link>mailto:redaktion@news.example</link></item>
<item><title>Ganz ohne Link</title></item>
</channel></rss>"""

ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Welt</title><id>urn:x</id>
<updated>2024-06-19T10:00:00Z</updated>
<entry><title type="html">Gipfel in &lt;i&gt;Pj\xc3\xb6ngjang&lt;/i&gt;</title>
<link rel="alternate" type="text/html" href="https://news.example/news/gipfel"/>
<id>tag:news.example,2024:1</id><updated>2024-06-19T12:00:00+02:00</updated>
<summary>Beistandspakt unterzeichnet</summary></entry>
<entry><title>Id ist die URL</title><id>https://news.example/news/id-url</id>
<updated>2024-06-19T11:00:00Z</updated></entry>
</feed>"""

RDF = b"""<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/">
<channel rdf:about="https://news.example/"><title>Welt</title><link>https://news.example/</link></channel>
<item rdf:about="https://news.example/news/rdf"><title>RSS 1.0</title>
<link>https://news.example/news/rdf</link></item>
</rdf:RDF>"""

NEWS_SITEMAP = b"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"
        xmlns:news="http://www.google.com/schemas/sitemap-news/0.9"
        xmlns:image="http://www.google.com/schemas/sitemap-image/1.1">
<url><loc>https://news.example/news/a</loc>
  <image:image><image:loc>https://news.example/img/a.jpg</image:loc></image:image>
  <news:news><news:publication><news:name>News</news:name><news:language>de</news:language>
  </news:publication><news:publication_date>2024-06-19T06:30:00+02:00</news:publication_date>
  <news:title>Putin in Pj\xc3\xb6ngjang</news:title>
  <news:keywords>Russland, Nordkorea</news:keywords>
  </news:news></url>
<url><loc> https://news.example/news/b </loc><lastmod>2024-06-18</lastmod></url>
<url><loc>https://news.example/news/a</loc></url>
<url><loc>ftp://news.example/news/c</loc></url>
<url><lastmod>2024-06-18</lastmod></url>
</urlset>"""

INDEX = b"""<?xml version="1.0" encoding="UTF-8"?>
<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
<sitemap><loc>https://news.example/sitemaps/news.xml</loc><lastmod>2024-06-19</lastmod></sitemap>
<sitemap><loc>/sitemaps/archive-2024-06.xml.gz</loc></sitemap>
<sitemap><loc>https://news.example/sitemaps/news.xml</loc></sitemap>
</sitemapindex>"""

LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
"""


def urls(entries: tuple[Entry, ...]) -> list[str]:
    return [entry.url for entry in entries]


# --- feeds ----------------------------------------------------------------------------------


def test_rss_entries_have_absolute_urls_plain_text_and_utc_times() -> None:
    listing = parse_listing(RSS, url=BASE)
    assert listing.kind == "feed"
    assert listing.title == "Welt"
    assert urls(listing.entries) == [
        "https://news.example/news/putin-kim",
        "https://news.example/news/relativ",  # resolved against the feed's URL
        "https://news.example/news/guid",  # a permalink guid stands in for a missing link
    ]  # the duplicate, the mailto: link and the entry without any link are not entries
    first = listing.entries[0]
    assert first.title == "Putin trifft Kim"
    assert first.summary == "Der russische Präsident reist nach Pjöngjang."
    assert first.published == dt.datetime(2024, 6, 19, 4, 30, tzinfo=UTC)
    assert listing.entries[1].published is None


def test_atom_entries_use_the_alternate_link_or_an_id_that_is_a_url() -> None:
    listing = parse_listing(ATOM, url=BASE)
    assert listing.kind == "feed"
    assert urls(listing.entries) == ["https://news.example/news/gipfel",
                                     "https://news.example/news/id-url"]
    first = listing.entries[0]
    assert first.title == "Gipfel in Pjöngjang"
    assert first.summary == "Beistandspakt unterzeichnet"
    assert first.published == dt.datetime(2024, 6, 19, 10, 0, tzinfo=UTC)


def test_rss_1_0_is_a_feed_too() -> None:
    listing = parse_listing(RDF, url=BASE)
    assert (listing.kind, urls(listing.entries)) == ("feed", ["https://news.example/news/rdf"])


def test_a_malformed_feed_is_still_read() -> None:
    """Real feeds carry unescaped ampersands and undeclared entities; feedparser copes."""
    body = (b'<rss version="2.0"><channel><title>Politik & Wirtschaft</title>'
            b"<item><title>Zinsen &uuml;ber 4 % & mehr</title>"
            b"<link>https://news.example/news/zinsen?a=1&b=2</link></item></channel></rss>")
    listing = parse_listing(body, url=BASE)
    assert urls(listing.entries) == ["https://news.example/news/zinsen?a=1&b=2"]
    assert listing.entries[0].title is not None
    assert "Zinsen" in listing.entries[0].title


def test_the_charset_of_the_http_header_is_used_when_the_feed_declares_none() -> None:
    body = ("<rss version=\"2.0\"><channel><item><title>Gr\u00fc\u00dfe aus K\u00f6ln</title>"
            "<link>https://news.example/news/koeln</link></item></channel></rss>").encode("cp1252")
    listing = parse_listing(body, url=BASE, charset="windows-1252")
    assert listing.entries[0].title == "Grüße aus Köln"


def test_max_entries_keeps_the_first_and_says_so() -> None:
    items = b"".join(b"<item><link>https://news.example/news/%d</link></item>" % i
                     for i in range(10))
    listing = parse_listing(b'<rss version="2.0"><channel>' + items + b"</channel></rss>",
                            url=BASE, max_entries=4)
    assert urls(listing.entries) == [f"https://news.example/news/{i}" for i in range(4)]
    assert listing.truncated
    assert not parse_listing(RSS, url=BASE, max_entries=3).truncated


def test_a_long_title_is_cut() -> None:
    body = (b'<rss version="2.0"><channel><item><title>' + b"Wort " * 100_000 +
            b"</title><link>https://news.example/news/lang</link></item></channel></rss>")
    [entry] = parse_listing(body, url=BASE).entries
    assert entry.title is not None
    assert 1000 <= len(entry.title) <= 2000


# --- sitemaps -------------------------------------------------------------------------------


def test_news_sitemap_entries_take_title_keywords_and_publication_date() -> None:
    listing = parse_listing(NEWS_SITEMAP, url="https://news.example/sitemaps/news.xml")
    assert listing.kind == "sitemap"
    # the image's <image:loc> is no entry; the repeated, the ftp:// and the empty one neither
    assert urls(listing.entries) == ["https://news.example/news/a", "https://news.example/news/b"]
    first, second = listing.entries
    assert first.title == "Putin in Pjöngjang"
    assert first.summary == "Russland, Nordkorea"
    assert first.published == dt.datetime(2024, 6, 19, 4, 30, tzinfo=UTC)
    assert (second.title, second.summary) == (None, None)
    assert second.published == dt.datetime(2024, 6, 18, tzinfo=UTC)  # plain <lastmod>


def test_sitemap_index_lists_its_child_sitemaps() -> None:
    listing = parse_listing(INDEX, url="https://news.example/sitemap.xml")
    assert listing.kind == "sitemapindex"
    assert listing.entries == ()
    assert listing.sitemaps == ("https://news.example/sitemaps/news.xml",
                                "https://news.example/sitemaps/archive-2024-06.xml.gz")
    assert parse_listing(INDEX, url=BASE, max_entries=1).sitemaps == (
        "https://news.example/sitemaps/news.xml",
    )


def test_a_sitemap_without_namespace_is_read() -> None:
    body = b"<urlset><url><loc>https://news.example/news/x</loc></url></urlset>"
    assert urls(parse_listing(body, url=BASE).entries) == ["https://news.example/news/x"]


def test_a_long_sitemap_stops_at_max_entries() -> None:
    rows = b"".join(b"<url><loc>https://news.example/news/%d</loc></url>\n" % i
                    for i in range(50_000))
    body = b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">' + rows + b"</urlset>"
    listing = parse_listing(body, url=BASE, max_entries=5000)
    assert len(listing.entries) == 5000
    assert listing.entries[-1].url == "https://news.example/news/4999"
    assert listing.truncated


def test_a_sitemap_that_is_not_well_formed_says_so() -> None:
    body = b"<urlset><url><loc>https://news.example/news/x</loc></url><url><loc>"
    with pytest.raises(NotAFeed, match="sitemap that is not well-formed XML"):
        parse_listing(body, url=BASE)


# --- what is no listing ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "the body is empty"),
        (b"  \n\t ", "the body is empty"),
        (b"\x89PNG\r\n\x1a\n not really", "not an RSS or Atom feed or a sitemap"),
        (b'{"version": "https://jsonfeed.org/version/1.1", "items": []}',
         "not an RSS or Atom feed or a sitemap"),
        (b"Just some text, one line.\nAnd another.", "not an RSS or Atom feed or a sitemap"),
        (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>',
         "an XML document with root element <svg>"),
    ],
)
def test_junk_is_refused_with_a_clear_message(body: bytes, message: str) -> None:
    with pytest.raises(NotAFeed, match=message) as caught:
        parse_listing(body, url=BASE)
    assert str(caught.value).startswith(f"{BASE}: ")


def test_an_html_page_names_the_feed_it_links() -> None:
    page = b"""<!DOCTYPE html><html><head><title>Welt</title>
    <link rel="stylesheet" href="/main.css">
    <link rel="alternate" type="application/rss+xml" title="Welt" href="/feeds/world.rss">
    <link rel="Alternate" type="application/atom+xml" href="https://news.example/world.atom">
    </head><body><p>Nachrichten<p>ohne Ende</body></html>"""
    with pytest.raises(NotAFeed) as caught:
        parse_listing(page, url="https://news.example/world/")
    error = caught.value
    assert error.feeds == ("https://news.example/feeds/world.rss",
                           "https://news.example/world.atom")
    assert "an HTML page, not a feed or sitemap" in str(error)
    assert "https://news.example/feeds/world.rss" in str(error)
    assert "add that URL as the source instead" in str(error)


@pytest.mark.parametrize(
    "page",
    [
        b"<!doctype html><html><head><title>x</title></head><body>Hallo</body></html>",
        b'<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"><body/></html>',
        b"<!-- cms --><HTML><BODY>kaputt<p>ohne Ende",
    ],
)
def test_an_html_page_without_feed_links_says_it_has_none(page: bytes) -> None:
    with pytest.raises(NotAFeed, match=r"an HTML page, not a feed or sitemap \(and it links no"):
        parse_listing(page, url=BASE)


def test_feed_links_resolve_and_skip_other_links() -> None:
    page = (b'<html><head><link rel="alternate" hreflang="en" href="/en/">'
            b'<link rel="alternate" type="application/rss+xml; charset=utf-8" href="rss">'
            b'<link rel="alternate" type="application/rss+xml" href="rss"></head></html>')
    assert feed_links(page, "https://news.example/world/") == ("https://news.example/world/rss",)


# --- hostile XML ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "document",
    [
        b'<rss version="2.0"><channel><item><title>&lol9;</title>'
        b"<link>https://news.example/news/a</link></item></channel></rss>",
        b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        b"<url><loc>https://news.example/news/&lol9;</loc></url></urlset>",
    ],
    ids=["feed", "sitemap"],
)
def test_entity_expansion_is_refused(document: bytes) -> None:
    """A billion laughs: a gigabyte of "lol" if expanded. libxml2 refuses the amplification
    before feedparser or the sitemap reader sees a single entity."""
    with pytest.raises(NotAFeed, match=r"refused: .*amplification"):
        parse_listing(LAUGHS + document, url=BASE)


@pytest.mark.parametrize("root", [b'<rss version="2.0"><channel>', b"<urlset>"])
def test_external_entities_are_not_read(root: bytes, tmp_path) -> None:  # type: ignore[no-untyped-def]
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    doctype = f'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "{secret.as_uri()}">]>'
    closing = b"</channel></rss>" if root.startswith(b"<rss") else b"</urlset>"
    body = (doctype.encode() + root + b"<item><title>&xxe;</title><link>https://news.example/"
            b"news/a</link></item><url><loc>https://news.example/news/&xxe;</loc></url>" + closing)
    listing = parse_listing(body, url=BASE)
    assert len(listing.entries) == 1
    assert all("TOP-SECRET" not in f"{e.url}{e.title}{e.summary}" for e in listing.entries)


@pytest.mark.parametrize("root", [b'<rss version="2.0"><channel>', b"<urlset>"])
def test_a_document_nested_a_hundred_thousand_deep_is_refused(root: bytes) -> None:
    body = root + b"<a>" * 100_000 + b"</a>" * 100_000
    with pytest.raises(NotAFeed, match="refused: the document exceeds the XML parser's safety"):
        parse_listing(body, url=BASE)


def test_root_element_reads_only_the_start() -> None:
    assert root_element(b'<?xml version="1.0"?>\n<!-- x --><rss version="2.0"><channel>') == "rss"
    assert root_element(b"<Feed xmlns='http://www.w3.org/2005/Atom'>") == "feed"
    assert root_element(b"no xml at all") is None
