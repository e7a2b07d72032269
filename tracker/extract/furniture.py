"""Page furniture that the markup gives away, dropped from the paragraphs of a body.

What ``tracker.noise`` cannot see in the text alone, the structure shows:

- **date lines**: a paragraph that is nothing but a ``<time>`` element or an element marked as
  a date ("12 April 2015", "19.06.2024, 14:03 Uhr") is the page's dateline; the dates are
  metadata. In a live blog the entries' time stamps are kept instead, as paragraphs of kind
  ``time`` (a relative one, "vor 5 Minuten", is replaced by its ``datetime`` attribute, so
  it does not change by itself);
- **bylines**: short paragraphs inside a small element marked as byline or author box;
- **the header**: what stands in a ``<header>`` (headline, kicker, standfirst, byline, date)
  introduces the article and is not its body (in a live blog, each entry's header is kept:
  it holds the entry's time and title);
- **links**: a paragraph of two or more links and (nearly) nothing else (a menu, a
  breadcrumb, "E-mail this to a friend | Printable version"); two or more short paragraphs in
  a row that are links and nothing else (related stories, topic tags), with the short heading
  right above them; and under a box label ("Related internet links", "Mehr zum Thema") the
  link-dominated paragraphs and short list entries that follow.

Each rule reports what it dropped through ``note(rule, text)``. Pure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace

from lxml.etree import _Element

from tracker.document import Paragraph
from tracker.extract.markup import BYLINE, FIGURE, HEADER, class_parts
from tracker.extract.structure import Block
from tracker.noise import is_date_line, is_relative_time, is_section_label, is_timestamp_line

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
# Three or more links making up most of a paragraph: a row of tools or a menu.
MANY_LINKS = 3
MOSTLY_LINKS = 0.75
MAX_LABEL_CHARS = 80
_FILTERED = frozenset({"text", "heading", "item", "quote"})


def _ignore(rule: str, text: str) -> None:
    """The default note: nobody asked what was dropped."""


def paragraphs_from(
    found: Sequence[Block], *, live: bool = False, note: Note = _ignore
) -> list[Paragraph]:
    """The paragraphs of ``found`` without the furniture above."""
    kept = _captions_beside_credits(list(_without_link_lists(found, note)))
    return [p for block in kept if (p := _paragraph(block, live, note)) is not None]


# A photo box without <figure>: an image, a short text and a credit in one small container.
MAX_CAPTION_CHARS = 300
_PHOTO_BOX_LEVELS = 3
_PHOTO_BOX_SLACK = 100  # characters of the box that are neither caption nor credit


def _captions_beside_credits(found: list[Block]) -> list[Block]:
    """A short text right next to a credit, both in a small element showing an image, is
    that image's caption ("absatzbild__info__text" beside "Bild: dpa")."""
    result = list(found)
    for index, block in enumerate(found):
        if block.kind != "credit" or block.roles & FIGURE:
            continue
        for other in (index - 1, index + 1):
            if 0 <= other < len(found) and _caption_of_photo(found[other], block):
                result[other] = replace(found[other], kind="caption")
    return result


def _caption_of_photo(block: Block, credit: Block) -> bool:
    if block.kind != "text" or len(block.text) > MAX_CAPTION_CHARS:
        return False
    around = list(credit.element.iterancestors())[:_PHOTO_BOX_LEVELS]
    most = len(block.text) + len(credit.text) + _PHOTO_BOX_SLACK
    for box in around:
        if box.tag in {"body", "html", "article", "main"} or len(box.text_content()) > most:
            return False
        inside = block.element is box or box in block.element.iterancestors()
        if inside and next(box.iter("img", "picture", "amp-img"), None) is not None:
            return True
    return False


def _paragraph(block: Block, live: bool, note: Note) -> Paragraph | None:
    if block.time_only and block.kind in _FILTERED:
        if live:
            return _time_stamp(block)
        if is_date_line(block.text) or is_timestamp_line(block.text):
            note("date line", block.text)
            return None
    if block.roles & HEADER and not live and block.kind in _FILTERED:
        note("article header", block.text)
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
        block = found[index]
        if _is_navigation(block):
            note("navigation links", block.text)
            index += 1
            continue
        if is_section_label(block.text) and block.kind in {"heading", "text"}:
            end = index + 1
            while end < len(found) and _in_box(found[end]):
                end += 1
            note("box label", block.text)
            for listed in found[index + 1 : end]:
                note("link under a box label", listed.text)
            index = end
            continue
        end = index
        while end < len(found) and _is_link_entry(found[end]):
            end += 1
        if end - index >= MIN_LINK_RUN:
            for listed in found[index:end]:
                note("link list", listed.text)
            index = end
            continue
        following = found[index + 1 : index + 1 + MIN_LINK_RUN]
        if _is_label(block) and len(following) == MIN_LINK_RUN and all(
            _is_link_entry(b) for b in following
        ):
            note("link list", block.text)
        else:
            yield block
        index += 1


def _is_navigation(block: Block) -> bool:
    """Two or more links and (nearly) nothing else: a menu, a breadcrumb, a row of tools."""
    if block.kind not in _FILTERED:
        return False
    return (block.links >= 2 and block.link_share >= LINK_ONLY) or (
        block.links >= MANY_LINKS and block.link_share >= MOSTLY_LINKS
    )


def _in_box(block: Block) -> bool:
    """Under a box label ("Related", "Mehr zum Thema"): its links, and short list entries."""
    if block.kind in {"caption", "credit", "heading"}:
        return False
    return (block.link_share >= 0.5 or (block.links >= 2 and block.link_share >= 0.3)
            or (block.kind == "item" and len(block.text) <= 200))


def _is_link_entry(block: Block) -> bool:
    return (block.kind in {"text", "item"} and block.link_share >= LINK_ONLY
            and len(block.text) <= MAX_LINK_CHARS)


def _is_label(block: Block) -> bool:
    if len(block.text) > MAX_LABEL_CHARS:
        return False
    return block.kind == "heading" or (block.kind == "text" and is_section_label(block.text))
