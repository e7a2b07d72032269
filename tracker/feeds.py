"""Reading what a source lists: RSS and Atom feeds, news sitemaps and sitemap indexes.

``parse_listing(body, url=...)`` turns a fetched body into a ``Listing``: its kind, its entries
(URL, title, summary, publication time) and, for a sitemap index, the URLs of its child
sitemaps. A body that is none of these raises ``tracker.errors.NotAFeed`` with a message that
says what it is instead; an HTML page given as a source names the feed it links to, if any.

Feeds are read by feedparser, which copes with the malformed feeds real sites publish. Sitemaps
are read by lxml incrementally (one ``<url>`` at a time, so a large sitemap does not become a
large tree). Neither resolves external entities or touches the network; feedparser strips
entity declarations that expand to other entities, lxml expands none, and libxml2 refuses
very deep trees and very long texts.

Pure: no database, no network, no clock.
"""

from __future__ import annotations

import datetime as dt
import html
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

from lxml import etree

from tracker.errors import NotAFeed

# Root elements of the feed formats feedparser reads (RSS 0.9x/2.0, RSS 1.0 as RDF, Atom).
FEED_ROOTS = frozenset({"rss", "feed", "rdf", "channel"})
FEED_TYPES = frozenset({"application/rss+xml", "application/atom+xml", "application/rdf+xml",
                        "application/feed+json"})
# Titles and summaries are kept to this many characters: enough to recognise a story and to
# match keywords, and a hostile feed's megabyte "title" does not travel into events.
MAX_TEXT = 2000
_WHITESPACE = re.compile(r"\s+")
_TAG = re.compile(r"<[^>]*>")
_HTML_START = re.compile(rb"^\s*(<!--.*?-->\s*)*<(!doctype\s+html|html|head|body)[\s>]",
                         re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True, slots=True)
class Entry:
    """One item a source lists: an article URL, with what the listing says about it."""

    url: str
    title: str | None = None
    summary: str | None = None  # plain text: a feed's description, a news sitemap's keywords
    published: dt.datetime | None = None  # UTC


@dataclass(frozen=True, slots=True)
class Listing:
    kind: str  # "feed" | "sitemap" | "sitemapindex"
    entries: tuple[Entry, ...] = ()
    sitemaps: tuple[str, ...] = ()  # the child sitemaps of a sitemap index
    title: str | None = None  # a feed's own title
    truncated: bool = False  # it listed more than ``max_entries``; the first ones were kept


def parse_listing(
    body: bytes, *, url: str, charset: str | None = None, max_entries: int | None = None
) -> Listing:
    """The listing in ``body``, fetched from ``url`` (relative links resolve against it).

    ``charset`` is the one the HTTP header named, if any; ``max_entries`` keeps only the first
    entries (or child sitemaps). Raises ``NotAFeed`` for anything that is no feed or sitemap."""
    if not body.strip():
        raise NotAFeed(url, "the body is empty, not a feed or sitemap")
    root = root_element(body)
    if root == "urlset":
        return _sitemap(body, url, max_entries)
    if root == "sitemapindex":
        return _sitemap_index(body, url, max_entries)
    if root == "html" or (root is None and _HTML_START.match(body[:4096])):
        raise _html_page(body, url)
    if root is not None and root not in FEED_ROOTS:
        raise NotAFeed(url, f"an XML document with root element <{root}>, not an RSS or Atom "
                            "feed or a sitemap")
    _refuse_hostile(body, url)
    return _feed(body, url, charset, max_entries)


def root_element(body: bytes) -> str | None:
    """The local name of the document's root element (lower case), or None when the body does
    not start as well-formed XML. Reads no further than the root's start tag."""
    try:
        for _, element in _events(body, ("start",)):
            return str(etree.QName(element).localname).lower()
    except etree.XMLSyntaxError:
        return None
    return None


def feed_links(body: bytes, url: str) -> tuple[str, ...]:
    """The feeds an HTML page names with ``<link rel="alternate" type="application/rss+xml">``
    (or Atom), as absolute URLs in page order."""
    from lxml import html as lxml_html

    try:
        document = lxml_html.document_fromstring(body)
    except (etree.ParserError, ValueError):
        return ()
    found: list[str] = []
    for link in document.iter("link"):
        rel = (link.get("rel") or "").lower().split()
        kind = (link.get("type") or "").split(";")[0].strip().lower()
        href = (link.get("href") or "").strip()
        if "alternate" in rel and kind in FEED_TYPES and href:
            absolute = urljoin(url, href)
            if absolute not in found:
                found.append(absolute)
    return tuple(found)


