"""Where the article body is, when the page says so or a user did.

In this order, the first that holds wins:

1. **selector**: the elements a CSS selector (the article's or the host's) matches.
2. **live blog**: three or more entries that each carry a ``<time>`` and text of their own,
   side by side in one container that holds a good share of the page's text (a list of teasers
   with times is mostly links and does not count). The container is the body; each entry's
   time stamp stays with it.
3. **JSON-LD body**: the article's JSON-LD ``articleBody`` (or a ``<meta
   itemprop="articleBody">``) *agrees with the visible text*: the page's paragraphs found in it
   cover at least ``MIN_COVERAGE`` of it, and they sit in one element (the deepest holding
   ``CONTAINER_SHARE`` of them) whose paragraphs are mostly that text. That element is the
   body: the paragraphs come from the HTML, with its boundaries, never from the JSON-LD text
   (which loses them, and may lag behind an edit).
4. **itemprop**: visible elements marked ``itemprop="articleBody"`` (or in RDFa
   ``property="articleBody"``) holding at least ``MIN_BODY_CHARS`` of text.

None of them: the caller falls back to trafilatura (``tracker.extract.generic``). Pure.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from lxml.etree import XPath, _Element

from tracker.errors import ExtractionError
from tracker.extract.markup import hidden
from tracker.extract.page import PageFacts
from tracker.extract.structure import Block, blocks
from tracker.noise import visible_chars
from tracker.normalize import normalize_text

# Share of the JSON-LD body that the page's visible paragraphs must contain.
MIN_COVERAGE = 0.6
# The body element is the deepest one holding this share of the matched text.
CONTAINER_SHARE = 0.9
# ... and at least this share of that element's text must be the JSON-LD body's.
MIN_PURITY = 0.5
# Shorter paragraphs are not looked up in the JSON-LD body: "Teilen" is in any long text.
MIN_MATCH_CHARS = 20
# An itemprop=articleBody element with less text is a teaser box, not the body.
MIN_BODY_CHARS = 200
# A live blog has at least this many entries ...
MIN_ENTRIES = 3
# ... each with this much text of its own besides the time, mostly not link text ...
MIN_ENTRY_CHARS = 60
# ... and the entries hold at least this share of the page's text.
MIN_LIVE_SHARE = 0.4
# Inside a chosen body these are never article text (they stay out of the walk).
INSIDE_BODY_SKIP = frozenset({"aside", "nav", "form"})


@dataclass(frozen=True, slots=True)
class Body:
    """The chosen body: which rule chose it, its elements, and the figures that decided."""

    source: str  # selector | live blog | json-ld body | itemprop
    roots: tuple[_Element, ...]
    detail: str = ""
    walked: tuple[Block, ...] | None = None  # its paragraphs, when a rule already walked it

    @property
    def live(self) -> bool:
        return self.source == "live blog"

    def paragraphs(self) -> list[Block]:
        """The body's paragraphs in document order."""
        if self.walked is not None:
            return list(self.walked)
        return [block for root in self.roots for block in blocks(root, skip=INSIDE_BODY_SKIP)]


def squash(text: str) -> str:
    """Text without any whitespace: two renderings of the same words compare equal."""
    return "".join(text.split())


def select_roots(tree: _Element, selector: str, url: str) -> list[_Element]:
    from tracker.extract.selectors import css

    roots: list[_Element] = css(selector)(tree)
    if not roots:
        raise ExtractionError(f"{url}: the selector {selector!r} matches nothing on the page")
    return outermost(roots)


def outermost(elements: Sequence[_Element]) -> list[_Element]:
    """The elements that are not inside another of them, in document order."""
    chosen = set(elements)
    return [e for e in elements if not any(a in chosen for a in e.iterancestors())]


def declared_body(
    tree: _Element, facts: PageFacts, page: Callable[[], Sequence[Block]]
) -> Body | None:
    """The body the page declares (rules 2–4 above), or None. ``page``: the page's paragraphs,
    asked for only when a JSON-LD body has to be found in them."""
    return live_blog(tree, facts) or json_ld_body(tree, facts, page) or itemprop_body(tree)


# --- JSON-LD articleBody ------------------------------------------------------------------------


