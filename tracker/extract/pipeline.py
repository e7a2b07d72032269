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
from functools import cache
from importlib.metadata import version

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
from tracker.extract.template import Template
from tracker.extract.template import apply as apply_template
from tracker.extract.template import learn as learn_template
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
# An article by the template with less text than this, or with fewer than this share of the
# previous version's paragraphs, is checked with the full extractor before it is believed.
TEMPLATE_MIN_CHARS = 500
TEMPLATE_MIN_KEPT = 0.5
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
    # selector | live blog | json-ld body | itemprop | trafilatura | template | plain text
    source: str
    detail: str = ""
    dropped: tuple[Dropped, ...] = ()
    # How the text was made: full (the rules above), template (the host's learned template
    # alone) or verified (both, and they agreed); see tracker.extract.template.
    path: str = "full"
    learning: Learning | None = None  # what this page taught about the host's template


@dataclass(frozen=True, slots=True)
class TemplateUse:
    """What the caller knows of the host's template: none yet (learn one from this page), a
    candidate (check it on this page), or trusted (use it; ``verify``: check it anyway)."""

    template: Template | None = None
    trusted: bool = False
    verify: bool = False
    previous_paragraphs: int | None = None  # the article's latest version's, for the drop check


@dataclass(frozen=True, slots=True)
class Learning:
    """A page's verdict on the host's template: ``agreed`` (None: there was none to check),
    a template ``learned`` from the page (when there was none or it was refuted), and why the
    template was not used or disagreed."""

    agreed: bool | None
    learned: Template | None
    reason: str = ""


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
    name = (f"trafilatura {_trafilatura_version()}; figures {FIGURES_VERSION}; "
            f"structure {STRUCTURE_VERSION}; noise {NOISE_VERSION}")
    if selector:
        name = f"{name}; selector {_selector_label(selector)}"
    elif fast:
        name = f"{name}; fast"
    return f"{name}; ignore {ignore.fingerprint}" if ignore else name


@cache
def _trafilatura_version() -> str:
    """trafilatura's version as its package metadata says it, which is its ``__version__``:
    read without importing trafilatura (lxml, justext, htmldate, courlan; ~0.1 s of CPU in
    each process of a pass), which pages with a declared body never call."""
    return version("trafilatura")


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
    learning: TemplateUse | None = None,
) -> Extraction:
    """``extract_page`` with the record of how: the body's source and what was dropped;
    ``learning``: the host's template, see ``explain_html``."""
    text = decode(body, charset)
    if media_type == "text/plain":
        return Extraction(extract_plain_text(text, ignore=ignore), "plain text")
    return explain_html(text, url=url, selector=selector, fast=fast, ignore=ignore,
                        learning=learning)


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
    ignore: IgnoreRules | None = None, learning: TemplateUse | None = None,
) -> Extraction:
    """The article of an HTML page. With ``learning`` (no selector, no declared body) the
    host's article template may stand in for trafilatura, or be checked or learned on this page
    (``Extraction.path`` and ``Extraction.learning`` tell what happened)."""
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
    name = extractor_name(selector, fast=fast, ignore=ignore)
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
        if body is None:
            finish = _Finisher(metadata, name, ignore, notes.dropped)
            generic = _Generic(tree, url, walked[0] if walked else None, fast)
            if learning is not None:
                return _templated(tree, generic, finish, learning)
            article, dropped = finish(generic.blocks())
            return Extraction(article, "trafilatura", "", dropped)
        found = body.paragraphs()
    article, dropped = _Finisher(metadata, name, ignore, notes.dropped)(found, live=body.live)
    return Extraction(article, body.source, body.detail, dropped)


@dataclass(frozen=True, slots=True)
class _Finisher:
    """From the body's blocks to the article: furniture, boilerplate, ignore rules, the
    headline, and the refusals. The same steps whichever path found the blocks."""

    metadata: Metadata
    name: str
    ignore: IgnoreRules | None
    earlier: list[Dropped] = field(default_factory=list)  # dropped before the body was found

    def __call__(
        self, found: list[Block], *, live: bool = False
    ) -> tuple[ExtractedPage, tuple[Dropped, ...]]:
        notes = _Notes(list(self.earlier))
        paragraphs = paragraphs_from(found, live=live, note=notes)
        paragraphs = _ignored_out(drop_boilerplate(paragraphs, notes), self.ignore, notes)
        paragraphs = _drop_title_line(paragraphs, self.metadata.title, notes)
        article = ExtractedPage(tuple(paragraphs), self.metadata, self.name)
        _require_text(article)
        _refuse_interstitial(article)
        return article, tuple(notes.dropped)


@dataclass(slots=True)
class _Generic:
    """trafilatura's blocks of the page, found once when first asked for."""

    tree: _Element
    url: str
    page: list[Block] | None
    fast: bool
    found: list[Block] | None = None

    def blocks(self) -> list[Block]:
        if self.found is None:
            self.found = generic_blocks(self.tree, self.url, self.page, fast=self.fast)
        return self.found


def _templated(
    tree: _Element, generic: _Generic, finish: _Finisher, use: TemplateUse
) -> Extraction:
    """The article by the host's template when it is trusted and the page looks right; else
    by the full extractor, compared with the template's (which it confirms or refutes), and a
    template learned from the page when there is none or it was refuted."""
    by_template: ExtractedPage | None = None
    dropped: tuple[Dropped, ...] = ()
    reason = ""
    if use.template is not None:
        by_template, dropped, reason = _by_template(use.template, tree, finish)
        if by_template is not None and use.trusted and not use.verify:
            reason = _suspicious(by_template, use.previous_paragraphs)
            if not reason:
                return Extraction(by_template, "template", use.template.container_path, dropped,
                                  path="template")
    article, dropped = finish(generic.blocks())
    agreed: bool | None = None
    if use.template is not None:
        agreed = by_template is not None and by_template.paragraphs == article.paragraphs
        if not agreed:
            reason = reason or "the template's text differs from the full extractor's"
    learned = None if agreed else _learn(tree, generic.blocks(), article, finish)
    outcome = Learning(agreed, learned, reason)
    return Extraction(article, "trafilatura", "", dropped,
                      path="verified" if agreed else "full", learning=outcome)


def _by_template(
    template: Template, tree: _Element, finish: _Finisher
) -> tuple[ExtractedPage | None, tuple[Dropped, ...], str]:
    found = apply_template(template, tree)
    if found is None:
        return None, (), "the page does not fit the template"
    try:
        article, dropped = finish(found)
    except ExtractionError as exc:
        return None, (), f"no article by the template ({exc})"
    return article, dropped, ""


def _suspicious(article: ExtractedPage, previous_paragraphs: int | None) -> str:
    """Why an article the template made looks wrong ("" when it does not): too short, or a
    big drop against the article's previous version."""
    chars = sum(len(p.text) for p in article.paragraphs if p.kind != "credit")
    if chars < TEMPLATE_MIN_CHARS:
        return f"too short by the template ({chars} characters)"
    count = len(article.paragraphs)
    if previous_paragraphs and count < previous_paragraphs * TEMPLATE_MIN_KEPT:
        return f"{count} paragraphs by the template, {previous_paragraphs} before"
    return ""


def _learn(
    tree: _Element, found: list[Block], article: ExtractedPage, finish: _Finisher
) -> Template | None:
    """A template from the page, if on this very page it gives the full extractor's text."""
    template = learn_template(tree, found)
    if template is None:
        return None
    by_template, _, _ = _by_template(template, tree, finish)
    same = by_template is not None and by_template.paragraphs == article.paragraphs
    return template if same else None


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
