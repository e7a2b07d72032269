"""The generic extractor, for pages that do not say where their article is: trafilatura picks
the text, the page's structure sets the paragraph boundaries.

trafilatura scores best among open extractors in published benchmarks at telling article text
from the rest, but it runs together what the page separates: ``<p>`` elements inside a table
cell, ``<br><br>``-separated text. So its paragraphs are looked up in the page's own
paragraphs (``tracker.extract.structure``, walked before trafilatura modifies the tree),
compared without whitespace, and cut wherever the page has a boundary inside them; each piece
takes the kind and markup roles of the page paragraph it comes from. A paragraph that cannot
be found (trafilatura changed its text) is kept as trafilatura gave it.

trafilatura drops figure captions, and asked to keep images it too often takes a photo with
its caption for the article and the text under it for the rest. So it runs without images,
and the figures come from the page: the captions and credits of each photo inside the
article's region (the innermost element holding all the paragraphs found), where they stand,
unless the photo is a link or in an ``<aside>`` (a teaser). Then the lead photo above the
text belongs to the article exactly when it shares its container, as with a selector or a
declared body. Pure apart from trafilatura itself, which is called on a tree, never a URL.
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Iterator, Sequence
from copy import deepcopy
from typing import Any

from lxml.etree import XPath, _Element

from tracker.document import Paragraph
from tracker.errors import ExtractionError
from tracker.extract.body import squash
from tracker.extract.markup import FIGURE
from tracker.extract.structure import Block, blocks
from tracker.normalize import normalize_text

_OUTPUT_KINDS = {"p": "text", "head": "heading", "item": "item", "quote": "quote",
                 "code": "text", "cell": "text"}
# trafilatura's options; benchmarks/bench_extract.py and bench_check.py use the same.
TRAFILATURA_OPTIONS: dict[str, Any] = {
    "include_images": False, "include_comments": False, "include_tables": True,
    "with_metadata": False, "deduplicate": False,
}  # fmt: skip


def generic_blocks(
    tree: _Element, url: str, page: Sequence[Block] | None = None, *, fast: bool
) -> list[Block]:
    """The article's paragraphs as trafilatura finds them, cut at the page's boundaries, with
    the figures of its region. ``page``: the page's paragraphs if they were walked already;
    else only the region trafilatura's text comes from is walked (on a large page, a small
    part of it)."""
    # trafilatura changes the tree it is given; the page must stay as it is to be walked.
    output = list(_walk_output(_trafilatura(deepcopy(tree), url, fast=fast)))
    if page is None:
        page = blocks(_region(tree, output))
    located = list(_split(iter(output), page, tree))
    return _with_figures(located, page)


def _region(tree: _Element, output: Sequence[Paragraph]) -> _Element:
    """The innermost element that holds trafilatura's first and last paragraph (so all of
    them: they are in page order), found in the page's text nodes; the body when they cannot
    be found (trafilatura changed the text)."""
    body = tree.find("body")
    whole = body if body is not None else tree
    texts = [p for p in output if p.kind not in {"caption", "credit"}]
    if not texts:
        return whole
    nodes = _TEXT_NODES(whole)
    raw = "".join(nodes)
    starts = list(itertools.accumulate(map(len, nodes), initial=0))
    first = _loose(squash(texts[0].text)[:_PROBE_CHARS]).search(raw)
    if first is None:
        return whole
    last = _loose(squash(texts[-1].text)[-_PROBE_CHARS:]).search(raw, first.start())
    if last is None:
        return whole
    ends = (bisect.bisect_right(starts, first.start()) - 1,
            bisect.bisect_right(starts, last.end() - 1) - 1)
    around = [_owner(nodes[index]) for index in ends]
    if any(element is None for element in around):
        return whole
    common = _common_ancestor([e for e in around if e is not None])
    return common if common is not None else whole


# Where a paragraph starts and ends is found from this many of its characters.
_PROBE_CHARS = 60


def _loose(squashed: str) -> re.Pattern[str]:
    """A pattern of the characters with any whitespace between them (the page's raw text
    nodes keep their line breaks and runs of spaces)."""
    return re.compile(r"\s*".join(map(re.escape, squashed)))


# Text nodes a reader can see (a script's or a style's own text is code).
_TEXT_NODES = XPath(".//text()[not(parent::script) and not(parent::style)]")


def _owner(node: Any) -> _Element | None:
    """The element a text node stands in (for a tail, the element around the one it
    follows)."""
    element: _Element | None = node.getparent()
    return element.getparent() if node.is_tail and element is not None else element


def _trafilatura(tree: _Element, url: str, *, fast: bool) -> _Element:
    from trafilatura import bare_extraction

    try:
        document = bare_extraction(tree, url=url, fast=fast, **TRAFILATURA_OPTIONS)
    except Exception as exc:
        # Third-party code run on hostile input: whatever goes wrong inside it is this page's
        # failed extraction, recorded as such, never the end of a pass.
        raise ExtractionError(f"{url}: the extractor failed on this page ({exc!r:.200})") from exc
    body = getattr(document, "body", None)
    if body is None:
        raise ExtractionError(f"{url}: no article text found")
    return body


def _walk_output(body: _Element) -> Iterator[Paragraph]:
    for element in body.iter(*_OUTPUT_KINDS):
        if element.tag in {"p", "cell"} and _inside(element, {"item", "quote", "cell"}):
            continue  # the enclosing block is the paragraph (cut again by _split)
        text = normalize_text(" ".join(element.itertext()))
        if text:
            yield Paragraph(text, _OUTPUT_KINDS[str(element.tag)])


def _inside(element: _Element, tags: set[str]) -> bool:
    return any(ancestor.tag in tags for ancestor in element.iterancestors())


# A page paragraph shorter than this is not looked for inside a run-together paragraph:
# "Teilen" occurs in many sentences.
MIN_PIECE_CHARS = 12
# Paragraphs shorter than this cannot be several run together.
MIN_RUN_TOGETHER_CHARS = 80
# How many page paragraphs may be looked for, over the whole page, to take run-together
# paragraphs apart: bounds the work on a hostile page of 100,000 tiny paragraphs.
SEARCH_BUDGET = 200_000


class _PageText:
    """The page's paragraphs without whitespace, one after another, with where each starts."""

    def __init__(self, page: Sequence[Block]) -> None:
        self.blocks = page
        self.squashed = [squash(block.text) for block in page]
        self.starts: list[int] = []
        offset = 0
        for part in self.squashed:
            self.starts.append(offset)
            offset += len(part)
        self.text = "".join(self.squashed)
        self.cursor = 0
        self.budget = SEARCH_BUDGET

    def find(self, squashed: str) -> int:
        """Where the text is, searching on from the last one found (trafilatura keeps the
        page's order), else from the start; -1 when it is not there."""
        at = self.text.find(squashed, self.cursor)
        if at < 0:
            at = self.text.find(squashed)
        if at >= 0:
            self.cursor = at + len(squashed)
        return at

    def segments(self, squashed: str) -> list[tuple[int, int, int | None]]:
        """The paragraph as (start, end, page paragraph index or None) segments, in its own
        whitespace-free coordinates."""
        at = self.find(squashed)
        if at >= 0:
            return self._contiguous(at, at + len(squashed))
        if len(squashed) < MIN_RUN_TOGETHER_CHARS or self.budget <= 0:
            return [(0, len(squashed), None)]
        return self._scattered(squashed)

    def _contiguous(self, start: int, end: int) -> list[tuple[int, int, int | None]]:
        first = bisect.bisect_right(self.starts, start) - 1
        last = bisect.bisect_left(self.starts, end) - 1
        return [
            (max(start, self.starts[i]) - start,
             (min(end, self.starts[i + 1]) if i < last else end) - start, i)
            for i in range(first, last + 1)
        ]

    def _scattered(self, squashed: str) -> list[tuple[int, int, int | None]]:
        """Page paragraphs found one after another inside the paragraph (trafilatura ran them
        together and left something between them out, a caption, a box); the text between
        them is a segment of its own."""
        found: list[tuple[int, int, int | None]] = []
        position = 0
        for index, part in enumerate(self.squashed):
            if len(part) < MIN_PIECE_CHARS:
                continue
            self.budget -= 1
            if self.budget <= 0:
                break
            at = squashed.find(part, position)
            if at < 0:
                continue
            if at > position:
                found.append((position, at, None))
            found.append((at, at + len(part), index))
            position = at + len(part)
            if position >= len(squashed):
                break
        if position < len(squashed):
            found.append((position, len(squashed), None))
        return found