def json_ld_body(
    tree: _Element, facts: PageFacts, page_blocks: Callable[[], Sequence[Block]]
) -> Body | None:
    declared = facts.article_body or _meta_article_body(tree)
    if not declared or len(declared) < MIN_BODY_CHARS:
        return None
    reference = squash(declared)
    page = page_blocks()
    matched = [
        (block, len(text)) for block in page
        if len(text := squash(block.text)) >= MIN_MATCH_CHARS and text in reference
    ]
    found = sum(chars for _, chars in matched)
    coverage = found / len(reference)
    if coverage < MIN_COVERAGE:
        return None
    container = _container(matched, found, tree)
    own = sum(len(squash(b.text)) for b in page
              if b.kind not in {"caption", "credit"} and _within(b.element, container))
    purity = found / own if own else 0.0
    if purity < MIN_PURITY:
        return None
    detail = f"covers {coverage:.0%} of the JSON-LD articleBody; {purity:.0%} of its text is it"
    return Body("json-ld body", (container,), detail)


def _meta_article_body(tree: _Element) -> str | None:
    for meta in tree.iter("meta"):
        if "articlebody" in (meta.get("itemprop") or "").lower().split():
            return normalize_text(meta.get("content") or "") or None
    return None


def _container(matched: list[tuple[Block, int]], found: int, tree: _Element) -> _Element:
    """The deepest element holding CONTAINER_SHARE of the matched characters."""
    held: dict[_Element, int] = defaultdict(int)
    depth: dict[_Element, int] = {}
    for block, chars in matched:
        chain = [block.element, *block.element.iterancestors()]
        for level, element in enumerate(reversed(chain)):
            held[element] += chars
            depth[element] = level
    candidates = [e for e, chars in held.items() if chars >= CONTAINER_SHARE * found]
    return max(candidates, key=depth.__getitem__, default=tree)


def _within(element: _Element, container: _Element) -> bool:
    return element is container or any(a is container for a in element.iterancestors())


# --- itemprop=articleBody ----------------------------------------------------------------------


def itemprop_body(tree: _Element) -> Body | None:
    marked = [e for e in _MARKED(tree) if _declares_body(e)]
    roots = [e for e in outermost(marked) if e.tag != "meta" and not _hidden_here(e)]
    if not roots:
        return None
    walked = tuple(b for root in roots for b in blocks(root, skip=INSIDE_BODY_SKIP))
    chars = sum(len(b.text) for b in walked if b.kind not in {"caption", "credit"})
    if chars < MIN_BODY_CHARS:
        return None
    detail = f"{len(roots)} element(s), {chars:,} characters"
    return Body("itemprop", tuple(roots), detail, walked)


# schema.org's articleBody as microdata (itemprop) or RDFa (property, maybe prefixed).
_MARKED = XPath("//*[@itemprop or @property]")


def _declares_body(element: _Element) -> bool:
    names = f"{element.get('itemprop') or ''} {element.get('property') or ''}".split()
    return any(name == "articleBody" or name.endswith(":articleBody") for name in names)


def _hidden_here(element: _Element) -> bool:
    return hidden(element) or any(hidden(a) for a in element.iterancestors())


# --- live blogs ----------------------------------------------------------------------------------


def live_blog(tree: _Element, facts: PageFacts) -> Body | None:
    times = [t for t in tree.iter("time") if not _hidden_here(t)]
    if len(times) < MIN_ENTRIES:
        return None
    by_container: dict[_Element, list[_Element]] = defaultdict(list)
    for time in times:
        entry = _entry_of(time)
        if entry is not None and entry.getparent() is not None:
            by_container[entry.getparent()].append(entry)
    if not by_container:
        return None
    container, entries = max(by_container.items(), key=lambda item: len(set(item[1])))
    entries = list(dict.fromkeys(entries))
    if len(entries) < MIN_ENTRIES:
        return None
    body = tree.find("body")
    page_chars = _chars(body if body is not None else tree)
    share = sum(_chars(e) for e in entries) / page_chars if page_chars else 0.0
    if share < MIN_LIVE_SHARE and not facts.live:
        return None
    detail = f"{len(entries)} timed entries holding {share:.0%} of the page's text"
    return Body("live blog", (container,), detail)


def _entry_of(time: _Element) -> _Element | None:
    """The nearest element around a <time> that has text of its own, mostly not links."""
    stamp = len(normalize_text(time.text_content()))
    for level, ancestor in enumerate(time.iterancestors()):
        if level >= 6 or ancestor.tag in {"body", "html"}:
            return None
        chars = _chars(ancestor)
        if chars - stamp >= MIN_ENTRY_CHARS:
            linked = sum(_chars(a) for a in ancestor.iter("a"))
            return ancestor if linked < 0.5 * chars else None
    return None


def _chars(element: _Element) -> int:
    return visible_chars(element)
