"""From a page to an ``Article``: paragraphs in reading order, figure captions and photo credits
where they stand, and the metadata (title, byline, dates with time of day, language, canonical
URL).

The main text comes from trafilatura, which scores best among open extractors in published
benchmarks but drops figures. Before handing it the parsed tree (which it modifies) we note each
``<figure>``: its image and the caption and credit texts in document order. trafilatura keeps an
image it considers part of the article as a ``<graphic>``, so where one appears in its output we
put that figure's texts back; figures it left out (teasers, sidebars) stay out. A CSS selector
(per article or per host) replaces trafilatura where it fails: then every block of text inside
the selected elements is a paragraph, figures give their credit and caption as above, and
asides, navigation, forms and scripts inside the selection are left out.

Metadata is read from JSON-LD, OpenGraph/article meta tags and the document, in that order.
Nothing here touches the network or the database.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import urljoin

from lxml import html as lxml_html
from lxml.etree import ParserError, _Element

from tracker.charset import decode
from tracker.document import Article, Metadata, Paragraph
from tracker.errors import ExtractionError
from tracker.normalize import normalize_text, split_lines

FIGURES_VERSION = "1"  # bump when figure/metadata handling changes: forces a re-baseline
_XML_DECL = re.compile(r"^\s*<\?xml[^>]*\?>")
_ARTICLE_TYPES = {"newsarticle", "article", "reportagenewsarticle", "blogposting",
                  "analysisnewsarticle", "liveblogposting", "webpage"}
_CREDIT_HINT = re.compile(r"credit|copyright|source|photographer|byline", re.IGNORECASE)
_BLOCKS = ("p", "h1", "h2", "h3", "h4", "h5", "h6", "li", "blockquote", "figcaption", "pre")
# Inside a selected element these are never article text: related links, share bars, forms.
_SELECTED_NOISE = ("script", "style", "noscript", "template", "aside", "nav", "form")
_OUTPUT_KINDS = {"p": "text", "head": "heading", "item": "item", "quote": "quote",
                 "code": "text", "cell": "text"}
# A page whose extracted text is smaller than this is treated as "no article" (consent walls,
# error pages): recording it would report every paragraph deleted.
MIN_ARTICLE_CHARS = 200
# Short pages whose text or headline speaks of cookies, consent or errors are interstitials, not
# articles. Real articles mentioning these words are longer than INTERSTITIAL_MAX_CHARS. Words
# must start at a word boundary ("Terror" is no "error") and two different ones must occur: the
# first short version of a developing story may well say "Terror" or "Zustimmung" twice.
INTERSTITIAL_MAX_CHARS = 1500
_INTERSTITIAL = re.compile(
    r"\b(?:cookie|consent|einwillig|zustimm|datenschutz|privacy|privatsph|accept all|akzeptieren"
    r"|page not found|seite nicht gefunden|nicht gefunden|not found|404\b|fehler|error"
    r"|subscribe to continue|jetzt abonnieren|paywall|are you a robot|captcha)",
    re.IGNORECASE,
)
# Not just "nicht gefunden": "Vermisster Wanderer nicht gefunden" is a headline.
_ERROR_TITLE = re.compile(
    r"\b(?:page|seite|artikel|article)\s+(?:not found|nicht gefunden)|\b(?:404|410)\b",
    re.IGNORECASE,
)


def extractor_name(selector: str | None = None, *, fast: bool = False) -> str:
    import trafilatura

    name = f"trafilatura {trafilatura.__version__}; figures {FIGURES_VERSION}"
    if selector:
        return f"{name}; selector {selector}"
    return f"{name}; fast" if fast else name


def extract_page(
    body: bytes, *, url: str, media_type: str = "text/html", charset: str | None = None,
    selector: str | None = None, fast: bool = False,
) -> Article:
    """The article in a fetched body; ExtractionError when there is none.

    ``fast`` skips trafilatura's fallback extractors (readability, jusText), which it runs to
    second-guess its own result: a quarter of its time, and no difference on article pages
    with proper markup (see docs/benchmarks.md); pages it gets wrong take a --selector."""
    text = decode(body, charset)
    if media_type == "text/plain":
        return extract_plain_text(text)
    return extract_html(text, url=url, selector=selector, fast=fast)


def extract_plain_text(text: str) -> Article:
    """Paragraphs of a plain-text page: blocks between blank lines, else one per line."""
    blocks = re.split(r"\n\s*\n", text.replace("\r\n", "\n"))
    paragraphs = split_lines(text) if len(blocks) == 1 else [normalize_text(b) for b in blocks]
    article = Article(tuple(Paragraph(p) for p in paragraphs if p), Metadata(), "plain text")
    _require_text(article)
    return article


def extract_html(
    text: str, *, url: str, selector: str | None = None, fast: bool = False
) -> Article:
    tree = _parse(text, url)
    metadata = read_metadata(tree, url)
    if selector:
        paragraphs = list(_select_paragraphs(tree, selector, url))
    else:
        paragraphs = _trafilatura_paragraphs(tree, url, fast=fast)
    paragraphs = _drop_title_line(paragraphs, metadata.title)
    article = Article(tuple(paragraphs), metadata, extractor_name(selector, fast=fast))
    _require_text(article)
    _refuse_interstitial(article)
    return article


def _parse(text: str, url: str) -> _Element:
    text = _XML_DECL.sub("", text, count=1)
    if not text.strip():
        raise ExtractionError(f"{url}: the page is empty")
    try:
        return lxml_html.document_fromstring(text)
    except (ParserError, ValueError) as exc:
        raise ExtractionError(f"{url}: the page is not parseable HTML ({exc})") from exc


def _require_text(article: Article) -> None:
    chars = sum(len(p.text) for p in article.paragraphs if p.kind != "credit")
    if chars < MIN_ARTICLE_CHARS:
        raise ExtractionError(
            f"no article text found ({chars} characters): a consent wall, an error page or a "
            "layout the extractor does not understand (try --selector)"
        )


def _refuse_interstitial(article: Article) -> None:
    text = " ".join(p.text for p in article.paragraphs)
    if len(text) > INTERSTITIAL_MAX_CHARS:
        return
    title = article.metadata.title or ""
    hits = {hit.lower() for hit in _INTERSTITIAL.findall(f"{title} {text}")}
    if len(hits) >= 2 or _ERROR_TITLE.search(title):
        raise ExtractionError(
            f"no article text found: the page looks like a consent, paywall or error page "
            f"({len(text)} characters mentioning {', '.join(sorted(hits)[:3])!s})"
        )


# --- main text ------------------------------------------------------------------------------


def _trafilatura_paragraphs(tree: _Element, url: str, *, fast: bool) -> list[Paragraph]:
    from trafilatura import bare_extraction

    figures = _figures(tree, url)
    document = bare_extraction(
        tree, url=url, include_images=True, include_comments=False, include_tables=True,
        with_metadata=False, deduplicate=False, fast=fast,
    )
    body = getattr(document, "body", None)
    if body is None:
        raise ExtractionError(f"{url}: no article text found")
    return list(_walk_output(body, figures, url))


def _walk_output(
    body: _Element, figures: dict[str, list[Paragraph]], url: str
) -> Iterator[Paragraph]:
    emitted: set[str] = set()
    for element in body.iter(*_OUTPUT_KINDS, "graphic"):
        if element.tag == "graphic":
            # trafilatura makes image URLs absolute when it knows the page URL
            for paragraph in figures.pop(urljoin(url, element.get("src", "")), []):
                emitted.add(paragraph.text)
                yield paragraph
            continue
        if element.tag in {"p", "cell"} and _inside(element, {"item", "quote", "cell"}):
            continue  # the enclosing block is the paragraph
        text = normalize_text(" ".join(element.itertext()))
        if text and text not in emitted:
            yield Paragraph(text, _OUTPUT_KINDS[str(element.tag)])


def _inside(element: _Element, tags: set[str]) -> bool:
    parent = element.getparent()
    while parent is not None:
        if parent.tag in tags:
            return True
        parent = parent.getparent()
    return False


def _figures(tree: _Element, url: str) -> dict[str, list[Paragraph]]:
    """Absolute image URL → that figure's credit and caption paragraphs, in document order."""
    found: dict[str, list[Paragraph]] = {}
    for figure in tree.iter("figure"):
        image = next(figure.iter("img"), None)
        if image is None:
            continue
        source = image.get("src") or image.get("data-src") or ""
        texts = list(_figure_texts(figure))
        if source and texts:
            found.setdefault(urljoin(url, source.strip()), texts)
    return found


