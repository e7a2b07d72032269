"""Figures and the lead image: each figure's caption and credit texts, the lead photo's URL and
caption, and the image URL normalisation that makes a resized photo the same photo.

A figure's texts are its paragraphs as ``tracker.extract.structure`` cuts them: a credit
("Foto: dpa", an element marked ``credit``/``copyright``) and a caption, in document order,
also when the credit is an inline element inside the caption. The lead image is og:image, else
the article's JSON-LD image, else the first figure of the article body; its caption is the
figcaption of the figure showing it, else the JSON-LD caption, else og:image:alt. Pure.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from lxml.etree import XPath, _Element

from tracker.document import Paragraph
from tracker.extract.metadata import text
from tracker.extract.page import PageFacts, read_facts
from tracker.extract.structure import blocks

# Query parameters that only size, crop, re-encode or cache-bust an image: the same photo
# resized or re-cached is not a new photo.
IMAGE_SIZE_PARAMS = frozenset({
    "w", "h", "width", "height", "q", "quality", "fit", "crop", "auto", "fm", "format", "dpr",
    "ts", "v", "cb", "resize", "rect",
})  # fmt: skip
# WordPress-style renditions: photo-1024x683.jpg is photo.jpg resized.
_SIZE_SUFFIX = re.compile(r"-\d{2,5}x\d{2,5}(?=\.(?:jpe?g|png|webp|gif|avif)$)", re.IGNORECASE)
_IMAGE_SOURCES = ("src", "data-src", "data-original", "data-lazy-src")
_IMAGE_TAGS = ("img", "amp-img")
_ARTICLE_BODY = XPath("//*[@itemprop='articleBody']")
_ARTICLE = XPath("//article")


def figure_texts(figure: _Element) -> list[Paragraph]:
    """The figure's credit and caption paragraphs in document order."""
    return [Paragraph(block.text, block.kind) for block in blocks(figure)
            if block.kind in {"caption", "credit"}]


def normalize_image_url(source: str | None, base: str) -> str | None:
    """An absolute http(s) URL of the image without sizing or cache-busting parameters."""
    if not source or not source.strip() or source.strip().startswith("data:"):
        return None
    try:
        parts = urlsplit(urljoin(base, source.strip()))
    except ValueError:  # "http://[" and other URLs no browser would load
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    query = [
        (key, value)
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
        if key.lower() not in IMAGE_SIZE_PARAMS
    ]
    path = _SIZE_SUFFIX.sub("", parts.path)
    return urlunsplit((parts.scheme, parts.netloc.lower(), path, urlencode(query), ""))


def read_lead_image(
    tree: _Element, url: str, roots: Sequence[_Element] = (), facts: PageFacts | None = None
) -> tuple[str | None, str | None]:
    """(image URL, caption) of the article's lead photo, either None when there is none.

    The image: og:image, else the article's JSON-LD image, else the first figure of the article
    body (the selected elements, else ``itemprop=articleBody``, else ``<article>``)."""
    facts = facts or read_facts(tree)
    ld_image, ld_caption = _ld_image(facts.ld.get("image"))
    ld_url = normalize_image_url(ld_image, url)
    image = normalize_image_url(facts.meta.get("og:image"), url) or ld_url
    if image is None:
        lead = next(_body_figures(tree, roots, url), None)
        return lead if lead else (None, None)
    caption = next((_caption(figure) for src, figure in _photos(tree.iter("figure"), url)
                    if src == image and _caption(figure)), None)
    if caption is None and ld_url == image:
        caption = ld_caption
    return image, caption or facts.meta.get("og:image:alt")


def _ld_image(value: Any) -> tuple[str | None, str | None]:
    if isinstance(value, list):
        return _ld_image(value[0]) if value and not isinstance(value[0], list) else (None, None)
    if isinstance(value, str):
        return value, None
    if isinstance(value, dict):
        source = value.get("url") or value.get("contentUrl")
        return (source if isinstance(source, str) else None), text(value.get("caption"))
    return None, None


def _body_figures(
    tree: _Element, roots: Sequence[_Element], url: str
) -> Iterator[tuple[str, str | None]]:
    scope = list(roots) or _ARTICLE_BODY(tree) or _ARTICLE(tree)
    for root in scope[:1] if not roots else scope:
        yield from _figure_images(root.iter("figure"), url)


def _figure_images(figures: Iterable[_Element], url: str) -> Iterator[tuple[str, str | None]]:
    """(normalised image URL, caption) of each figure that shows an image."""
    for source, figure in _photos(figures, url):
        yield source, _caption(figure)


def _photos(figures: Iterable[_Element], url: str) -> Iterator[tuple[str, _Element]]:
    """(normalised image URL, figure) of each figure that shows an image."""
    for figure in figures:
        image = next(figure.iter(*_IMAGE_TAGS), None)
        if image is None:
            continue
        sources = (normalize_image_url(image.get(a), url) for a in _IMAGE_SOURCES)
        normalised = next((s for s in sources if s), None)
        if normalised is not None:
            yield normalised, figure


def _caption(figure: _Element) -> str | None:
    return " ".join(p.text for p in figure_texts(figure) if p.kind == "caption") or None