# --- feeds ----------------------------------------------------------------------------------


class _NoTree:
    """A parser target without callbacks: libxml2 checks the document and builds nothing."""

    def close(self) -> None:
        return None


def _refuse_hostile(body: bytes, url: str) -> None:
    """Refuse a document that trips libxml2's safety limits (entity amplification, nesting
    deeper than 256) before feedparser's pure-Python fallback spends seconds on it. Plain
    syntax errors pass: feedparser reads many malformed feeds well."""
    parser = etree.XMLParser(target=_NoTree(), resolve_entities=False, load_dtd=False,
                             no_network=True, huge_tree=False)
    try:
        etree.fromstring(body, parser)
    except etree.XMLSyntaxError as exc:
        if exc.code == etree.ErrorTypes.ERR_RESOURCE_LIMIT:
            raise _too_hostile(url, exc) from exc


def _feed(body: bytes, url: str, charset: str | None, max_entries: int | None) -> Listing:
    import feedparser

    headers = {"content-location": url}
    if charset:
        headers["content-type"] = f"application/xml; charset={charset}"
    # A BytesIO, never the bytes themselves: feedparser.parse() takes a bare string for a
    # file name or URL to open.
    try:
        parsed: Any = feedparser.parse(
            io.BytesIO(body), response_headers=headers, sanitize_html=False,
            resolve_relative_uris=False,
        )
    except Exception as exc:  # a third-party parser on hostile input: say so, never crash
        raise NotAFeed(url, f"the feed could not be read ({type(exc).__name__}: "
                            f"{_first_line(exc)})") from exc
    if not parsed.get("version") and not parsed.entries:
        problem = parsed.get("bozo_exception")
        detail = f" ({_first_line(problem)})" if problem else ""
        raise NotAFeed(url, f"not an RSS or Atom feed or a sitemap{detail}")
    entries = []
    for item in parsed.entries:
        link = _entry_link(item, url)
        if link is None:
            continue
        entries.append(Entry(
            url=link, title=_clean(item.get("title")), summary=_clean(item.get("summary")),
            published=_struct_time(item.get("published_parsed") or item.get("updated_parsed")),
        ))
    kept, truncated = _cap(_unique(entries), max_entries)
    return Listing("feed", tuple(kept), title=_clean(parsed.feed.get("title")),
                   truncated=truncated)


def _entry_link(item: Any, base: str) -> str | None:
    """The entry's article URL: its link, else an id that is a URL (Atom ids often are)."""
    for candidate in (item.get("link"), item.get("id")):
        if isinstance(candidate, str) and candidate.strip():
            absolute = _absolute(candidate, base)
            if absolute:
                return absolute
    return None


def _struct_time(value: Any) -> dt.datetime | None:
    if not value:
        return None
    try:
        year, month, day, hour, minute, second = (int(v) for v in value[:6])
        return dt.datetime(year, month, day, hour, minute, second, tzinfo=dt.UTC)
    except (TypeError, ValueError):
        return None


# --- sitemaps -------------------------------------------------------------------------------


def _sitemap(body: bytes, url: str, max_entries: int | None) -> Listing:
    entries: list[Entry] = []
    seen: set[str] = set()
    truncated = False
    for element in _top_level(body, url, "url"):
        loc = _absolute(_child_text(element, "loc"), url)
        if not loc or loc in seen:
            continue
        if max_entries is not None and len(entries) >= max_entries:
            truncated = True
            break
        seen.add(loc)
        news = _child(element, "news")
        title = keywords = published = None
        if news is not None:
            title = _clean(_child_text(news, "title"))
            keywords = _clean(_child_text(news, "keywords"))
            published = _w3c_time(_child_text(news, "publication_date"))
        entries.append(Entry(loc, title, keywords,
                             published or _w3c_time(_child_text(element, "lastmod"))))
    return Listing("sitemap", tuple(entries), truncated=truncated)


