"""What a page's markup says about its text, beyond the tags: class and id names (a date, a
byline, a credit, a caption, a subheading), text no reader sees (``hidden``, ``display:none``,
screen-reader-only labels), AMP's ad and widget elements, photo credits, and the tool links of
photo services in captions. Used by the walk in ``tracker.extract.structure`` and by the
furniture rules. Pure.
"""

from __future__ import annotations

import re
from functools import lru_cache

from lxml.etree import _Element

from tracker.normalize import normalize_text

# Never text a reader reads as part of the page.
SKIP_TAGS = frozenset({
    "script", "style", "noscript", "template", "head", "title", "svg", "math", "iframe",
    "object", "embed", "canvas", "video", "audio", "select", "option", "button", "input",
    "textarea", "map", "area", "amp-ad", "amp-embed", "amp-analytics", "amp-sticky-ad",
    "amp-consent", "amp-social-share", "amp-sidebar", "amp-iframe", "amp-state", "amp-pixel",
})  # fmt: skip
# Labels for screen readers only ("Image caption, ", ", opens new tab"): a seeing reader never
# reads them, and they would make every caption differ from the page as shown.
# Compared with each class name lower-cased and without separators, at its end, so that
# generated names such as "ssrcss-1h4xg4-VisuallyHidden" count too.
_SCREEN_READER_ONLY = (
    "visuallyhidden", "sronly", "screenreadertext", "screenreaderonly", "a11yhidden",
    "assistivetext", "elementinvisible", "offscreen",
)
_DISPLAY_NONE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)

# What a block's markup says about it (bit flags, combined along the ancestors).
TIME = 1  # in a <time> element or one whose class marks a date ("date", "timestamp", …)
BYLINE = 2  # in an element marked as the byline or the author box
CREDIT = 4  # marked as a photo credit or copyright line
CAPTION = 8  # marked as a caption
FIGURE = 16  # inside a <figure>
LINK = 32  # inside a link
BOLD = 64  # in <b> or <strong>

_TIME_PARTS = frozenset({
    "date", "time", "timestamp", "datetime", "dateline", "pubdate", "published", "updated",
    "datum", "zeitstempel", "publishdate", "publish",
})  # fmt: skip
_BYLINE_PARTS = frozenset({
    "byline", "bylines", "author", "authors", "autor", "autoren", "contributor",
    "contributors", "writer",
})  # fmt: skip
_CAPTION_PARTS = frozenset({"caption", "cap", "bildunterschrift", "legende", "figcaption"})
_HEADING_PARTS = frozenset({
    "subhead", "subheadline", "subheading", "crosshead", "intertitle", "zwischentitel",
    "zwischenueberschrift", "zwischenüberschrift",
})  # fmt: skip
HEADING = 128  # marked as a subheading by class
HEADER = 256  # inside a <header>: headline, kicker, standfirst, byline, date
# In a figure, the class words that have always meant the credit (also "source", "byline");
# outside one only the unambiguous ones.
_FIGURE_CREDIT = re.compile(r"credit|copyright|source|photographer|byline", re.IGNORECASE)
_CREDIT = re.compile(r"credit|copyright|photographer|bildnachweis|fotograf", re.IGNORECASE)
# A line in a caption that names the photographer or agency: "Foto: Boris Roessler / dpa",
# "© imago", "Photograph: Jorge Guerrero/AFP/Getty Images", "Stringer/Getty Images".
_CREDIT_LABEL = re.compile(
    r"\s*(?:(?:foto|fotos|photo|photos|photograph|photography|bild|bilder|image|images|credit"
    r"|credits|quelle|source|grafik|graphic|illustration|video|karte|map)\s*:|©|\(c\)\s"
    r"|copyright\b)",
    re.IGNORECASE,
)
_AGENCY_END = re.compile(
    r"\b(?:getty images|afp via getty images|ap photo|associated press|reuters|dpa|afp|epa|imago"
    r"|picture alliance|picture-alliance|keystone|shutterstock|istock|alamy|ddp|pool)\)?\s*$",
    re.IGNORECASE,
)
MAX_CREDIT_CHARS = 120

