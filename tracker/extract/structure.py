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

import re
from dataclasses import dataclass
from functools import lru_cache

from lxml.etree import _Element, iterwalk

from tracker.normalize import normalize_text

# Stands for a <br> in the text being collected: control characters are removed from a page
# before it is parsed (tracker.extract.page), so this one never occurs in page text.
BR = "\x00"
_BR_RUN = re.compile(rf"{BR}\s*(?:{BR}\s*)+")

BLOCK_TAGS = frozenset({
    "address", "article", "aside", "blockquote", "body", "caption", "center", "dd", "details",
    "dialog", "dir", "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form",
    "h1", "h2", "h3", "h4", "h5", "h6", "header", "hgroup", "hr", "html", "legend", "li",
    "main", "menu", "nav", "ol", "p", "pre", "section", "summary", "table", "tbody", "td",
    "tfoot", "th", "thead", "tr", "ul",
})  # fmt: skip
# Never text a reader reads as part of the page.
SKIP_TAGS = frozenset({
    "script", "style", "noscript", "template", "head", "title", "svg", "math", "iframe",
    "object", "embed", "canvas", "video", "audio", "select", "option", "button", "input",
    "textarea", "map", "area", "amp-ad", "amp-embed", "amp-analytics", "amp-sticky-ad",
    "amp-consent", "amp-social-share", "amp-sidebar", "amp-iframe", "amp-state", "amp-pixel",
})  # fmt: skip
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_ITEMS = frozenset({"li", "dd", "dt"})
# Labels for screen readers only ("Image caption, ", ", opens new tab"): a seeing reader never
# reads them, and they would make every caption differ from the page as shown.
_SCREEN_READER_ONLY = frozenset({
    "visually-hidden", "visuallyhidden", "sr-only", "screen-reader-text", "screenreader-only",
    "screen-reader-only", "a11y-hidden", "assistive-text", "offscreen", "element-invisible",
})  # fmt: skip
_DISPLAY_NONE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)

# What a block's markup says about it (bit flags, combined along the ancestors).
TIME = 1  # in a <time> element or one whose class marks a date ("date", "timestamp", …)
BYLINE = 2  # in an element marked as the byline or the author box
CREDIT = 4  # marked as a photo credit or copyright line
CAPTION = 8  # marked as a caption
FIGURE = 16  # inside a <figure>
LINK = 32  # inside a link

_TIME_PARTS = frozenset({
    "date", "time", "timestamp", "datetime", "dateline", "pubdate", "published", "updated",
    "datum", "zeitstempel", "publishdate", "publish",
})  # fmt: skip
_BYLINE_PARTS = frozenset({
    "byline", "bylines", "author", "authors", "autor", "autoren", "contributor",
    "contributors", "writer",
})  # fmt: skip
_CAPTION_PARTS = frozenset({"caption", "bildunterschrift", "legende", "figcaption"})
# In a figure, the class words that have always meant the credit (also "source", "byline");
# outside one only the unambiguous ones.
_FIGURE_CREDIT = re.compile(r"credit|copyright|source|photographer|byline", re.IGNORECASE)
_CREDIT = re.compile(r"credit|copyright|photographer|bildnachweis|fotograf", re.IGNORECASE)
# An inline line in a caption that names the photographer or agency.
CREDIT_TEXT = re.compile(
    r"(?:foto|fotos|photo|photos|photograph|photography|bild|bilder|image|images|credit|quelle"
    r"|source|grafik|graphic|illustration|video|karte|map)\s*:"
    r"|^\s*(?:©|\(c\)|copyright\b)"
    r"|\b(?:getty images|afp via getty|ap photo|associated press|reuters|dpa|afp|epa|imago"
    r"|picture alliance|picture-alliance|keystone|shutterstock|istock|alamy|ddp)\b\s*$",
    re.IGNORECASE,
)
_CREDIT_TAGS = frozenset({"cite", "small", "span", "em", "i", "b", "strong"})
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


@dataclass(frozen=True, slots=True)
class Block:
    """One paragraph of the page as its markup separates them."""

    text: str  # normalised
    kind: str  # text | heading | item | quote | caption | credit
    roles: int  # the flags above that hold for all of its text
    link_share: float  # share of its characters inside links
    element: _Element  # the block-level element it stands in
    datetime: str | None = None  # the datetime attribute when it is all one <time>

    @property
    def time_only(self) -> bool:
        return bool(self.roles & TIME)


@lru_cache(maxsize=8192)
def class_parts(value: str) -> frozenset[str]:
    """The lower-case words of class and id names ("storyBody__date" → story, body, date)."""
    words = _CAMEL.sub("-", value).lower()
    return frozenset(part for part in re.split(r"[^a-z0-9äöüß]+", words) if part)


@lru_cache(maxsize=8192)
def _roles_of_names(names: str, in_figure: bool) -> int:
    parts = class_parts(names)
    roles = 0
    if parts & _TIME_PARTS:
        roles |= TIME
    if parts & _BYLINE_PARTS and not in_figure:
        roles |= BYLINE
    if (_FIGURE_CREDIT if in_figure else _CREDIT).search(names):
        roles |= CREDIT
    if parts & _CAPTION_PARTS:
        roles |= CAPTION
    return roles


def hidden(element: _Element) -> bool:
    """Whether no reader sees the element: hidden, display:none, or for screen readers only."""
    if element.get("hidden") is not None:
        return True
    style = element.get("style")
    if style and _DISPLAY_NONE.search(style):
        return True
    names = element.get("class")
    return bool(names and class_parts(names) & _SCREEN_READER_ONLY)


