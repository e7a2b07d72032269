"""Page furniture that the markup gives away, dropped from the paragraphs of a body.

What ``tracker.noise`` cannot see in the text alone, the structure shows:

- **date lines**: a paragraph that is nothing but a ``<time>`` element or an element marked as
  a date ("12 April 2015", "19.06.2024, 14:03 Uhr") is the page's dateline; the dates are
  metadata. In a live blog the entries' time stamps are kept instead, as paragraphs of kind
  ``time`` (a relative one, "vor 5 Minuten", is replaced by its ``datetime`` attribute, so
  it does not change by itself);
- **bylines**: short paragraphs inside a small element marked as byline or author box;
- **link lists**: two or more short paragraphs in a row that are links and nothing else
  (related stories, topic tags), with the short heading right above them.

Each rule reports what it dropped through ``note(rule, text)``. Pure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from lxml.etree import _Element

from tracker.document import Paragraph
from tracker.extract.structure import BYLINE, Block, class_parts
from tracker.noise import is_date_line, is_relative_time, is_timestamp_line

Note = Callable[[str, str], None]
# A byline is short, and so is the box holding it.
MAX_BYLINE_CHARS = 200
MAX_BYLINE_BOX_CHARS = 400
_BYLINE_WORDS = frozenset({"byline", "bylines", "author", "authors", "autor", "autoren",
                           "contributor", "contributors", "writer"})
# A link list's entries: short, and (nearly) all link text.
MAX_LINK_CHARS = 150
LINK_ONLY = 0.9
MIN_LINK_RUN = 2
MAX_LABEL_CHARS = 80
_FILTERED = frozenset({"text", "heading", "item", "quote"})


def _ignore(rule: str, text: str) -> None:
    """The default note: nobody asked what was dropped."""


def paragraphs_from(
    found: Sequence[Block], *, live: bool = False, note: Note = _ignore
) -> list[Paragraph]:
    """The paragraphs of ``found`` without the furniture above."""
    kept = list(_without_link_lists(found, note))
    return [p for block in kept if (p := _paragraph(block, live, note)) is not None]


def _paragraph(block: Block, live: bool, note: Note) -> Paragraph | None:
    if block.time_only and block.kind in _FILTERED:
        if live:
            return _time_stamp(block)
        if is_date_line(block.text) or is_timestamp_line(block.text):
            note("date line", block.text)
            return None
    if block.roles & BYLINE and block.kind in _FILTERED and _is_byline(block):
        note("byline", block.text)
        return None
    return Paragraph(block.text, block.kind)


def _time_stamp(block: Block) -> Paragraph | None:
    if is_relative_time(block.text):
        return Paragraph(block.datetime, "time") if block.datetime else None
    return Paragraph(block.text, "time")


def _is_byline(block: Block) -> bool:
    if len(block.text) > MAX_BYLINE_CHARS:
        return False
    box = _marked(block.element)
    return box is None or len(box.text_content()) <= MAX_BYLINE_BOX_CHARS


def _marked(element: _Element) -> _Element | None:
    """The element (this one or around it) whose class or id says byline or author."""
    for candidate in (element, *element.iterancestors()):
        names = " ".join(filter(None, (candidate.get("class"), candidate.get("id"))))
        if names and class_parts(names) & _BYLINE_WORDS:
            return candidate
    return None


def _without_link_lists(found: Sequence[Block], note: Note) -> Iterator[Block]:
    index = 0
    while index < len(found):
        end = index
        while end < len(found) and _is_link_entry(found[end]):
            end += 1
        if end - index >= MIN_LINK_RUN:
            for block in found[index:end]:
                note("link list", block.text)
            index = end
            continue
        block = found[index]
        following = found[index + 1 : index + 1 + MIN_LINK_RUN]
        if _is_label(block) and len(following) == MIN_LINK_RUN and all(
            _is_link_entry(b) for b in following
        ):
            note("link list", block.text)
        else:
            yield block
        index += 1


def _is_link_entry(block: Block) -> bool:
    return (block.kind in {"text", "item"} and block.link_share >= LINK_ONLY
            and len(block.text) <= MAX_LINK_CHARS)


def _is_label(block: Block) -> bool:
    return block.kind == "heading" and len(block.text) <= MAX_LABEL_CHARS
