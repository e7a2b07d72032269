"""Generic page noise that is not news: boilerplate boxes and lines that extraction lets through.

Two layers, both always on and deliberately conservative (a miss costs a spurious version, a
false hit loses article text, which is worse):

- ``drop_noise_elements`` removes, before the main text is extracted, elements whose class, id,
  ``data-component``/``data-testid``/``data-area``/``data-module``, role or aria-label marks
  them as share bars, social widgets, newsletter boxes, adverts, "most read" boxes, related
  links, promos, teasers or pagination. Strong markers (share, social, newsletter, advert, most
  read) drop an element that is mostly links or holds buttons, forms or frames; weak ones
  (related, promo, teaser, recommended, pagination, a complementary role) only one that is
  mostly links, because sites also call their lead paragraph "teaser". Paywall boxes go when
  smaller than ``MAX_PAYWALL_CHARS``, readers' comments always, and so does any small box
  around an e-mail field (a sign-up form). Never dropped: the document, ``<main>``,
  ``<article>``, the ``articleBody``, the elements a CSS selector chose, anything that holds
  one of those, and (comments aside) any element holding more than ``MAX_DROPPED_SHARE`` of
  the page's text.
- ``drop_boilerplate`` removes paragraphs that are wholly boilerplate: "Read more:"/"Lesen Sie
  auch:" teasers, newsletter, subscription and paywall calls, rows of share buttons, "most
  read", "related" and topic labels with the short list of links right under them, advert
  labels, reading times, timestamp-only lines ("Updated 5 minutes ago", "Stand: 19.06.2024,
  14:03 Uhr"), lone page labels ("Published", "From the section …"), "Analysis – NAME" and
  "By NAME" labels, separators, pagination, programme notes, scrambled paywall text, and a
  short label line that stands twice in the story. Only short paragraphs qualify, and a
  paragraph must match as a whole: a sentence that mentions a newsletter or an update is text.
  ``boilerplate_rule`` names the rule a line falls under.

Both report what they drop through an optional ``note(rule, text)`` (``tracker extract
--explain``). Pure functions over lxml trees and ``Paragraph`` lists; English and German
vocabulary.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache

from lxml.etree import Element, XPath, _Element

from tracker.document import Paragraph
from tracker.normalize import normalize_text

# Bump when what counts as noise changes: it is part of the extractor name (a re-baseline).
# 2: paywall, comment and sign-up boxes, data-* names, lone labels, "Analysis – NAME" and
# "By NAME" labels, separators, pagination, paywall calls, repeated short lines.
NOISE_VERSION = "2"
# Told what was dropped and why (``tracker extract --explain``): note(rule, text).
Note = Callable[[str, str], None]


def _ignore(rule: str, text: str) -> None:
    """The default note: nobody asked what was dropped."""


# --- elements -------------------------------------------------------------------------------

_STRONG_PARTS = frozenset({
    "share", "shares", "sharing", "sharebar", "shareable", "social", "socials", "newsletter",
    "newsletters", "advert", "adverts", "advertisement", "advertising", "ad", "ads", "adslot",
    "adunit", "sponsored", "outbrain", "taboola", "mostread", "mostpopular", "meistgelesen",
})  # fmt: skip
_WEAK_PARTS = frozenset({
    "related", "promo", "promotion", "teaser", "teasers", "recommended", "recommendations",
    "recirculation", "morestories", "readmore", "weiterlesen", "pagination", "pager",
})  # fmt: skip
# Paywall boxes and the blurred or scrambled text behind them: what a reader without a
# subscription sees there is an offer, never the article. Dropped when smaller than
# MAX_PAYWALL_CHARS (a site that renders the whole text inside its paywall element keeps it).
_PAYWALL_PARTS = frozenset({"paywall", "paywalls", "paywalled", "regwall", "registrationwall",
                            "piano", "subscriptionwall", "abowall"})
MAX_PAYWALL_CHARS = 1500
# Readers' comments are never the article, however much text they hold ("Kommentar" is not
# among these words: in German it is also an opinion piece).
_COMMENT_PARTS = frozenset({"comment", "comments", "commentlist", "disqus", "respond",
                            "leserkommentare", "userkommentare"})
# Names of components in data attributes ("data-testid=newsletter-signup") count like classes.
_NAMING_ATTRIBUTES = ("class", "id", "data-component", "data-testid", "data-area", "data-module")
# The attributes ``_marker`` reads: an element with none of them carries no mark.
_MARKING = frozenset((*_NAMING_ATTRIBUTES, "aria-label", "role"))
# Two-part markers written with a separator ("most-read", "most_popular", "read-more").
_PAIRS = {("most", "read"): "mostread", ("most", "popular"): "mostpopular",
          ("read", "more"): "readmore", ("more", "stories"): "morestories"}  # fmt: skip
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_PROTECTED_TAGS = frozenset({"html", "body", "main", "article", "head"})
# A box of boilerplate is never most of the page: a "social-layout" wrapper around everything is.
MAX_DROPPED_SHARE = 0.4
# A marked element is dropped when at least this share of its text is link text; a strongly
# marked one also when it holds buttons, forms or frames.
LINK_DOMINATED = 0.5
_INTERACTIVE = ("form", "button", "input", "select", "iframe", "ins")


def drop_noise_elements(
    tree: _Element, keep: Iterable[_Element] = (), note: Note = _ignore
) -> int:
    """Remove boilerplate elements from ``tree`` in place; returns how many were removed.

    ``keep``: elements that must stay (a CSS selector's matches), with everything around them."""
    protected = _protected(tree, keep)
    dropped = _drop_signup_boxes(tree, protected, note)
    page_chars: int | None = None  # measured once, when the first marked element turns up
    for element in _named(tree):
        if element in protected:
            continue
        strength = _marker(element)
        if strength is None or _detached(element, tree):
            continue
        if page_chars is None:
            body = tree.find("body")
            page_chars = visible_chars(tree if body is None else body)
        chars = visible_chars(element)
        if page_chars and chars > MAX_DROPPED_SHARE * page_chars and strength != "comments":
            continue
        if strength == "paywall" and chars > MAX_PAYWALL_CHARS:
            continue
        if (strength in {"paywall", "comments"} or _link_dominated(element, chars)
                or (strength == "strong" and _furniture(element))):
            note(f"{strength} box <{element.tag} {_names(element)}>",
                 " ".join(element.itertext()))
            element.drop_tree()
            dropped += 1
    return dropped


# A box around an e-mail field with no more text than this is a sign-up form, whatever its
# class: no article asks its reader for an e-mail address in the middle of the text.
MAX_SIGNUP_CHARS = 500


def _named(tree: _Element) -> list[_Element]:
    """The elements of ``tree`` (itself included) with an attribute ``_marker`` reads, in
    document order. A loop over the elements asking each for its attribute names: 3-4x faster
    than the XPath query with one test per attribute (``descendant-or-self::*[@class or …]``)
    it replaces, which libxml2 evaluates attribute by attribute on every element."""
    return [element for element in tree.iter(Element)
            if not _MARKING.isdisjoint(element.keys())]


def _drop_signup_boxes(tree: _Element, protected: set[_Element], note: Note) -> int:
    dropped = 0
    for field in list(tree.iter("input")):
        kind = (field.get("type") or "").lower()
        if kind != "email" and "mail" not in (field.get("name") or "").lower():
            continue
        box = None
        for ancestor in field.iterancestors():
            if ancestor in protected or visible_chars(ancestor) > MAX_SIGNUP_CHARS:
                break
            box = ancestor
        if box is not None and not _detached(box, tree):
            note("sign-up box", " ".join(box.itertext()))
            box.drop_tree()
            dropped += 1
    return dropped


def _protected(tree: _Element, keep: Iterable[_Element]) -> set[_Element]:
    anchors = [*keep, *_ANCHORS(tree)]
    protected: set[_Element] = set()
    for anchor in anchors:
        protected.add(anchor)
        protected.update(anchor.iterancestors())
    return protected


def _marker(element: _Element) -> str | None:
    """"paywall", "comments", "strong", "weak" or None: what the element's attributes say it
    is."""
    present = element.keys()
    if not present:
        return None
    names = [element.get(name) for name in _NAMING_ATTRIBUTES if name in present]
    by_name = _marker_of_names(" ".join(filter(None, names))) if names else None
    if by_name in {"paywall", "comments", "strong"}:
        return by_name
    label = element.get("aria-label")
    if label and (label := normalize_text(label)):
        if is_share_row(label) or _MOST_READ.fullmatch(label) or _NEWSLETTER_LABEL.fullmatch(label):
            return "strong"
        if _TEASER_LABEL.fullmatch(label):
            return "weak"
    if by_name == "weak" or (element.get("role") or "").lower() == "complementary":
        return "weak"
    return None


@lru_cache(maxsize=4096)
def _marker_of_names(names: str) -> str | None:
    """What class, id and component names alone say: pages repeat the same names."""
    parts = _parts(names)
    if parts & _PAYWALL_PARTS:
        return "paywall"
    if parts & _COMMENT_PARTS:
        return "comments"
    if parts & _STRONG_PARTS:
        return "strong"
    return "weak" if parts & _WEAK_PARTS else None


@lru_cache(maxsize=4096)
def _parts(value: str) -> frozenset[str]:
    """The lower-case parts of class and id names ("shareBar__link" → share, bar, link)."""
    found: set[str] = set()
    for word in value.split():
        parts = [p.lower() for p in re.split(r"[-_]+", _CAMEL.sub("-", word)) if p]
        found.update(parts)
        found.update(_PAIRS[pair] for pair in itertools.pairwise(parts) if pair in _PAIRS)
    return frozenset(found)


def _names(element: _Element) -> str:
    found = [f'{a}="{element.get(a)}"' for a in (*_NAMING_ATTRIBUTES, "role", "aria-label")
             if element.get(a)]
    return " ".join(found)[:120]


def _detached(element: _Element, root: _Element) -> bool:
    """Whether an earlier removal already took ``element`` out of the tree."""
    return root not in {element, *element.iterancestors()}


def _furniture(element: _Element) -> bool:
    """Made of buttons, forms or frames: a share bar, an ad slot, a sign-up box. A chart of
    "market share" with its caption is not."""
    return next(element.iter(*_INTERACTIVE), None) is not None


def _link_dominated(element: _Element, chars: int) -> bool:
    if not chars:
        return True
    links = sum(visible_chars(a) for a in element.iter("a"))
    return links >= LINK_DOMINATED * chars


def visible_chars(element: _Element) -> int:
    """Characters of the text a reader sees, without whitespace (scripts and styles are code).
    Counted with lxml's own text functions: an XPath test of every text node's ancestors costs
    more than the rest of the extraction on a large page."""
    total = _letters(element.text_content())
    for code in element.iter("script", "style"):
        total -= _letters(code.text_content())
    return total


def _letters(text: str) -> int:
    return len("".join(text.split()))
_ANCHORS = XPath("//article | //main | //*[@itemprop='articleBody']")


# --- paragraphs -----------------------------------------------------------------------------

# Longer than this, a paragraph is article text whatever it starts with.
MAX_BOILERPLATE_CHARS = 250
# A list item right under a "Mehr zum Thema"/"Most read" label is a link when this short.
MAX_LISTED_LINK_CHARS = 200
_FILTERED_KINDS = frozenset({"text", "heading", "item", "quote"})
_DECORATION = " \t[](){}►▶▸»›>•·*→"


def _words(*phrases: str) -> str:
    """An alternation of phrases, longest first, each space matching any run of spaces."""
    ordered = sorted(phrases, key=len, reverse=True)
    return "|".join(re.escape(p).replace(r"\ ", r"\s+") for p in ordered)


_TEASER_PHRASES = _words(
    "read more", "read also", "also read", "read next", "read the full story", "more on this",
    "more on this story", "more on this topic", "more on the topic", "related", "related articles",
    "related stories", "related coverage", "related content", "related links", "related reading",
    "see also", "recommended", "recommended for you", "recommended reading", "you may also like",
    "you might also like", "don't miss", "don’t miss", "further reading",
    "lesen sie auch", "lesen sie mehr", "lesen sie hier", "lesen sie dazu", "lesen sie außerdem",
    "mehr zum thema", "mehr dazu", "mehr lesen", "weiterlesen", "auch interessant",
    "das könnte sie auch interessieren", "das könnte sie interessieren", "weitere artikel",
    "weitere nachrichten", "weitere themen", "zum thema", "passend zum thema", "auch lesenswert",
    "empfehlungen der redaktion", "ebenfalls interessant", "mehr aus dem ressort",
    "related internet links", "related bbc links", "internet links", "external links",
    "useful links", "weblinks", "links zum thema", "mehr im netz", "explore more on these topics",
    "more on this story", "around the web", "mehr aus dem web",
)
_TEASER_LABEL = re.compile(
    rf"(?:{_TEASER_PHRASES})(?:\s+(?:zum|zu\s+diesem)\s+thema|\s+on\s+this\s+(?:topic|story))?"
    r"\s*[:.!…]?",
    re.IGNORECASE,
)
# "Lesen Sie auch: <headline>", "READ MORE | <headline>", "Mehr dazu – <headline>"; not
# "Related-party deals rose": a dash separates only with spaces around it.
_TEASER = re.compile(
    rf"(?:{_TEASER_PHRASES})(?:\s*[:|»›→>]\s*|\s+[–—-]\s+)\S.{{0,160}}", re.IGNORECASE
)
# As a heading, "Mehr zum Thema Nordkorea" needs no colon; only phrases that never start a
# real subheading ("Related crimes rise" does) qualify.
_TEASER_HEADING = re.compile(
    "(?:"
    + _words("mehr zum thema", "lesen sie auch", "lesen sie mehr", "more on this story",
             "more on this", "related articles", "related stories", "related coverage",
             "weitere artikel", "weitere nachrichten", "passend zum thema", "mehr aus dem ressort")
    + r")\b.{0,80}",
    re.IGNORECASE,
)

_MOST_READ = re.compile(
    r"(?:most\s+(?:read|popular|viewed|shared|watched)(?:\s+(?:stories|articles|now))*"
    r"|trending(?:\s+now)?"
    r"|popular\s+now|top\s+stories|meistgelesen(?:e)?(?:\s+(?:artikel|beiträge|nachrichten))?"
    r"|am\s+meisten\s+gelesen|meist\s+gelesen|top-artikel|top-themen|beliebteste\s+artikel"
    r"|meistgeklickt|meistkommentiert|viel\s+gelesen)\s*[:.]?",
    re.IGNORECASE,
)
_ADVERT_LABEL = re.compile(
    r"(?:advertisement|advertising|anzeige|werbung|sponsored|gesponsert|ad|promotion)\s*[:.]?",
    re.IGNORECASE,
)

_NEWSLETTER_LABEL = re.compile(
    r"(?:(?:der|die|das|unser|unsere|our|the)\s+)?[\w-]*newsletter[\w-]*\s*[:.!]?", re.IGNORECASE
)
_NEWSLETTER = re.compile(
    "|".join((
        # Sign up for our newsletter … / Subscribe to the Morning Briefing …
        r"(?:sign\s+up|subscribe|register|get|join)\b.{0,200}?\b(?:newsletters?|briefings?"
        r"|alerts|digest|inbox)\b.{0,200}",
        r"(?:subscribe|sign\s+up)(?:\s+(?:now|today|here))?\s*[.!]?",
        # (Jetzt) (kostenlos) (den|unseren) Morgen-Newsletter (jetzt) abonnieren/bestellen
        r"(?:jetzt\s+|hier\s+)?(?:kostenlos\s+|gratis\s+)?(?:(?:unseren|den|zum|für\s+den)\s+)?"
        r"[\w-]*newsletter\s+(?:jetzt\s+|hier\s+)?(?:kostenlos\s+|gratis\s+)?"
        r"(?:abonnieren|bestellen|anmelden|erhalten)\b.{0,160}",
        # Jetzt (kostenlos) abonnieren (und keine Eilmeldung verpassen | ab 0,99 €)
        r"jetzt\s+(?:kostenlos\s+|gratis\s+)?(?:abonnieren|anmelden|registrieren"
        r"|abonnent(?:in)?\s+werden|bestellen|testen)"
        r"(?:\s*[.!:…]*|\s+(?:und|für|ab|ohne|mit)\s+.{0,100}|\s*[:–—-]\s*.{0,100})",
        r"(?:melden\s+sie\s+sich|abonnieren\s+sie|bestellen\s+sie|registrieren\s+sie\s+sich)"
        r"\b.{0,200}?\b(?:newsletter|abo)\w*\b.{0,120}",
    )),
    re.IGNORECASE,
)

_SHARE_VERBS = _words(
    "share", "share this", "share this article", "share this story", "share article",
    "share on facebook", "share on x", "share on twitter", "share on whatsapp",
    "share on linkedin", "share via email", "share via e-mail", "share by email", "tweet",
    "email", "e-mail", "mail", "print", "copy link", "copy", "link copied", "teilen",
    "artikel teilen", "beitrag teilen", "seite teilen", "auf facebook teilen", "auf x teilen",
    "per e-mail teilen", "per mail teilen", "per whatsapp teilen", "link kopieren",
    "link kopiert", "drucken", "versenden", "merken",
)
_NETWORKS = _words(
    "facebook", "twitter", "x", "whatsapp", "linkedin", "xing", "pinterest", "reddit",
    "telegram", "threads", "bluesky", "mastodon", "messenger", "flipboard", "pocket", "instagram",
)
_SHARE_TOKEN = rf"(?:{_SHARE_VERBS}|{_NETWORKS})"
_SHARE_ROW = re.compile(rf"{_SHARE_TOKEN}(?:[\s|·•,/:–-]+{_SHARE_TOKEN})*", re.IGNORECASE)
_SHARE_VERB = re.compile(rf"(?<!\w)(?:{_SHARE_VERBS})(?!\w)", re.IGNORECASE)
_NETWORK = re.compile(rf"(?<!\w)(?:{_NETWORKS})(?!\w)", re.IGNORECASE)

_READING_TIME = re.compile(
    r"(?:lesezeit\s*:?\s*)?(?:ca\.\s*)?\d+\s*(?:min\.?|minuten)\s*lesezeit"
    r"|lesezeit\s*:?\s*(?:ca\.\s*)?\d+\s*(?:min\.?|minuten)"
    r"|\d+\s*(?:-\s*)?min(?:ute)?s?\.?\s+read",
    re.IGNORECASE,
)

# Timestamp lines: an optional lead-in, then nothing but date and time words.
_TIME_LEAD = re.compile(
    r"(?:page\s+last\s+updated|last\s+updated|updated|first\s+published"
    r"|originally\s+published|published|posted"
    r"|last\s+modified|modified|zuletzt\s+aktualisiert|letzte\s+aktualisierung|aktualisiert"
    r"|veröffentlicht|erstveröffentlichung|erschienen|stand|geändert|erstellt)\b\s*:?",
    re.IGNORECASE,
)
_MONTHS = (
    "january february march april may june july august september october november december "
    "jan feb mar apr jun jul aug sep sept oct nov dec "
    "januar februar märz mai juni juli oktober dezember jän mär mrz okt dez"
)
_WEEKDAYS = (
    "monday tuesday wednesday thursday friday saturday sunday mon tue tues wed thu thur thurs "
    "fri sat sun montag dienstag mittwoch donnerstag freitag samstag sonnabend sonntag "
    "mo di mi do fr sa so"
)
_ZONES = "gmt utc bst cet cest mez mesz est edt et pt pst pdt ct cst cdt mt mst mdt z uk"
_CONNECTORS = "am um at on the of den vom uhr h a.m. p.m. pm and und ab"
_RELATIVE_UNITS = (
    "second seconds sec secs minute minutes min mins hour hours hr hrs day days week weeks "
    "month months sekunde sekunden minute minuten stunde stunden tag tagen tage woche wochen "
    "monat monaten"
)
_RELATIVE_WORDS = (
    "ago vor a an one ein einer einem einigen wenigen few yesterday today gestern heute now "
    "just gerade eben soeben jetzt moments moment"
)
_TIME_WORDS = frozenset(
    f"{_MONTHS} {_WEEKDAYS} {_ZONES} {_CONNECTORS} {_RELATIVE_UNITS} {_RELATIVE_WORDS}".split()
)
_RELATIVE = frozenset(f"{_RELATIVE_UNITS} yesterday today gestern heute now eben soeben".split())
_NUMBER = re.compile(
    r"\d{1,4}(?:[.:/-]\d{1,4}){0,2}\.?(?:h|uhr)?|\d{4}-\d\d-\d\dt[\d:.]+(?:z|[+-]\d\d:?\d\d)?"
)
_TIME_SEPARATORS = re.compile(r"[\s,|·•–—()]+|(?<=\w)-(?=\s)")
MAX_TIMESTAMP_CHARS = 90


def is_timestamp_line(text: str) -> bool:
    """A line that only says when the page was published or updated, in any usual form."""
    if len(text) > MAX_TIMESTAMP_CHARS:
        return False
    lead = _TIME_LEAD.match(text)
    tokens = _time_tokens(text[lead.end() :] if lead else text)
    if not tokens:
        return False
    has_number = any(_NUMBER.fullmatch(token) for token in tokens)
    relative = _relative(tokens, has_number)
    if lead:
        return has_number or relative
    return relative and ("ago" in tokens or "vor" in tokens or "just" in tokens
                         or "gerade" in tokens or "soeben" in tokens)


def is_date_line(text: str) -> bool:
    """A line that is a date, a time or both and nothing else ("12 April 2015", "19.06.2024,
    14:03 Uhr"). Not furniture by itself (a timeline's entries look the same): the markup
    around it decides (``tracker.extract.furniture``)."""
    if len(text) > MAX_TIMESTAMP_CHARS:
        return False
    tokens = _time_tokens(text)
    if not tokens:
        return False
    numbers = [token for token in tokens if _NUMBER.fullmatch(token)]
    month = any(token.rstrip(".") in _MONTH_WORDS for token in tokens)
    return bool(numbers) and (month or any(_DATE_OR_CLOCK.fullmatch(n) for n in numbers))


def is_relative_time(text: str) -> bool:
    """"5 minutes ago", "vor 3 Stunden", "gerade eben": a time that changes by itself."""
    if len(text) > MAX_TIMESTAMP_CHARS:
        return False
    lead = _TIME_LEAD.match(text)
    tokens = _time_tokens(text[lead.end() :] if lead else text)
    has_number = any(_NUMBER.fullmatch(token) for token in tokens)
    return bool(tokens) and _relative(tokens, has_number)


def _time_tokens(text: str) -> list[str]:
    """The lower-case tokens of a date line; [] when one of them is no date or time word."""
    tokens = [t for t in _TIME_SEPARATORS.split(text.lower().strip(" .:")) if t]
    for token in tokens:
        if not _NUMBER.fullmatch(token) and token.rstrip(".") not in _TIME_WORDS \
                and token not in _TIME_WORDS:
            return []
    return tokens


def _relative(tokens: list[str], has_number: bool) -> bool:
    return any(t.rstrip(".") in _RELATIVE for t in tokens) and (
        "ago" in tokens or "vor" in tokens or not has_number
    )


_MONTH_WORDS = frozenset(_MONTHS.split())
_DATE_OR_CLOCK = re.compile(r"\d{1,4}[.:/-]\d{1,2}.*|\d{4}-\d\d-\d\dt.*")


def is_share_row(text: str) -> bool:
    """Buttons of a share bar: "Teilen", "Share on Facebook | X | E-Mail", "Link kopieren"."""
    if not _SHARE_ROW.fullmatch(text):
        return False
    return bool(_SHARE_VERB.search(text)) or len(_NETWORK.findall(text)) >= 2


def is_section_label(text: str) -> bool:
    """The title of a related-links or most-read box: what follows it is a list of links."""
    return bool(_TEASER_LABEL.fullmatch(text) or _MOST_READ.fullmatch(text)
                or _TOPICS_LABEL.fullmatch(text))


def boilerplate_rule(text: str, kind: str = "text") -> str | None:
    """Which furniture rule a whole paragraph falls under; None when it is article text."""
    if kind not in _FILTERED_KINDS:
        return None
    stripped = text.strip(_DECORATION)
    if not stripped:
        return "separator" if len(text.replace(" ", "")) >= 3 else None  # "* * *", "»»»"
    if len(stripped) > MAX_BOILERPLATE_CHARS:
        return None
    return next((name for name, matches in _RULES if matches(stripped, kind)), None)


def is_boilerplate(text: str, kind: str = "text") -> bool:
    """Whether a whole paragraph is page furniture rather than article text."""
    return boilerplate_rule(text, kind) is not None


def drop_boilerplate(paragraphs: Sequence[Paragraph], note: Note = _ignore) -> list[Paragraph]:
    """The paragraphs without boilerplate; a box label takes the short list items under it, and
    a short label line that turns up more than once (top and bottom of the story) goes."""
    repeated = _repeated_labels(paragraphs)
    kept: list[Paragraph] = []
    in_box = False
    for paragraph in paragraphs:
        if in_box and paragraph.kind == "item" and len(paragraph.text) <= MAX_LISTED_LINK_CHARS:
            note("link under a box label", paragraph.text)
            continue
        in_box = False
        rule = boilerplate_rule(paragraph.text, paragraph.kind)
        if rule is None and paragraph.text in repeated:
            rule = "repeated label"
        if rule is not None:
            note(rule, paragraph.text)
            in_box = is_section_label(paragraph.text.strip(_DECORATION))
            continue
        kept.append(paragraph)
    return kept


# A short line without a sentence's end that stands twice in one story is a label (a kicker,
# "Analysis", a byline at the top and the bottom), not a sentence the writer repeated.
MAX_LABEL_CHARS = 100
_SENTENCE_END = tuple('.!?…:;"“”»«\'’)')


def _repeated_labels(paragraphs: Sequence[Paragraph]) -> set[str]:
    seen: set[str] = set()
    repeated: set[str] = set()
    for paragraph in paragraphs:
        text = paragraph.text
        if (paragraph.kind not in {"text", "heading"} or len(text) > MAX_LABEL_CHARS
                or text.endswith(_SENTENCE_END) or not any(c.isalpha() for c in text)):
            continue
        (repeated if text in seen else seen).add(text)
    return repeated


def _scrambled(text: str) -> bool:
    """Mostly symbols ("■■■■ ■■■■■■"): a paywall's stand-in for the text behind it."""
    visible = len(text) - text.count(" ")  # normalised text: its only whitespace is " "
    words = len(_NOT_WORD.sub("", text))
    return visible >= 10 and words < 0.5 * visible


_NOT_WORD = re.compile(r"[\W_]+")


def _name(pattern: re.Pattern[str]) -> Callable[[str, str], bool]:
    return lambda text, kind: bool(pattern.fullmatch(text))


# Lone labels of page chrome: "Published", "Related Topics", "From the section Europe".
_LONE_LABEL = re.compile(
    "(?:" + _words(
        "published", "updated", "last updated", "first published", "posted", "veröffentlicht",
        "aktualisiert", "zuletzt aktualisiert", "stand", "erschienen", "image source",
        "image caption", "media caption", "bildquelle", "bildunterschrift", "ad feedback",
        "advertisement - scroll to continue", "anzeige - weiterlesen nach der anzeige",
        "werbung - weiterlesen nach der anzeige", "weiterlesen nach der anzeige",
        "scroll to continue with content", "continue reading below", "story continues below",
        "article continues below", "artikel wird unter der anzeige fortgesetzt",
        "key events", "show key events only", "wichtige ereignisse", "live", "live-ticker",
        "liveblog", "live blog", "breaking", "eilmeldung", "exklusiv", "exclusive",
    ) + r")\s*[:.!]?"
    r"|(?:from\s+the\s+section|more\s+from|aus\s+dem\s+ressort|ressort|section)\s*:?\s+"
    r"[^.!?]{1,40}",
    re.IGNORECASE,
)
_TOPICS_LABEL = re.compile(
    "(?:" + _words("related topics", "topics", "more on these topics", "themen",
                   "mehr zu diesen themen", "schlagwörter", "schlagworte", "tags",
                   "weitere themen") + r")\s*:?",
    re.IGNORECASE,
)
_NAME = r"[A-ZÄÖÜ][\w'’.-]+(?:\s+(?:[A-ZÄÖÜ][\w'’.-]+|von|van|de|der|den|al|bin|da|du|le))*"
# "Analysis – Jeremy Bowen, Middle East editor", "By Jane Doe, BBC News", "Von Anna Muster
# und Max Beispiel": a label with names, never a sentence (no full stop, at most 100 chars).
_PERSON_LABEL = re.compile(
    r"(?i:analysis|analyse|commentary|kommentar|opinion|meinung|explainer|fact\s+check"
    r"|faktencheck|reality\s+check|an\s+analysis\s+by|a\s+commentary\s+by|eine\s+analyse\s+von"
    r"|ein\s+kommentar\s+von|by|von|text|reporting|written\s+by)"
    rf"\s*[:–—|-]?\s+{_NAME}(?:\s*(?:,|&|(?i:and|und))\s*{_NAME})*"
    r"(?:\s*[,|–—-]\s*[^.!?:;]{1,60})?"
)
_PAYWALL = re.compile(
    r"(?:jetzt\s+)?weiterlesen\s+mit\s+\S.{0,40}|continue\s+reading\s+with\s+\S.{0,40}"
    r"|(?:subscribe|sign\s+in|log\s+in)\s+to\s+(?:continue\s+)?read(?:ing)?\b.{0,80}"
    r"|(?:already\s+a\s+subscriber|sie\s+haben\s+bereits\s+ein\s+[\w-]*abo(?:nnement)?"
    r"|sie\s+sind\s+bereits\s+abonnent(?:in)?)\b.{0,80}"
    r"|(?:monatlich|jederzeit|täglich)\s+kündbar\.?|cancel\s+any\s*time\.?",
    re.IGNORECASE,
)
_PAGINATION = re.compile(
    r"(?:seite|page)\s+\d+\s*(?:/|von|of)\s*\d+"
    r"|(?:weiterlesen|weiter|continue\s+reading|read\s+more)\s+(?:auf|on)\s+(?:seite|page)\s+\d+"
    r"|(?:nächste|vorherige)\s+seite|(?:next|previous)\s+page|zur\s+startseite|nach\s+oben"
    r"|back\s+to\s+top"
    r"|(?:alle|all)\s+(?:seiten|pages)(?:\s+(?:auf\s+einer\s+seite|on\s+one\s+page))?",
    re.IGNORECASE,
)
_SEPARATOR = re.compile(r"(?:[_*=~#•·+-]\s*){3,}|(?:[—–]\s*){3,}")
_PROGRAMME = re.compile(
    r"(?:dieses\s+thema\s+im\s+programm|über\s+dieses\s+thema\s+berichtete[n]?)\b.{0,160}"
    r"|follow\s+(?:ap[’']?s|our|the|all\s+of\s+ap[’']?s)\b.{0,40}\bcoverage\b.{0,160}"
    r"|our\s+standards\s*:.{0,100}",
    re.IGNORECASE,
)
_RULES: tuple[tuple[str, Callable[[str, str], bool]], ...] = (
    ("box label", lambda text, kind: is_section_label(text)),
    ("teaser", _name(_TEASER)),
    ("teaser heading",
     lambda text, kind: kind == "heading" and bool(_TEASER_HEADING.fullmatch(text))),
    ("newsletter",
     lambda text, kind: bool(_NEWSLETTER_LABEL.fullmatch(text) or _NEWSLETTER.fullmatch(text))),
    ("advert label", _name(_ADVERT_LABEL)),
    ("reading time", _name(_READING_TIME)),
    ("share buttons", lambda text, kind: is_share_row(text)),
    ("timestamp", lambda text, kind: is_timestamp_line(text)),
    ("page label", _name(_LONE_LABEL)),
    ("byline label", lambda text, kind: len(text) <= MAX_LABEL_CHARS
     and bool(_PERSON_LABEL.fullmatch(text))),
    ("separator", _name(_SEPARATOR)),
    ("paywall offer", _name(_PAYWALL)),
    ("pagination", _name(_PAGINATION)),
    ("scrambled text", lambda text, kind: _scrambled(text)),
    ("programme note", _name(_PROGRAMME)),
)