def _sitemap_index(body: bytes, url: str, max_entries: int | None) -> Listing:
    locations = [_absolute(_child_text(e, "loc"), url) for e in _top_level(body, url, "sitemap")]
    kept, truncated = _cap(list(dict.fromkeys(loc for loc in locations if loc)), max_entries)
    return Listing("sitemapindex", sitemaps=tuple(kept), truncated=truncated)


def _top_level(body: bytes, url: str, name: str) -> Iterator[Any]:
    """The root's children called ``name``, one at a time; each is dropped from the tree once
    the caller has it, so memory stays flat however long the sitemap is."""
    root = None
    try:
        for event, element in _events(body, ("start", "end")):
            if root is None:
                root = element
                continue
            if event != "end" or element.getparent() is not root:
                continue
            if isinstance(element.tag, str) and etree.QName(element).localname == name:
                yield element
            element.clear(keep_tail=False)
            while element.getprevious() is not None:
                del root[0]
    except etree.XMLSyntaxError as exc:
        if exc.code == etree.ErrorTypes.ERR_RESOURCE_LIMIT:
            raise _too_hostile(url, exc) from exc
        raise NotAFeed(url, f"a sitemap that is not well-formed XML ({_first_line(exc)})") from exc


def _events(body: bytes, events: tuple[str, ...]) -> Any:
    # No DTD, no entity expansion, no network: a hostile document gets nothing resolved.
    return etree.iterparse(
        io.BytesIO(body), events=events, resolve_entities=False, load_dtd=False,
        no_network=True, huge_tree=False, remove_comments=True, remove_pis=True,
    )


def _child(element: Any, name: str) -> Any:
    for child in element:
        if isinstance(child.tag, str) and etree.QName(child).localname == name:
            return child
    return None


def _child_text(element: Any, name: str) -> str | None:
    child = _child(element, name)
    return child.text if child is not None else None


def _w3c_time(value: str | None) -> dt.datetime | None:
    """A sitemap date (W3C datetime: 2024-06-19, 2024-06-19T06:30:00+02:00 …) in UTC."""
    if not value:
        return None
    try:
        moment = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


# --- shared ---------------------------------------------------------------------------------


def _html_page(body: bytes, url: str) -> NotAFeed:
    feeds = feed_links(body, url)
    if feeds:
        named = feeds[0] if len(feeds) == 1 else ", ".join(feeds[:3])
        return NotAFeed(url, f"an HTML page, not a feed or sitemap; it names its feed(s): "
                             f"{named} (add that URL as the source instead)", feeds=feeds)
    return NotAFeed(url, "an HTML page, not a feed or sitemap (and it links no feed with "
                         '<link rel="alternate" type="application/rss+xml">)')


def _too_hostile(url: str, error: etree.XMLSyntaxError) -> NotAFeed:
    # libxml2's own text ends in advice for C programmers ("use XML_PARSE_HUGE option"): cut.
    reason = re.split(r",? (?:use|see) ", str(error.msg))[0].rstrip(" .,")
    return NotAFeed(url, f"refused: the document exceeds the XML parser's safety limits "
                         f"({reason})")


def _absolute(link: str | None, base: str) -> str | None:
    """``link`` resolved against ``base``, if it is an http(s) URL then."""
    if not link or not link.strip():
        return None
    absolute = urljoin(base, link.strip())
    return absolute if urlsplit(absolute).scheme in {"http", "https"} else None


def _clean(text: Any) -> str | None:
    """Plain text on one line: markup dropped, entities decoded, whitespace collapsed, at most
    ``MAX_TEXT`` characters."""
    if not isinstance(text, str):
        return None
    text = text[: 8 * MAX_TEXT]
    if "<" in text:
        text = _TAG.sub(" ", text)
    text = _WHITESPACE.sub(" ", html.unescape(text)).strip()
    return text[:MAX_TEXT] or None


def _unique(entries: list[Entry]) -> list[Entry]:
    seen: dict[str, Entry] = {}
    for entry in entries:
        seen.setdefault(entry.url, entry)
    return list(seen.values())


def _cap(items: list[Any], limit: int | None) -> tuple[list[Any], bool]:
    if limit is None or len(items) <= limit:
        return items, False
    return items[:limit], True


def _first_line(error: object) -> str:
    return str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