def _split(
    paragraphs: Iterator[Paragraph], page: Sequence[Block], tree: _Element
) -> Iterator[tuple[int, Block]]:
    """trafilatura's paragraphs cut at the page's boundaries, each with the index of the page
    paragraph it comes from (-1 before any), in the page's order (a layout table can make
    trafilatura put a caption or a box before the text around it)."""
    located = _PageText(page)
    ordered: list[tuple[int, int, Block]] = []
    position = -1
    for paragraph in paragraphs:
        for index, block in _pieces(paragraph, located, tree):
            position = index if index is not None else position
            ordered.append((position, len(ordered), block))
    ordered.sort(key=lambda entry: entry[:2])
    return ((position, block) for position, _, block in ordered)


def _with_figures(located: list[tuple[int, Block]], page: Sequence[Block]) -> list[Block]:
    """The paragraphs with what trafilatura left out of their region that is the article's:
    the captions and credits of its photos, and the subheadings between its paragraphs
    (trafilatura drops some ``<h2>``/``<h3>`` it takes for page titles)."""
    found = {index for index, _ in located if index >= 0}
    region = _common_ancestor([page[index].element for index in found])
    if region is None:
        return [block for _, block in located]
    first, last = min(found), max(found)
    extras = [
        (index, block) for index, block in enumerate(page)
        if index not in found and _within(block.element, region)
        and ((block.roles & FIGURE and block.kind in {"caption", "credit"})
             or (block.kind == "heading" and first < index < last))
    ]
    merged = sorted([*located, *extras], key=lambda entry: entry[0])
    return [block for _, block in merged]


