"""A fetched page made safe to parse, parsed once, and what it says about itself, read once.

``clean_text`` removes what no page may carry into the parser: C0 and C1 control characters
(a single ``\\x0b`` or ``\\x1b`` made trafilatura find no text at all) and lone surrogates
(lxml stops parsing at one). Vertical tab and form feed become spaces, the rest go.
``parse`` builds the lxml tree; libxml2 caps nesting depth, so a page of 100,000 nested
elements is parsed in bounded time and memory, and a page of more than ``MAX_ELEMENTS``
elements is refused, which bounds the time of everything after.

``read_facts`` reads the page's JSON-LD and meta tags once into ``PageFacts``: the article's
JSON-LD object (the first NewsArticle, BlogPosting, … with a headline), its ``articleBody``,
whether it is a live blog, and the meta tags by name. Metadata, the lead image and the choice
of the article body all read this one value. JSON-LD that is no valid JSON, or of an
unexpected shape, counts as absent.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from lxml import html as lxml_html
from lxml.etree import ElementDefaultClassLookup, HTMLParser, ParserError, XPath, _Element

from tracker.errors import ExtractionError
from tracker.normalize import normalize_text

_XML_DECL = re.compile(r"^\s*<\?xml[^>]*\?>")
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff]")
_SPACE_CONTROL = re.compile(r"[\x0b\x0c]")
_ARTICLE_TYPES = frozenset({
    "newsarticle", "article", "reportagenewsarticle", "blogposting", "analysisnewsarticle",
    "liveblogposting", "webpage", "opinionnewsarticle", "backgroundnewsarticle",
    "reviewnewsarticle", "report", "socialmediaposting",
})  # fmt: skip
# A page with more elements than this (inline SVG and MathML not counted: they are emptied) is
# refused: extraction time grows faster than the page (trafilatura takes seconds at this size),
# and no article needs so many; a hostile page could otherwise hold a worker for minutes. Deep
# nesting is bounded by libxml2 (256 levels).
MAX_ELEMENTS = 25_000
_COUNT_ELEMENTS = XPath("count(//*)")
# JSON-LD scripts larger than this are not read: no article's metadata needs it, and a
# hostile page could make json.loads build a huge structure.
MAX_JSON_LD_CHARS = 2_000_000


def clean_text(text: str) -> str:
    """The text without control characters and lone surrogates."""
    text = _SPACE_CONTROL.sub(" ", text)
    return _CONTROL.sub("", text)


# lxml.html's parser, but every element an ``HtmlElement``: its class lookup is a Python call
# for every element object lxml makes (~300 a page, each walk of the tree again), to give
# <form>, <input>, <select>, <textarea> and <label> classes of their own whose form methods
# extraction never calls.
_PARSER = HTMLParser()
_PARSER.set_element_class_lookup(ElementDefaultClassLookup(
    element=lxml_html.HtmlElement, comment=lxml_html.HtmlComment,
    pi=lxml_html.HtmlProcessingInstruction, entity=lxml_html.HtmlEntity))


def parse(text: str, url: str) -> _Element:
    """The page's tree; ExtractionError for an empty or unparseable page."""
    text = clean_text(_XML_DECL.sub("", text, count=1))
    if not text.strip():
        raise ExtractionError(f"{url}: the page is empty")
    try:
        tree = lxml_html.document_fromstring(text, parser=_PARSER)
    except (ParserError, ValueError) as exc:
        raise ExtractionError(f"{url}: the page is not parseable HTML ({exc})") from exc
    # Drawings hold no words, and a chart or map drawn inline can be thousands of elements:
    # emptied (an empty <svg> still tells that a figure shows a picture).
    for drawing in list(tree.iter("svg", "math")):
        drawing.clear(keep_tail=True)
    elements = int(_COUNT_ELEMENTS(tree))
    if elements > MAX_ELEMENTS:
        raise ExtractionError(
            f"{url}: the page has {elements:,} elements, more than an article page needs "
            f"(at most {MAX_ELEMENTS:,} are extracted)"
        )
    return tree


@dataclass(frozen=True, slots=True)
class PageFacts:
    """What the page declares about its article, read once."""

    ld: dict[str, Any] = field(default_factory=dict)  # the article's JSON-LD object
    meta: dict[str, str] = field(default_factory=dict)  # meta tags by lower-case name
    live: bool = False  # a LiveBlogPosting

    @property
    def article_body(self) -> str | None:
        """The JSON-LD ``articleBody``, normalised; None when there is none."""
        body = self.ld.get("articleBody")
        if isinstance(body, list):
            body = " ".join(b for b in body if isinstance(b, str))
        return normalize_text(body) or None if isinstance(body, str) else None


def read_facts(tree: _Element) -> PageFacts:
    items = list(_json_ld_items(tree))
    article = next((item for item in items if _is_article(item) and item.get("headline")), {})
    live = any("liveblogposting" in _types(item) for item in items)
    return PageFacts(article, _meta_tags(tree), live)


def _json_ld_items(tree: _Element) -> Iterator[dict[str, Any]]:
    for script in tree.iter("script"):
        if (script.get("type") or "").strip().lower() != "application/ld+json":
            continue
        text = script.text
        if not text or len(text) > MAX_JSON_LD_CHARS:
            continue
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            continue
        yield from _ld_items(data)


def _ld_items(data: Any, depth: int = 0) -> Iterator[dict[str, Any]]:
    if depth > 4:  # articles sit at the top, in a list or in an @graph; nothing deeper
        return
    if isinstance(data, list):
        for entry in data:
            yield from _ld_items(entry, depth + 1)
    elif isinstance(data, dict):
        yield data
        yield from _ld_items(data.get("@graph", []), depth + 1)


def _types(item: dict[str, Any]) -> set[str]:
    types = item.get("@type")
    if isinstance(types, str):
        return {types.lower()}
    if isinstance(types, list):
        return {t.lower() for t in types if isinstance(t, str)}
    return set()


def _is_article(item: dict[str, Any]) -> bool:
    return bool(_types(item) & _ARTICLE_TYPES)


def _meta_tags(tree: _Element) -> dict[str, str]:
    found: dict[str, str] = {}
    for meta in tree.iter("meta"):
        key = (meta.get("property") or meta.get("name") or meta.get("http-equiv") or "").lower()
        content = normalize_text(meta.get("content") or "")
        if key and content:
            found.setdefault(key, content)
    return found