@dataclass(slots=True)
class _Frame:
    """An open element: its roles hold for the text inside it; ``block`` is the block-level
    element (this one or the nearest around it) its text belongs to."""

    element: _Element
    roles: int
    kind: str
    block: _Element
    skipped: bool = False


class _Walk:
    """The state of one walk: the open elements and the text collected since the last
    paragraph boundary, as (text, roles) pieces."""

    def __init__(self, root: _Element) -> None:
        in_figure = _inside_figure(root)
        roles = _roles(root, FIGURE if in_figure else 0, in_figure)
        kind = _child_kind("text", str(root.tag), roles, in_figure)
        self.frames = [_Frame(root, roles, kind, root)]
        self.pieces: list[tuple[str, int]] = []
        self.time_value: str | None = None
        self.out: list[Block] = []

    def add(self, text: str | None, roles: int) -> None:
        if text:
            self.pieces.append((text, roles))

    def start(self, element: _Element, tag: str) -> None:
        parent = self.frames[-1]
        in_figure = bool(parent.roles & FIGURE) or tag == "figure"
        roles = _roles(element, parent.roles, in_figure)
        if tag == "time" and element.get("datetime"):
            self.time_value = element.get("datetime")
        if _is_block(tag) or (in_figure and _inline_credit(element, tag, roles)):
            self.flush()
            kind = _child_kind(parent.kind, tag, roles, in_figure)
            self.frames.append(_Frame(element, roles, kind, element))
        else:
            self.frames.append(_Frame(element, roles, parent.kind, parent.block))
        if tag == "br":
            self.add(BR, roles)
        self.add(element.text, roles)

    def skip(self, element: _Element) -> None:
        parent = self.frames[-1]
        self.frames.append(_Frame(element, parent.roles, parent.kind, parent.block, True))

    def end(self, element: _Element) -> None:
        frame = self.frames.pop()
        if frame.block is element and not frame.skipped:
            self.flush(frame)
        self.add(element.tail, self.frames[-1].roles)

    def flush(self, frame: _Frame | None = None) -> None:
        if not self.pieces:
            return
        frame = frame or self.frames[-1]
        pieces, self.pieces = self.pieces, []
        if any(BR in text for text, _ in pieces) and _BR_RUN.search("".join(t for t, _ in pieces)):
            self._split_at_breaks(pieces, frame)
        else:
            self._emit(pieces, frame)

    def _split_at_breaks(self, pieces: list[tuple[str, int]], frame: _Frame) -> None:
        """``a<br><br>b`` is two paragraphs. Each <br> is a piece of its own, so a run of them
        is a run of pieces that hold nothing but breaks and spaces."""
        current: list[tuple[str, int]] = []
        breaks = 0
        for text, roles in pieces:
            if text == BR:
                breaks += 1
            elif text.strip():
                if breaks >= 2:
                    self._emit(current, frame)
                    current = []
                breaks = 0
            current.append((text, roles))
        self._emit(current, frame)

    def _emit(self, pieces: list[tuple[str, int]], frame: _Frame) -> None:
        roles = -1
        chars = linked = 0
        for text, piece_roles in pieces:
            visible = len(text.strip()) if text != BR else 0
            if not visible:
                continue
            roles &= piece_roles
            chars += visible
            if piece_roles & LINK:
                linked += visible
        text = normalize_text("".join(t for t, _ in pieces).replace(BR, " "))
        if not text or roles == -1:
            return
        datetime = self.time_value if roles & TIME else None
        self.out.append(Block(text, _kind(frame.kind, roles), roles,
                              linked / chars if chars else 0.0, frame.block, datetime))
        self.time_value = None


def blocks(root: _Element, *, skip: frozenset[str] = frozenset()) -> list[Block]:
    """The paragraphs inside ``root`` in document order; ``skip``: more tags to leave out."""
    walk = _Walk(root)
    walker = iterwalk(root, events=("start", "end"))
    for event, element in walker:
        if element is root:
            if event == "start":
                walk.add(root.text, walk.frames[0].roles)
            continue
        if event == "end":
            walk.end(element)
            continue
        tag = element.tag
        if not isinstance(tag, str) or tag in SKIP_TAGS or tag in skip or hidden(element):
            walker.skip_subtree()  # its "end" still comes, and adds the tail
            walk.skip(element)
            continue
        walk.start(element, tag)
    walk.flush()
    return walk.out


def _is_block(tag: str) -> bool:
    return tag in BLOCK_TAGS or "-" in tag


def _inline_credit(element: _Element, tag: str, roles: int) -> bool:
    """An inline element of a caption that is the photo credit: its own paragraph."""
    if roles & CREDIT:
        return True
    if tag not in _CREDIT_TAGS:
        return False
    text = normalize_text(element.text_content())
    return bool(text) and len(text) <= 120 and bool(CREDIT_TEXT.search(text))


def _roles(element: _Element, inherited: int, in_figure: bool) -> int:
    """The element's roles: those of its ancestors and what its own tag and names add."""
    roles = inherited
    tag = element.tag
    if tag == "a" and element.get("href") is not None:
        roles |= LINK
    elif tag == "time":
        roles |= TIME
    elif tag == "figure":
        roles |= FIGURE
    names = " ".join(filter(None, (element.get("class"), element.get("id"),
                                   element.get("itemprop"))))
    if names:
        roles |= _roles_of_names(names, in_figure)
    return roles


def _inside_figure(element: _Element) -> bool:
    return any(ancestor.tag == "figure" for ancestor in element.iterancestors())


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


def _kind(kind: str, roles: int) -> str:
    """The block's kind, with what its own text's markup says: a credit line is a credit."""
    if kind in {"caption", "credit"}:
        return "credit" if roles & CREDIT else kind
    if roles & CREDIT:
        return "credit"
    if roles & CAPTION:
        return "caption"
    return kind
