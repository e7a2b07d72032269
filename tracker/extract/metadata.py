"""The article's metadata: title, byline, dates with time of day, language, canonical URL.

Read from the article's JSON-LD, then OpenGraph/article meta tags, then the document itself
(``<h1>``, ``<title>``, ``rel=author``, ``itemprop`` dates, ``<time>``), first found wins, from
the page as served (before any noise is removed). The lead image is added later
(``tracker.extract.images``). Pure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urljoin

from lxml.etree import XPath, _Element

from tracker.document import Metadata
from tracker.extract.page import PageFacts, read_facts
from tracker.normalize import normalize_text

_AUTHOR = XPath('//*[@rel="author" or contains(@class, "byline__name")]')
_ITEMPROP = XPath("//*[@itemprop=$name]")
_ARTICLE_TIME = XPath("//article//time[@datetime]")


def read_metadata(tree: _Element, url: str, facts: PageFacts | None = None) -> Metadata:
    facts = facts or read_facts(tree)
    ld, meta = facts.ld, facts.meta
    # The document is searched only when JSON-LD and meta tags say nothing (lambdas: lazily).
    return Metadata(
        title=first(text(ld.get("headline")), meta.get("og:title"), lambda: _h1(tree),
                    lambda: _title_tag(tree)),
        byline=first(_authors(ld.get("author")), meta.get("author"),
                     lambda: _byline_element(tree)),
        published=first(
            text(ld.get("datePublished")), meta.get("article:published_time"),
            lambda: _itemprop(tree, "datePublished"), lambda: _time_element(tree),
        ),
        updated=first(
            text(ld.get("dateModified")), meta.get("article:modified_time"),
            meta.get("og:updated_time"), lambda: _itemprop(tree, "dateModified"),
        ),
        language=first(
            (tree.get("lang") or "").strip() or None, text(ld.get("inLanguage")),
            meta.get("content-language"), meta.get("og:locale"),
        ),
        canonical_url=first(lambda: _canonical_link(tree, url), meta.get("og:url")),
    )


def text(value: Any) -> str | None:
    """A JSON-LD value as normalised text: the first of a list, the name of an object."""
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, dict):
        value = value.get("name") or value.get("@value")
    if isinstance(value, dict | list):
        return None
    return normalize_text(str(value)) or None if value else None


def first(*values: str | Callable[[], str | None] | None) -> str | None:
    """The first value that is set; a callable is called only when its turn comes."""
    for value in values:
        found = value() if callable(value) else value
        if found:
            return found
    return None


def _authors(value: Any) -> str | None:
    names = [name for name in _author_names(value) if name]
    return ", ".join(dict.fromkeys(names)) or None


def _author_names(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield normalize_text(value)
    elif isinstance(value, dict):
        name = value.get("name")
        yield normalize_text(name) if isinstance(name, str) else ""
    elif isinstance(value, list):
        for entry in value[:50]:
            if not isinstance(entry, list):
                yield from _author_names(entry)


def _h1(tree: _Element) -> str | None:
    heading = next(tree.iter("h1"), None)
    return normalize_text(heading.text_content()) or None if heading is not None else None


def _title_tag(tree: _Element) -> str | None:
    title = next(tree.iter("title"), None)
    return normalize_text(title.text_content()) or None if title is not None else None


def _byline_element(tree: _Element) -> str | None:
    for element in _AUTHOR(tree):
        found = normalize_text(element.text_content())
        if found:
            return found
    return None


def _itemprop(tree: _Element, name: str) -> str | None:
    for element in _ITEMPROP(tree, name=name):
        value = element.get("content") or element.get("datetime")
        if value:
            return normalize_text(value)
    return None


def _time_element(tree: _Element) -> str | None:
    element = next(iter(_ARTICLE_TIME(tree)), None)
    return normalize_text(element.get("datetime")) if element is not None else None


def _canonical_link(tree: _Element, url: str) -> str | None:
    for link in tree.iter("link"):
        href: str = (link.get("href") or "").strip()
        if "canonical" in (link.get("rel") or "").lower().split() and href:
            try:
                return urljoin(url, href)
            except ValueError:  # a hostile href such as "http://[" is no canonical URL
                return None
    return None