def _figure_texts(figure: _Element) -> Iterator[Paragraph]:
    for element in figure.iter():
        if not isinstance(element.tag, str) or element.tag in {"img", "picture", "source"}:
            continue
        if any(_is_text_holder(child) for child in element):
            continue  # a wrapper: its children are visited on their own
        text = normalize_text(" ".join(element.itertext()))
        if not text:
            continue
        marker = f"{element.get('class', '')} {element.get('itemprop', '')}"
        kind = "credit" if _CREDIT_HINT.search(marker) else "caption"
        yield Paragraph(text, kind)


def _is_text_holder(element: _Element) -> bool:
    return isinstance(element.tag, str) and bool(normalize_text(" ".join(element.itertext())))


def _select_paragraphs(tree: _Element, selector: str, url: str) -> Iterator[Paragraph]:
    from lxml.cssselect import CSSSelector, SelectorSyntaxError

    try:
        roots = CSSSelector(selector)(tree)
    except SelectorSyntaxError as exc:
        raise ExtractionError(f"invalid CSS selector {selector!r}: {exc}") from exc
    if not roots:
        raise ExtractionError(f"{url}: the selector {selector!r} matches nothing on the page")
    selected = set(roots)
    for root in roots:
        if any(ancestor in selected for ancestor in root.iterancestors()):
            continue  # inside another selected element: its blocks are already there
        for element in list(root.iterdescendants(*_SELECTED_NOISE)):
            element.drop_tree()
        for element in root.iter("figure", *_BLOCKS):
            if _inside_below(element, "figure", root):
                continue  # the figure's texts come out with the figure
            if element.tag == "figure":
                yield from _figure_texts(element)
                continue
            if any(child.tag in _BLOCKS for child in element.iterdescendants()):
                continue
            text = normalize_text(" ".join(element.itertext()))
            if text:
                yield Paragraph(text, _selected_kind(element))


