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

Noise goes before and after: a host's ignore selectors remove elements first, then
``tracker.noise`` drops boilerplate boxes (share bars, newsletter boxes, "most read", related
links) and, once the text is out, boilerplate paragraphs and timestamp lines; last, the host's
ignore patterns drop the paragraphs they match. The extractor name recorded on each version
says which rules applied, so a change of rules is a re-baseline, never a reported change.

Metadata is read from JSON-LD, OpenGraph/article meta tags and the document, in that order,
from the page as served. The lead image (og:image, the JSON-LD image, else the first figure of
the article body) and its caption are read after the noise is gone; the image URL is made
absolute and stripped of the parameters that only size or cache-bust it, so a resized photo is
the same photo. Nothing here touches the network or the database.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from lxml import html as lxml_html
from lxml.etree import ParserError, _Element

from tracker.charset import decode
from tracker.document import Article, Metadata, Paragraph
from tracker.errors import ExtractionError
from tracker.noise import NOISE_VERSION, drop_boilerplate, drop_noise_elements
from tracker.normalize import normalize_text, split_lines
from tracker.rules import IgnoreRules, compiled_patterns

# Bump when figure/metadata handling changes: forces a re-baseline. 2: lead image and caption.
FIGURES_VERSION = "2"
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


def extractor_name(
    selector: str | None = None, *, fast: bool = False, ignore: IgnoreRules | None = None
) -> str:
    """What made a version's text: a different name means a re-baseline, not a change."""
    import trafilatura

    name = f"trafilatura {trafilatura.__version__}; figures {FIGURES_VERSION}"
    name = f"{name}; noise {NOISE_VERSION}"
    if selector:
        name = f"{name}; selector {_selector_label(selector)}"
    elif fast:
        name = f"{name}; fast"
    return f"{name}; ignore {ignore.fingerprint}" if ignore else name


# versions.extractor holds 200 characters; a selector longer than this is named by a digest.
_MAX_SELECTOR_LABEL = 100


def _selector_label(selector: str) -> str:
    if len(selector) <= _MAX_SELECTOR_LABEL:
        return selector
    digest = hashlib.blake2b(selector.encode(), digest_size=4).hexdigest()
    return f"{selector[:60]}… #{digest}"


def extract_page(
    body: bytes, *, url: str, media_type: str = "text/html", charset: str | None = None,
    selector: str | None = None, fast: bool = False, ignore: IgnoreRules | None = None,
) -> Article:
    """The article in a fetched body; ExtractionError when there is none.

    ``fast`` skips trafilatura's fallback extractors (readability, jusText), which it runs to
    second-guess its own result: a quarter of its time, and no difference on article pages
    with proper markup (see docs/benchmarks.md); pages it gets wrong take a --selector."""
    text = decode(body, charset)
    if media_type == "text/plain":
        return extract_plain_text(text, ignore=ignore)
    return extract_html(text, url=url, selector=selector, fast=fast, ignore=ignore)


def extract_plain_text(text: str, *, ignore: IgnoreRules | None = None) -> Article:
    """Paragraphs of a plain-text page: blocks between blank lines, else one per line. Only a
    host's ignore patterns apply: without markup there is no telling furniture from text."""
    blocks = re.split(r"\n\s*\n", text.replace("\r\n", "\n"))
    paragraphs = split_lines(text) if len(blocks) == 1 else [normalize_text(b) for b in blocks]
    kept = _ignored_out([Paragraph(p) for p in paragraphs if p], ignore)
    name = f"plain text; ignore {ignore.fingerprint}" if ignore else "plain text"
    article = Article(tuple(kept), Metadata(), name)
    _require_text(article)
    return article


def extract_html(
    text: str, *, url: str, selector: str | None = None, fast: bool = False,
    ignore: IgnoreRules | None = None,
) -> Article:
    tree = _parse(text, url)
    metadata = read_metadata(tree, url)
    if ignore and ignore.selectors:
        _drop_selected(tree, ignore.selectors)
    roots = _select_roots(tree, selector, url) if selector else []
    drop_noise_elements(tree, roots)
    image, caption = read_lead_image(tree, url, roots)
    metadata = replace(metadata, lead_image=image, lead_caption=caption)
    if selector:
        paragraphs = list(_select_paragraphs(roots))
    else:
        paragraphs = _trafilatura_paragraphs(tree, url, fast=fast)
    paragraphs = _ignored_out(drop_boilerplate(paragraphs), ignore)
    paragraphs = _drop_title_line(paragraphs, metadata.title)
    name = extractor_name(selector, fast=fast, ignore=ignore)
    article = Article(tuple(paragraphs), metadata, name)
    _require_text(article)
    _refuse_interstitial(article)
    return article


