"""Paragraphs from the page's own structure: where a reader sees one paragraph end and the next
begin, whatever elements the site uses for it.

``blocks(root)`` walks an element in document order and cuts its text into ``Block``s at every
block-level element (``<p>``, ``<div>``, table cells, list items, block quotes, headings,
figure captions, custom elements) and at every run of two or more ``<br>``; inline elements
(links, emphasis, ``<span>``, ``<time>``, a single ``<br>``) stay inside the paragraph. So
``<p>`` elements inside a table cell, ``<br><br>``-separated text and ``<div>``-only layouts
all come out one paragraph per paragraph. Scripts, styles, forms' controls, embedded media
and text hidden from every reader (``hidden``, ``display:none``, screen-reader-only labels
such as "Image caption, ") are skipped.

Each block carries what the markup says about it, for the furniture rules: its kind (text,
heading, item, quote, caption, credit), whether all of its text sits in a ``<time>`` or a
date-marked element, in a byline, and how much of it is link text. Inside a ``<figure>`` an
inline element marked as a credit (by class, or a ``<cite>``/``<small>``/``<span>`` whose text
reads like one: "Foto: dpa", "Photograph: …/Reuters") is a paragraph of its own, so a caption
with an inline credit keeps both.

The walk is iterative (``lxml.etree.iterwalk``): deep nesting costs no recursion. Pure: lxml
elements in, plain values out.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml.etree import _Element, iterwalk

from tracker.extract.markup import (
    BOLD,
    CAPTION,
    CREDIT,
    FIGURE,
    HEADER,
    HEADING,
    LINK,
    SKIP_TAGS,
    TIME,
    caption_tool,
    hidden,
    inline_credit,
    inside_figure,
    is_photo,
    looks_like_credit,
    roles_of_names,
)
from tracker.normalize import normalize_text

# Stands for a <br> in the text being collected: control characters are removed from a page
# before it is parsed (tracker.extract.page), so this one never occurs in page text.
BR = "\x00"

BLOCK_TAGS = frozenset({
    "address", "article", "aside", "blockquote", "body", "caption", "center", "dd", "details",
    "dialog", "dir", "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form",
    "h1", "h2", "h3", "h4", "h5", "h6", "header", "hgroup", "hr", "html", "legend", "li",
    "main", "menu", "nav", "ol", "p", "pre", "section", "summary", "table", "tbody", "td",
    "tfoot", "th", "thead", "tr", "ul",
})  # fmt: skip
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_ITEMS = frozenset({"li", "dd", "dt"})


@dataclass(frozen=True, slots=True)
class Block:
    """One paragraph of the page as its markup separates them."""

    text: str  # normalised
    kind: str  # text | heading | item | quote | caption | credit
    roles: int  # the flags above that hold for all of its text
    link_share: float  # share of its characters inside links
    element: _Element  # the block-level element it stands in
    datetime: str | None = None  # the datetime attribute when it is all one <time>
    links: int = 0  # how many links its text holds

    @property
    def time_only(self) -> bool:
        return bool(self.roles & TIME)


@dataclass(slots=True)
class _Frame:
    """An open element: its roles hold for the text inside it; ``block`` is the block-level
    element (this one or the nearest around it) its text belongs to; ``link`` tells the
    links apart (the number of the ``<a href>`` around, 0 outside links)."""

    element: _Element
    roles: int
    kind: str
    block: _Element
    link: int = 0
    skipped: bool = False


# A run of text with the roles and the link it stands in.
_Piece = tuple[str, int, int]


class _Walk:
    """The state of one walk: the open elements and the text collected since the last
    paragraph boundary, as pieces."""

    def __init__(self, root: _Element) -> None:
        in_figure = inside_figure(root) or (root.tag == "figure" and is_photo(root))
        roles = _roles(root, FIGURE if inside_figure(root) else 0, in_figure)
        kind = _child_kind("text", str(root.tag), roles, in_figure)
        self.frames = [_Frame(root, roles, kind, root)]
        self.pieces: list[_Piece] = []
        self.time_value: str | None = None
        self.links = 0
        self.out: list[Block] = []

    def add(self, text: str | None, frame: _Frame) -> None:
        if text:
            self.pieces.append((text, frame.roles, frame.link))

    def start(self, element: _Element, tag: str) -> None:
        parent = self.frames[-1]
        in_figure = bool(parent.roles & FIGURE) or (tag == "figure" and is_photo(element))
        roles = _roles(element, parent.roles, in_figure)
        link = parent.link
        if roles & LINK and not parent.roles & LINK:
            self.links += 1  # a number per link: lxml's element proxies do not keep their id()
            link = self.links
        if tag == "time" and element.get("datetime"):
            self.time_value = element.get("datetime")
        block = tag in BLOCK_TAGS or "-" in tag
        credit = in_figure and not block and inline_credit(element, tag, roles)
        if credit:
            roles |= CREDIT
        if block or credit:
            self.flush()
            kind = _child_kind(parent.kind, tag, roles, in_figure)
            frame = _Frame(element, roles, kind, element, link)
        else:
            frame = _Frame(element, roles, parent.kind, parent.block, link)
        self.frames.append(frame)
        if tag == "br":
            self.pieces.append((BR, roles, link))
        self.add(element.text, frame)

    def skip(self, element: _Element) -> None:
        parent = self.frames[-1]
        self.frames.append(
            _Frame(element, parent.roles, parent.kind, parent.block, parent.link, skipped=True)
        )

    def end(self, element: _Element) -> None:
        frame = self.frames.pop()
        if frame.block is element and not frame.skipped:
            self.flush(frame)
        self.add(element.tail, self.frames[-1])

    def flush(self, frame: _Frame | None = None) -> None:
        if not self.pieces:
            return
        frame = frame or self.frames[-1]
        pieces, self.pieces = self.pieces, []
        breaks = sum(1 for text, _, _ in pieces if text == BR)
        if breaks >= 2:
            self._split_at_breaks(pieces, frame)
        else:
            self._emit(pieces, frame)

    def _split_at_breaks(self, pieces: list[_Piece], frame: _Frame) -> None:
        """``a<br><br>b`` is two paragraphs. Each <br> is a piece of its own, so a run of them
        is a run of pieces that hold nothing but breaks and spaces."""
        current: list[_Piece] = []
        breaks = 0
        for piece in pieces:
            text = piece[0]
            if text == BR:
                breaks += 1
            elif text.strip():
                if breaks >= 2:
                    self._emit(current, frame)
                    current = []
                breaks = 0
            current.append(piece)
        self._emit(current, frame)

    def _emit(self, pieces: list[_Piece], frame: _Frame) -> None:
        roles = -1
        chars = linked = 0
        links: set[int] = set()
        for text, piece_roles, link in pieces:
            visible = len(text.strip()) if text != BR else 0
            if not visible:
                continue
            roles &= piece_roles
            chars += visible
            if link:
                linked += visible
                links.add(link)
        text = normalize_text("".join([t for t, _, _ in pieces]).replace(BR, " "))
        if not text or roles == -1:
            return
        datetime = self.time_value if roles & TIME else None
        kind = _kind(frame.kind, roles, text)
        share = linked / chars if chars else 0.0
        self.out.append(Block(text, kind, roles, share, frame.block, datetime, len(links)))
        self.time_value = None


def blocks(root: _Element, *, skip: frozenset[str] = frozenset()) -> list[Block]:
    """The paragraphs inside ``root`` in document order; ``skip``: more tags to leave out."""
    walk = _Walk(root)
    walker = iterwalk(root, events=("start", "end"))
    for event, element in walker:
        if element is root:
            if event == "start":
                walk.add(root.text, walk.frames[0])
            continue
        if event == "end":
            walk.end(element)
            continue
        tag = element.tag
        if (not isinstance(tag, str) or tag in SKIP_TAGS or tag in skip or hidden(element)
                or (tag == "a" and walk.frames[-1].roles & FIGURE and caption_tool(element))):
            walker.skip_subtree()  # its "end" still comes, and adds the tail
            walk.skip(element)
            continue
        walk.start(element, tag)
    walk.flush()
    return walk.out


def _roles(element: _Element, inherited: int, in_figure: bool) -> int:
    """The element's roles: those of its ancestors and what its own tag and names add."""
    roles = inherited
    tag = element.tag
    if tag == "a" and element.get("href") is not None:
        roles |= LINK
    elif tag in {"b", "strong"}:
        roles |= BOLD
    elif tag == "time":
        roles |= TIME
    elif tag == "figure" and in_figure:
        roles |= FIGURE
    elif tag == "header":
        roles |= HEADER
    names = " ".join(filter(None, (element.get("class"), element.get("id"),
                                   element.get("itemprop"))))
    if names:
        roles |= roles_of_names(names, in_figure)
    return roles


def _child_kind(parent: str, tag: str, roles: int, in_figure: bool) -> str:
    if tag in _HEADINGS:
        return "heading"
    if in_figure or tag == "figcaption":
        return "credit" if roles & CREDIT else "caption"
    if tag in _ITEMS:
        return "item"
    if tag == "blockquote":
        return "quote"
    return parent


def _kind(kind: str, roles: int, text: str) -> str:
    """The block's kind, with what its own text's markup says: a credit line is a credit, a
    short line all in bold or marked as a subheading is a heading."""
    if kind in {"caption", "credit"}:
        return "credit" if roles & CREDIT or looks_like_credit(text) else kind
    if roles & CREDIT:
        return "credit"
    if roles & CAPTION:
        return "caption"
    if kind == "text" and roles & (BOLD | HEADING) and _heading_like(text):
        return "heading"
    return kind


# A subheading is short and no sentence: a bold sentence is emphasis.
MAX_HEADING_CHARS = 100


def _heading_like(text: str) -> bool:
    return len(text) <= MAX_HEADING_CHARS and not text.endswith((".", ",", ";", ":", "!"))