def _inside_below(element: _Element, tag: str, root: _Element) -> bool:
    """Whether ``element`` has an ancestor ``tag`` that is ``root`` or inside it."""
    if element is root:
        return False
    for ancestor in element.iterancestors():
        if ancestor.tag == tag:
            return True
        if ancestor is root:
            return False
    return False


def _selected_kind(element: _Element) -> str:
    if element.tag == "figcaption":
        marker = f"{element.get('class', '')} {element.get('itemprop', '')}"
        return "credit" if _CREDIT_HINT.search(marker) else "caption"
    if re.fullmatch(r"h[1-6]", str(element.tag)):
        return "heading"
    return {"li": "item", "blockquote": "quote"}.get(str(element.tag), "text")


def _drop_title_line(paragraphs: list[Paragraph], title: str | None) -> list[Paragraph]:
    """The headline is metadata; a copy of it heading the body would be reported twice."""
    if paragraphs and title and paragraphs[0].text == title:
        return paragraphs[1:]
    return paragraphs


# --- metadata -------------------------------------------------------------------------------


def read_metadata(tree: _Element, url: str) -> Metadata:
    ld = _json_ld_article(tree)
    meta = _meta_tags(tree)
    return Metadata(
        title=_first(
            _text(ld.get("headline")), meta.get("og:title"), _h1(tree), _title_tag(tree)
        ),
        byline=_first(_authors(ld.get("author")), meta.get("author"), _byline_element(tree)),
        published=_first(
            _text(ld.get("datePublished")), meta.get("article:published_time"),
            _itemprop(tree, "datePublished"), _time_element(tree),
        ),
        updated=_first(
            _text(ld.get("dateModified")), meta.get("article:modified_time"),
            meta.get("og:updated_time"), _itemprop(tree, "dateModified"),
        ),
        language=_first(
            (tree.get("lang") or "").strip() or None, _text(ld.get("inLanguage")),
            meta.get("content-language"), meta.get("og:locale"),
        ),
        canonical_url=_first(_canonical_link(tree, url), meta.get("og:url")),
    )


