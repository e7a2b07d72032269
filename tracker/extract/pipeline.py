"""From a fetched page to an ``ExtractedPage``, and the record of how (``Extraction``).

The order of work, each step in its own module:

1. decode and clean the text, parse it once, read JSON-LD and meta tags once (``page``);
2. metadata from the page as served (``metadata``);
3. the host's ignore selectors, then marked boilerplate boxes go (``tracker.noise``);
4. the lead image and its caption (``images``);
5. the body: a selector's elements, else what the page declares (a live blog, a JSON-LD
   ``articleBody`` that agrees with the visible text, ``itemprop=articleBody``; ``body``),
   walked into paragraphs by its structure (``structure``); else trafilatura's text cut at
   the page's boundaries (``generic``);
6. furniture the markup gives away (``furniture``), then boilerplate lines and repeated labels
   (``tracker.noise``), the host's ignore patterns, and a copy of the headline;
7. refuse what is no article: too little text, a consent, paywall or error page.

The extractor name recorded on each version names the rules (not the page): a change of rules
is a re-baseline, never a reported change. Which body rule won is in ``Extraction.source``
(shown by ``tracker extract``); it is deliberately not part of the name, so that a site
dropping its ``itemprop`` in a redesign does not turn an edit made at the same time into a
silent re-baseline.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, replace

from lxml.etree import _Element

from tracker.charset import decode
from tracker.document import ExtractedPage, Metadata, Paragraph
from tracker.errors import ExtractionError
from tracker.extract.body import Body, declared_body, select_roots
from tracker.extract.furniture import paragraphs_from
from tracker.extract.generic import generic_blocks
from tracker.extract.images import read_lead_image
from tracker.extract.markup import drop_hidden
from tracker.extract.metadata import read_metadata
from tracker.extract.page import clean_text, parse, read_facts
from tracker.extract.selectors import drop_selected
from tracker.extract.structure import Block, blocks
from tracker.noise import NOISE_VERSION, drop_boilerplate, drop_noise_elements
from tracker.normalize import normalize_text, split_lines
from tracker.rules import IgnoreRules, compiled_patterns

# Bump when figure handling changes (2: lead image and caption; 3: inline credits in captions).
FIGURES_VERSION = "3"
# Bump when paragraph boundaries or the choice of body change (1: page structure, declared
# bodies, live blogs).
STRUCTURE_VERSION = "1"
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
# versions.extractor holds 200 characters; a selector longer than this is named by a digest.
_MAX_SELECTOR_LABEL = 100
# A kicker before the headline ("Bahnstreik: ") is short.
_MAX_KICKER_CHARS = 60
# Dropped text is quoted in explanations up to this length.
_QUOTED_CHARS = 160


@dataclass(frozen=True, slots=True)
class Dropped:
    """Text left out of the article, and the rule that left it out."""

    rule: str
    text: str


@dataclass(frozen=True, slots=True)
class Extraction:
    """An article and how it was made: which rule chose the body, and what was dropped."""

    article: ExtractedPage
    source: str  # selector | live blog | json-ld body | itemprop | trafilatura | plain text
    detail: str = ""
    dropped: tuple[Dropped, ...] = ()


@dataclass(slots=True)
class _Notes:
    dropped: list[Dropped] = field(default_factory=list)

    def __call__(self, rule: str, text: str) -> None:
        quoted = normalize_text(text)
        if quoted:
            if len(quoted) > _QUOTED_CHARS:
                quoted = quoted[: _QUOTED_CHARS - 1] + "…"
            self.dropped.append(Dropped(rule, quoted))


def extractor_name(
    selector: str | None = None, *, fast: bool = False, ignore: IgnoreRules | None = None
) -> str:
    """What made a version's text: a different name means a re-baseline, not a change."""
    import trafilatura

    name = (f"trafilatura {trafilatura.__version__}; figures {FIGURES_VERSION}; "
            f"structure {STRUCTURE_VERSION}; noise {NOISE_VERSION}")
    if selector:
        name = f"{name}; selector {_selector_label(selector)}"
    elif fast:
        name = f"{name}; fast"
    return f"{name}; ignore {ignore.fingerprint}" if ignore else name


def _selector_label(selector: str) -> str:
    if len(selector) <= _MAX_SELECTOR_LABEL:
        return selector
    digest = hashlib.blake2b(selector.encode(), digest_size=4).hexdigest()
    return f"{selector[:60]}… #{digest}"


def extract_page(
    body: bytes, *, url: str, media_type: str = "text/html", charset: str | None = None,
    selector: str | None = None, fast: bool = False, ignore: IgnoreRules | None = None,
) -> ExtractedPage:
    """The article in a fetched body; ExtractionError when there is none.

    ``fast`` skips trafilatura's fallback extractors (readability, jusText), which it runs to
    second-guess its own result: a quarter of its time, and no difference on article pages
    with proper markup (see docs/benchmarks.md); pages it gets wrong take a --selector."""
    return explain_page(body, url=url, media_type=media_type, charset=charset,
                        selector=selector, fast=fast, ignore=ignore).article