def _common_ancestor(elements: list[_Element]) -> _Element | None:
    if not elements:
        return None
    common = [elements[0], *elements[0].iterancestors()]
    for element in elements[1:]:
        around = {element, *element.iterancestors()}
        while common and common[0] not in around:
            common.pop(0)
    return common[0] if common else None


def _within(element: _Element, region: _Element) -> bool:
    """Inside the region, and not in a link or an aside (a teaser's photo or title)."""
    for ancestor in (element, *element.iterancestors()):
        if ancestor is region:
            return True
        if ancestor.tag in {"a", "aside"}:
            return False
    return False


def _pieces(
    paragraph: Paragraph, located: _PageText, tree: _Element
) -> Iterator[tuple[int | None, Block]]:
    text = paragraph.text
    squashed = squash(text)
    if not squashed:
        return
    segments = located.segments(squashed)
    if len(segments) == 1:
        index = segments[0][2]
        source = located.blocks[index] if index is not None else None
        yield index, _like(source, text) if source else Block(text, paragraph.kind, 0, 0.0, tree)
        return
    positions = [i for i, char in enumerate(text) if not char.isspace()]
    for start, end, index in segments:
        piece = normalize_text(text[positions[start] : positions[end - 1] + 1])
        if not piece:
            continue
        if index is None:
            yield None, Block(piece, paragraph.kind, 0, 0.0, tree)
        else:
            yield index, _like(located.blocks[index], piece)


def _like(source: Block, text: str) -> Block:
    return Block(text, source.kind, source.roles, source.link_share, source.element,
                 source.datetime, source.links)
