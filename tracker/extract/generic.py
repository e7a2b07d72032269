"""The generic extractor, for pages that do not say where their article is: trafilatura picks
the text, the page's structure sets the paragraph boundaries.

trafilatura scores best among open extractors in published benchmarks at telling article text
from the rest, but it runs together what the page separates: ``<p>`` elements inside a table
cell, ``<br><br>``-separated text. So its paragraphs are looked up in the page's own
paragraphs (``tracker.extract.structure``, walked before trafilatura modifies the tree),
compared without whitespace, and cut wherever the page has a boundary inside them; each piece
takes the kind and markup roles of the page paragraph it comes from. A paragraph that cannot
be found (trafilatura changed its text) is kept as trafilatura gave it.

trafilatura drops figures. Before it runs, each ``<figure>``'s caption and credit are noted by
image URL; where trafilatura kept the image (as ``<graphic>``), they are put back; figures it
left out (teasers, sidebars) stay out. Pure apart from trafilatura itself, which is called on
a tree, never a URL.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import urljoin

from lxml.etree import _Element

from tracker.document import Paragraph
from tracker.errors import ExtractionError
from tracker.extract.body import squash
from tracker.extract.images import figures_by_image
from tracker.extract.structure import FIGURE, Block
from tracker.normalize import normalize_text

_OUTPUT_KINDS = {"p": "text", "head": "heading", "item": "item", "quote": "quote",
                 "code": "text", "cell": "text"}
# trafilatura's options; benchmarks/bench_extract.py and bench_check.py use the same.
TRAFILATURA_OPTIONS: dict[str, Any] = {
    "include_images": True, "include_comments": False, "include_tables": True,
    "with_metadata": False, "deduplicate": False,
}  # fmt: skip


def generic_blocks(
    tree: _Element, url: str, page: Sequence[Block], *, fast: bool
) -> list[Block]:
    """The article's paragraphs as trafilatura finds them, cut at the page's boundaries."""
    figures = figures_by_image(tree, url)
    output = _trafilatura(tree, url, fast=fast)
    return list(_split(_walk_output(output, figures, url), page, tree))


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


def _walk_output(
    body: _Element, figures: dict[str, list[Paragraph]], url: str
) -> Iterator[Paragraph]:
    emitted: set[str] = set()
    for element in body.iter(*_OUTPUT_KINDS, "graphic"):
        if element.tag == "graphic":
            # trafilatura makes image URLs absolute when it knows the page URL
            try:
                source = urljoin(url, element.get("src", ""))
            except ValueError:
                continue
            for paragraph in figures.pop(source, []):
                emitted.add(paragraph.text)
                yield paragraph
            continue
        if element.tag in {"p", "cell"} and _inside(element, {"item", "quote", "cell"}):
            continue  # the enclosing block is the paragraph (cut again by _split)
        text = normalize_text(" ".join(element.itertext()))
        if text and text not in emitted:
            yield Paragraph(text, _OUTPUT_KINDS[str(element.tag)])


def _inside(element: _Element, tags: set[str]) -> bool:
    return any(ancestor.tag in tags for ancestor in element.iterancestors())


class _PageText:
    """The page's paragraphs as one whitespace-free string, with where each one starts."""

    def __init__(self, page: Sequence[Block]) -> None:
        self.blocks = page
        self.starts: list[int] = []
        parts: list[str] = []
        offset = 0
        for block in page:
            self.starts.append(offset)
            part = squash(block.text)
            parts.append(part)
            offset += len(part)
        self.text = "".join(parts)
        self.cursor = 0

    def find(self, squashed: str) -> int:
        """Where the text is, searching on from the last one found (trafilatura keeps the
        page's order), else from the start; -1 when it is not there."""
        at = self.text.find(squashed, self.cursor)
        if at < 0:
            at = self.text.find(squashed)
        if at >= 0:
            self.cursor = at + len(squashed)
        return at


def _split(
    paragraphs: Iterator[Paragraph], page: Sequence[Block], tree: _Element
) -> Iterator[Block]:
    located = _PageText(page)
    for paragraph in paragraphs:
        if paragraph.kind in {"caption", "credit"}:
            yield Block(paragraph.text, paragraph.kind, FIGURE, 0.0, tree)
            continue
        squashed = squash(paragraph.text)
        at = located.find(squashed) if squashed else -1
        if at < 0:
            yield Block(paragraph.text, paragraph.kind, 0, 0.0, tree)
            continue
        yield from _pieces(paragraph.text, at, at + len(squashed), located)


def _pieces(text: str, start: int, end: int, located: _PageText) -> Iterator[Block]:
    """The paragraph cut at every page paragraph boundary between ``start`` and ``end``, each
    piece with the kind and roles of the page paragraph it comes from."""
    first = bisect.bisect_right(located.starts, start) - 1
    last = bisect.bisect_left(located.starts, end) - 1
    if first == last:  # within one page paragraph: nothing to cut
        yield _like(located.blocks[first], text)
        return
    positions = [index for index, char in enumerate(text) if not char.isspace()]
    for index in range(first, last + 1):
        piece_start = max(start, located.starts[index]) - start
        piece_end = min(end, located.starts[index + 1] if index < last else end) - start
        piece = normalize_text(text[positions[piece_start] : positions[piece_end - 1] + 1])
        if piece:
            yield _like(located.blocks[index], piece)


def _like(source: Block, text: str) -> Block:
    return Block(text, source.kind, source.roles, source.link_share, source.element,
                 source.datetime)