def explain_page(
    body: bytes, *, url: str, media_type: str = "text/html", charset: str | None = None,
    selector: str | None = None, fast: bool = False, ignore: IgnoreRules | None = None,
) -> Extraction:
    """``extract_page`` with the record of how: the body's source and what was dropped."""
    text = decode(body, charset)
    if media_type == "text/plain":
        return Extraction(extract_plain_text(text, ignore=ignore), "plain text")
    return explain_html(text, url=url, selector=selector, fast=fast, ignore=ignore)


def extract_plain_text(text: str, *, ignore: IgnoreRules | None = None) -> ExtractedPage:
    """Paragraphs of a plain-text page: blocks between blank lines, else one per line. Only a
    host's ignore patterns apply: without markup there is no telling furniture from text."""
    text = clean_text(text).replace("\r\n", "\n")
    blocks_ = re.split(r"\n\s*\n", text)
    paragraphs = split_lines(text) if len(blocks_) == 1 else [normalize_text(b) for b in blocks_]
    kept = _ignored_out([Paragraph(p) for p in paragraphs if p], ignore, _Notes())
    name = f"plain text; ignore {ignore.fingerprint}" if ignore else "plain text"
    article = ExtractedPage(tuple(kept), Metadata(), name)
    _require_text(article)
    return article


def extract_html(
    text: str, *, url: str, selector: str | None = None, fast: bool = False,
    ignore: IgnoreRules | None = None,
) -> ExtractedPage:
    return explain_html(text, url=url, selector=selector, fast=fast, ignore=ignore).article


def explain_html(
    text: str, *, url: str, selector: str | None = None, fast: bool = False,
    ignore: IgnoreRules | None = None,
) -> Extraction:
    notes = _Notes()
    tree = parse(text, url)
    facts = read_facts(tree)
    drop_hidden(tree)
    metadata = read_metadata(tree, url, facts)
    if ignore and ignore.selectors:
        drop_selected(tree, ignore.selectors, notes)
    roots = select_roots(tree, selector, url) if selector else []
    drop_noise_elements(tree, roots, notes)
    image, caption = read_lead_image(tree, url, roots, facts)
    metadata = replace(metadata, lead_image=image, lead_caption=caption)
    body: Body | None
    if roots:
        body = Body("selector", tuple(roots))
        found = body.paragraphs()
    else:
        walked: list[list[Block]] = []  # the whole page, walked only when a rule needs it

        def page() -> list[Block]:
            if not walked:
                walked.append(_page_blocks(tree))
            return walked[0]

        body = declared_body(tree, facts, page)
        found = body.paragraphs() if body else generic_blocks(
            tree, url, walked[0] if walked else None, fast=fast)
    paragraphs = paragraphs_from(found, live=bool(body and body.live), note=notes)
    paragraphs = _ignored_out(drop_boilerplate(paragraphs, notes), ignore, notes)
    paragraphs = _drop_title_line(paragraphs, metadata.title, notes)
    article = ExtractedPage(tuple(paragraphs), metadata, extractor_name(selector, fast=fast,
                                                                  ignore=ignore))
    _require_text(article)
    _refuse_interstitial(article)
    source = body.source if body else "trafilatura"
    return Extraction(article, source, body.detail if body else "", tuple(notes.dropped))


def _page_blocks(tree: _Element) -> list[Block]:
    page = tree.find("body")
    return blocks(page if page is not None else tree)


def _ignored_out(
    paragraphs: list[Paragraph], ignore: IgnoreRules | None, notes: _Notes
) -> list[Paragraph]:
    if not ignore or not ignore.patterns:
        return paragraphs
    try:
        compiled_patterns(ignore.patterns)
    except re.error as exc:
        raise ExtractionError(f"invalid ignore pattern in the host's rules: {exc}") from exc
    kept = []
    for paragraph in paragraphs:
        if ignore.matches(paragraph.text):
            notes("host ignore pattern", paragraph.text)
        else:
            kept.append(paragraph)
    return kept


def _drop_title_line(
    paragraphs: list[Paragraph], title: str | None, notes: _Notes
) -> list[Paragraph]:
    """The headline is metadata; a copy of it heading the body (maybe after a kicker:
    "Bahnstreik: Streik legt …") would be reported twice."""
    if not paragraphs or not title:
        return paragraphs
    first = paragraphs[0].text
    kicker = first.endswith(title) and paragraphs[0].kind == "heading"
    if first == title or (kicker and len(first) - len(title) <= _MAX_KICKER_CHARS):
        notes("headline (metadata)", first)
        return paragraphs[1:]
    return paragraphs


def _require_text(article: ExtractedPage) -> None:
    chars = sum(len(p.text) for p in article.paragraphs if p.kind != "credit")
    if chars < MIN_ARTICLE_CHARS:
        raise ExtractionError(
            f"no article text found ({chars} characters): a consent wall, an error page or a "
            "layout the extractor does not understand (try --selector)"
        )


def _refuse_interstitial(article: ExtractedPage) -> None:
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