def looks_like_credit(text: str) -> bool:
    """Whether a caption's line is its photo credit (a label, or names ending in an agency)."""
    if not text or len(text) > MAX_CREDIT_CHARS:
        return False
    if _CREDIT_LABEL.match(text):
        return True
    return len(text) <= 80 and ". " not in text and bool(_AGENCY_END.search(text))


_CREDIT_TAGS = frozenset({"cite", "small", "span", "em", "i", "b", "strong"})
# Links in a caption that are the photo service's tools, not words of the caption.
_CAPTION_TOOL = re.compile(
    r"(?:purchase|buy|license)\s+(?:licensing\s+rights|this\s+(?:photo|image|picture)"
    r"|(?:photo|image|print)s?)|(?:enlarge|zoom)(?:\s+(?:photo|image|picture))?"
    r"|bild\s+vergrößern|vergrößern|bild\s+kaufen|foto\s+kaufen|nutzungsrechte\s+erwerben",
    re.IGNORECASE,
)
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


@lru_cache(maxsize=8192)
def class_parts(value: str) -> frozenset[str]:
    """The lower-case words of class and id names ("storyBody__date" → story, body, date)."""
    words = _CAMEL.sub("-", value).lower()
    return frozenset(part for part in re.split(r"[^a-z0-9äöüß]+", words) if part)


@lru_cache(maxsize=8192)
def roles_of_names(names: str, in_figure: bool) -> int:
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
    if parts & _HEADING_PARTS:
        roles |= HEADING
    return roles


def hidden(element: _Element) -> bool:
    """Whether no reader sees the element: hidden, display:none, or for screen readers only."""
    if element.get("hidden") is not None:
        return True
    style = element.get("style")
    if style and _DISPLAY_NONE.search(style):
        return True
    names = element.get("class")
    return bool(names) and _screen_reader_only(names)


# Class names worth asking ``hidden`` about (a plain loop with this beats an XPath query).
_MAYBE_HIDDEN = re.compile(r"hidden|only|screen|assistive|invisible", re.IGNORECASE)


# AMP's ad, embed and widget elements: their placeholder text ("Advertisement", "Ad failed to
# load", "Recommended stories") is never the article's.
_AMP_FURNITURE = tuple(tag for tag in SKIP_TAGS if tag.startswith("amp-"))


def drop_hidden(tree: _Element) -> int:
    """Remove what no reader sees (see ``hidden``) and AMP's ad and widget elements from the
    tree, keeping the text after each; returns how many elements went. Before trafilatura
    runs: it reads them."""
    dropped = 0
    for element in list(tree.iter(*_AMP_FURNITURE)):
        if element.getparent() is not None:
            element.drop_tree()
            dropped += 1
    for element in list(tree.iter()):
        if not element.keys() or element.tag == "html" or element.getparent() is None:
            continue
        names = element.get("class")
        maybe = (element.get("hidden") is not None or element.get("style")
                 or (names and _MAYBE_HIDDEN.search(names)))
        if maybe and hidden(element) and not _detached(element, tree):
            element.drop_tree()
            dropped += 1
    return dropped


def _detached(element: _Element, root: _Element) -> bool:
    return root not in {element, *element.iterancestors()}


@lru_cache(maxsize=4096)
def _screen_reader_only(names: str) -> bool:
    squashed = (re.sub(r"[^a-z0-9]", "", name.lower()) for name in names.split())
    return any(name.endswith(_SCREEN_READER_ONLY) for name in squashed)


def caption_tool(link: _Element) -> bool:
    text = normalize_text(link.text_content())
    return bool(text) and len(text) <= 40 and bool(_CAPTION_TOOL.fullmatch(text))


def inline_credit(element: _Element, tag: str, roles: int) -> bool:
    """An inline element of a caption that is the photo credit: its own paragraph."""
    if roles & CREDIT:
        return True
    if tag not in _CREDIT_TAGS:
        return False
    return looks_like_credit(normalize_text(element.text_content()))


def inside_figure(element: _Element) -> bool:
    return any(a.tag == "figure" and is_photo(a) for a in element.iterancestors())


_MEDIA = ("img", "picture", "amp-img", "video", "amp-video", "svg", "canvas")


def is_photo(figure: _Element) -> bool:
    """A figure that shows a picture or a video; a <figure> wrapping an embed (a sign-up form,
    a quote box) is a container like any other."""
    return next(figure.iter(*_MEDIA), None) is not None