def _json_ld_article(tree: _Element) -> dict[str, Any]:
    for script in tree.iter("script"):
        if (script.get("type") or "").lower() != "application/ld+json" or not script.text:
            continue
        try:
            data = json.loads(script.text)
        except ValueError:
            continue
        for item in _ld_items(data):
            types = item.get("@type")
            names = {types.lower()} if isinstance(types, str) else {
                str(t).lower() for t in types or []
            }
            if names & _ARTICLE_TYPES and item.get("headline"):
                return item
    return {}


def _ld_items(data: Any) -> Iterator[dict[str, Any]]:
    if isinstance(data, list):
        for entry in data:
            yield from _ld_items(entry)
    elif isinstance(data, dict):
        yield data
        yield from _ld_items(data.get("@graph", []))


def _meta_tags(tree: _Element) -> dict[str, str]:
    found: dict[str, str] = {}
    for meta in tree.iter("meta"):
        key = (meta.get("property") or meta.get("name") or meta.get("http-equiv") or "").lower()
        content = normalize_text(meta.get("content") or "")
        if key and content:
            found.setdefault(key, content)
    return found


def _authors(value: Any) -> str | None:
    names = [name for name in _author_names(value) if name]
    return ", ".join(dict.fromkeys(names)) or None


def _author_names(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield normalize_text(value)
    elif isinstance(value, dict):
        yield normalize_text(str(value.get("name") or ""))
    elif isinstance(value, list):
        for entry in value:
            yield from _author_names(entry)


def _text(value: Any) -> str | None:
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, dict):
        value = value.get("name") or value.get("@value")
    return normalize_text(str(value)) or None if value else None


def _first(*values: str | None) -> str | None:
    return next((v for v in values if v), None)


def _h1(tree: _Element) -> str | None:
    heading = next(tree.iter("h1"), None)
    return normalize_text(heading.text_content()) or None if heading is not None else None


def _title_tag(tree: _Element) -> str | None:
    title = next(tree.iter("title"), None)
    return normalize_text(title.text_content()) or None if title is not None else None


def _byline_element(tree: _Element) -> str | None:
    for element in tree.xpath('//*[@rel="author" or contains(@class, "byline__name")]'):
        text = normalize_text(element.text_content())
        if text:
            return text
    return None


def _itemprop(tree: _Element, name: str) -> str | None:
    for element in tree.xpath(f'//*[@itemprop="{name}"]'):
        value = element.get("content") or element.get("datetime")
        if value:
            return normalize_text(value)
    return None


def _time_element(tree: _Element) -> str | None:
    element = next(iter(tree.xpath("//article//time[@datetime]")), None)
    return normalize_text(element.get("datetime")) if element is not None else None


def _canonical_link(tree: _Element, url: str) -> str | None:
    for link in tree.iter("link"):
        href: str = (link.get("href") or "").strip()
        if "canonical" in (link.get("rel") or "").lower().split() and href:
            return urljoin(url, href)
    return None