def _css(selector: str) -> Any:
    from cssselect import SelectorError
    from lxml.cssselect import CSSSelector

    try:
        return CSSSelector(selector)
    except SelectorError as exc:
        raise ExtractionError(f"invalid CSS selector {selector!r}: {exc}") from exc


def _drop_selected(tree: _Element, selectors: Sequence[str]) -> None:
    """A host's ignore selectors: the elements they match are not part of the page."""
    for selector in selectors:
        for element in _css(selector)(tree):
            if element.getparent() is not None:
                element.drop_tree()


def _ignored_out(paragraphs: list[Paragraph], ignore: IgnoreRules | None) -> list[Paragraph]:
    if not ignore or not ignore.patterns:
        return paragraphs
    try:
        compiled_patterns(ignore.patterns)
    except re.error as exc:
        raise ExtractionError(f"invalid ignore pattern in the host's rules: {exc}") from exc
    return [p for p in paragraphs if not ignore.matches(p.text)]


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


def _select_roots(tree: _Element, selector: str, url: str) -> list[_Element]:
    roots: list[_Element] = _css(selector)(tree)
    if not roots:
        raise ExtractionError(f"{url}: the selector {selector!r} matches nothing on the page")
    return roots


def _select_paragraphs(roots: list[_Element]) -> Iterator[Paragraph]:
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


# --- lead image -----------------------------------------------------------------------------

# Query parameters that only size, crop, re-encode or cache-bust an image: the same photo
# resized or re-cached is not a new photo.
IMAGE_SIZE_PARAMS = frozenset({
    "w", "h", "width", "height", "q", "quality", "fit", "crop", "auto", "fm", "format", "dpr",
    "ts", "v", "cb", "resize", "rect",
})  # fmt: skip
# WordPress-style renditions: photo-1024x683.jpg is photo.jpg resized.
_SIZE_SUFFIX = re.compile(r"-\d{2,5}x\d{2,5}(?=\.(?:jpe?g|png|webp|gif|avif)$)", re.IGNORECASE)
_IMAGE_SOURCES = ("src", "data-src", "data-original", "data-lazy-src")


def normalize_image_url(source: str | None, base: str) -> str | None:
    """An absolute http(s) URL of the image without sizing or cache-busting parameters."""
    if not source or not source.strip() or source.strip().startswith("data:"):
        return None
    parts = urlsplit(urljoin(base, source.strip()))
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
    tree: _Element, url: str, roots: Sequence[_Element] = ()
) -> tuple[str | None, str | None]:
    """(image URL, caption) of the article's lead photo, either None when there is none.

    The image: og:image, else the article's JSON-LD image, else the first figure of the article
    body (the selected elements, else ``itemprop=articleBody``, else ``<article>``). Its caption:
    the figcaption of the figure showing it, else the JSON-LD caption of that image, else
    og:image:alt."""
    ld = _json_ld_article(tree)
    meta = _meta_tags(tree)
    ld_image, ld_caption = _ld_image(ld.get("image"))
    ld_url = normalize_image_url(ld_image, url)
    image = normalize_image_url(meta.get("og:image"), url) or ld_url
    if image is None:
        first = next(_body_figures(tree, roots, url), None)
        return first if first else (None, None)
    caption = next((c for src, c in _figure_images(tree.iter("figure"), url) if src == image and c),
                   None)
    if caption is None and ld_url == image:
        caption = ld_caption
    return image, caption or meta.get("og:image:alt")


def _ld_image(value: Any) -> tuple[str | None, str | None]:
    if isinstance(value, list):
        return _ld_image(value[0]) if value else (None, None)
    if isinstance(value, str):
        return value, None
    if isinstance(value, dict):
        source = value.get("url") or value.get("contentUrl")
        return (source if isinstance(source, str) else None), _text(value.get("caption"))
    return None, None


def _body_figures(
    tree: _Element, roots: Sequence[_Element], url: str
) -> Iterator[tuple[str, str | None]]:
    scope = list(roots) or tree.xpath("//*[@itemprop='articleBody']") or tree.xpath("//article")
    for root in scope[:1] if not roots else scope:
        yield from _figure_images(root.iter("figure"), url)


def _figure_images(
    figures: Iterable[_Element], url: str
) -> Iterator[tuple[str, str | None]]:
    """(normalised image URL, caption) of each figure that shows an image."""
    for figure in figures:
        image = next(figure.iter("img"), None)
        if image is None:
            continue
        sources = (normalize_image_url(image.get(a), url) for a in _IMAGE_SOURCES)
        normalised = next((s for s in sources if s), None)
        if normalised is None:
            continue
        captions = [p.text for p in _figure_texts(figure) if p.kind == "caption"]
        yield normalised, " ".join(captions) or None
