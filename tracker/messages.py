"""Messages a person wants to read: an event as a chat, push or e-mail message.

``render`` turns a ``Notice`` (what happened to which article, with the change as
``tracker.changeview`` models it) into a ``Message`` in one of four dialects:

- ``markdown`` (CommonMark: Discord, Mattermost, Matrix, ntfy with ``format=markdown`` …):
  deleted words ``~~struck~~``, inserted ``**bold**``;
- ``slack`` (Slack's mrkdwn): deleted ``~struck~``, inserted ``*bold*``, links ``<url|label>``;
- ``html`` (e-mail): ``<del>``/``<ins>`` with inline styles, since mail clients drop style sheets;
- ``text``: deleted ``[-words-]``, inserted ``{+words+}`` (wdiff's marks).

A message is: the title that says what happened ("Headline changed: …", "3 paragraphs changed
in …", "Article deleted: …"), the article's link, the diff's link in the web view when a public
address is set, the summary counts, then the changed paragraphs, the unchanged words around a
change shortened to a few. It is cut to the service's length limit whole block by whole block,
then word by word inside the last block, with "… and N more changes" and the link at the end:
never in the middle of a word or of a mark, since marks are only ever written around whole runs.

Text from tracked pages is hostile. Every piece of it goes through the dialect's ``escape``:
markup characters escaped (Markdown), replaced by look-alikes where the dialect has no escape
(Slack's ``*_~```), entity-encoded (HTML, and ``&<>`` in Slack, which is what ``<!everyone>``
and ``<@U123>`` mentions are made of); in every dialect an "@" before a word gets a zero-width
space after it, so ``@channel``, ``@here``, ``@everyone`` or ``@someone`` mention nobody; line
breaks become spaces, control characters go. Pure: no I/O.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import partial
from urllib.parse import quote

from tracker.changeview import ChangeView, Run

ELLIPSIS = "…"
CONTEXT_WORDS = 8  # unchanged words kept on each side of a change
MAX_RUN_CHARS = 4000  # a longer run is shortened before anything else (hostile paragraphs)
ZWSP = "\u200b"


class Dialect(StrEnum):
    MARKDOWN = "markdown"
    SLACK = "slack"
    HTML = "html"
    TEXT = "text"


@dataclass(frozen=True, slots=True)
class Notice:
    """An event, as a message tells it."""

    event_type: str
    article_url: str  # a source event's: the feed's or sitemap's URL
    title: str | None  # the article's headline (hostile text)
    diff_url: str | None = None  # the web view's diff page, when a public address is set
    change: ChangeView | None = None  # article.changed: the change itself
    detail: str | None = None  # one line more: "answered 404", "text shrank by 85 %"


@dataclass(frozen=True, slots=True)
class Message:
    title: str
    body: str
    dialect: Dialect


# --- titles -----------------------------------------------------------------------------------

_SAID = {
    "article.first_seen": "Now tracking",
    "article.discovered": "New article found",
    "article.unavailable": "Article unavailable",
    "article.deleted": "Article deleted",
    "article.restored": "Article restored",
    "article.gutted": "Article gutted",
    "article.failing": "Checks failing",
    "article.recovered": "Checks working again",
    "source.failing": "Feed failing",  # a feed's or a sitemap's (Notice.title says which)
    "source.recovered": "Feed recovered",
    "tracker.test": "Test message",
}


def headline(notice: Notice) -> str:
    """What happened, in a few words, plain (not yet escaped)."""
    name = _clean(notice.title or "") or notice.article_url
    change = notice.change
    if notice.event_type != "article.changed" or change is None:
        said = _SAID.get(notice.event_type, notice.event_type)
        return f"{said}: {name}"
    if change.headline is not None:
        return f"Headline changed: {_clean(change.new_title or '') or name}"
    paragraphs = sum(max(len(b.new), len(b.old)) for b in change.changes)
    if paragraphs:
        return f"{paragraphs} {_plural(paragraphs, 'paragraph')} changed in {name}"
    fields = [row.label for row in change.metadata]
    return f"{', '.join(fields).capitalize() or 'Details'} changed in {name}"


# --- dialects ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Style:
    escape: Callable[[str], str]
    deleted: Callable[[str], str]
    inserted: Callable[[str], str]
    strong: Callable[[str], str]
    link: Callable[[str, str], str]
    line: str  # between lines
    paragraph: str  # between blocks
    wrap: Callable[[str], str] = lambda body: body


_MENTION = re.compile(r"@(?=\w)")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_SPACE = re.compile(r"\s+")


def _clean(text: str) -> str:
    """One line: controls and bidirectional overrides out, white space collapsed."""
    return _SPACE.sub(" ", _CONTROL.sub("", text)).strip()


def _unmention(text: str) -> str:
    """"@name" mentions nobody, nor Slack's "<!everyone>" (in whatever dialect it arrives)."""
    return _MENTION.sub("@" + ZWSP, text).replace("<!", "<" + ZWSP + "!")


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~=:])")


def _md_escape(text: str) -> str:
    return _unmention(_MD_SPECIAL.sub(r"\\\1", text))


_SLACK_LOOKALIKE = str.maketrans({"*": "\u2217", "_": "\u02cd", "~": "\u223c", "`": "\u02cb"})


def _slack_escape(text: str) -> str:
    """Slack has no escape for its formatting characters: look-alikes stand in for them."""
    entities = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _unmention(entities.translate(_SLACK_LOOKALIKE))


def _html_escape(text: str) -> str:
    return _unmention(html.escape(text, quote=True))


_TEXT_MARKS = re.compile(r"(\[-|-\]|\{\+|\+\})")


def _text_escape(text: str) -> str:
    """Plain text: our own marks cannot be faked by the article's text."""
    return _unmention(_TEXT_MARKS.sub(lambda m: m.group(1)[0] + ZWSP + m.group(1)[1], text))


def _md_link(url: str, label: str) -> str:
    target = quote(_clean(url), safe="/:?&=#%@!$'*+,;~-._")
    return f"[{label}](<{target}>)"


def _slack_link(url: str, label: str) -> str:
    target = quote(_clean(url), safe="/:?&=#%@!$'*+,;~-._()")
    return f"<{target}|{label}>"


def _html_link(url: str, label: str) -> str:
    return f'<a href="{html.escape(_clean(url), quote=True)}">{label}</a>'


def _text_link(url: str, label: str) -> str:
    return f"{label}: {quote(_clean(url), safe='/:?&=#%@!$*+,;~-._()[]')}"


_DEL_STYLE = "background:#ffe0e0;color:#8a1010;text-decoration:line-through"
_INS_STYLE = "background:#dcf5dc;color:#0b5d1e;text-decoration:none;font-weight:bold"

STYLES: dict[Dialect, _Style] = {
    Dialect.MARKDOWN: _Style(
        _md_escape, lambda t: f"~~{t}~~", lambda t: f"**{t}**", lambda t: f"**{t}**",
        _md_link, "  \n", "\n\n"),
    Dialect.SLACK: _Style(
        _slack_escape, lambda t: f"~{t}~", lambda t: f"*{t}*", lambda t: f"*{t}*",
        _slack_link, "\n", "\n\n"),
    Dialect.HTML: _Style(
        _html_escape, lambda t: f'<del style="{_DEL_STYLE}">{t}</del>',
        lambda t: f'<ins style="{_INS_STYLE}">{t}</ins>', lambda t: f"<strong>{t}</strong>",
        _html_link, "<br>\n", "\n",
        lambda body: f'<div style="font-family:sans-serif;line-height:1.5">\n{body}\n</div>'),
    Dialect.TEXT: _Style(
        _text_escape, lambda t: f"[-{t}-]", lambda t: f"{{+{t}+}}", lambda t: t,
        _text_link, "\n", "\n\n"),
}


def _para(style: _Style, text: str, dialect: Dialect) -> str:
    return f"<p>{text}</p>" if dialect is Dialect.HTML else text


# --- words ------------------------------------------------------------------------------------


def _words(text: str) -> list[str]:
    return _clean(text[: MAX_RUN_CHARS * 2]).split(" ") if text.strip() else []


def shortened(runs: Sequence[Run], context: int = CONTEXT_WORDS) -> list[tuple[str, list[str]]]:
    """The runs as (tag, words), the unchanged words around changes cut to ``context`` on
    each side ("…" standing for the rest)."""
    kept: list[tuple[str, list[str]]] = []
    for index, run in enumerate(runs):
        words = [w for w in _words(run.text) if w]
        if not words:
            continue
        if run.tag == "=":
            first, last = index == 0, index == len(runs) - 1
            if first and len(words) > context:
                words = [ELLIPSIS, *words[-context:]]
            elif last and len(words) > context:
                words = [*words[:context], ELLIPSIS]
            elif not first and not last and len(words) > 2 * context:
                words = [*words[:context], ELLIPSIS, *words[-context:]]
        kept.append((run.tag, words))
    return kept


def _render_runs(style: _Style, runs: Sequence[tuple[str, list[str]]]) -> str:
    """Marks around whole runs only: a cut never splits a mark."""
    parts = []
    for tag, words in runs:
        text = " ".join(w if w == ELLIPSIS else style.escape(w) for w in words)
        parts.append(style.deleted(text) if tag == "-" else
                     style.inserted(text) if tag == "+" else text)
    return " ".join(parts)


# --- blocks -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Piece:
    """A changed block as its label and runs, so it can be shortened word by word."""

    label: str
    runs: list[tuple[str, list[str]]]


def _pieces(change: ChangeView) -> list[_Piece]:
    pieces = []
    if change.headline is not None:
        pieces.append(_Piece("headline", shortened(change.headline, 10_000)))
    for row in change.metadata:
        runs = [("-", _words(row.old or "")), ("+", _words(row.new or ""))]
        pieces.append(_Piece(row.label, [r for r in runs if r[1]]))
    for block in change.changes:
        if block.words:
            runs = shortened(block.words)
        elif block.kind == "delete":
            runs = [("-", _words(" ".join(p.text for p in block.old)))]
        else:
            runs = [("+", _words(" ".join(p.text for p in block.new)))]
        pieces.append(_Piece(block.label, runs))
    return pieces


def _render_piece(style: _Style, dialect: Dialect, piece: _Piece) -> str:
    label = style.strong(style.escape(piece.label))
    return _para(style, label + style.line + _render_runs(style, piece.runs), dialect)


def _cut_piece(style: _Style, dialect: Dialect, piece: _Piece, room: int) -> str | None:
    """The piece's first words that fit in ``room`` characters, ending in "…"; None if not
    even its label and one word fit."""
    runs = [(tag, list(words)) for tag, words in piece.runs]
    total = sum(len(words) for _, words in runs)
    low, high, best = 1, total, None
    while low <= high:  # the most words that fit, by bisection
        middle = (low + high) // 2
        text = _render_piece(style, dialect, _Piece(piece.label, _first_words(runs, middle)))
        if len(text) <= room:
            best, low = text, middle + 1
        else:
            high = middle - 1
    return best


def _first_words(runs: list[tuple[str, list[str]]], count: int) -> list[tuple[str, list[str]]]:
    kept: list[tuple[str, list[str]]] = []
    for tag, words in runs:
        if count <= 0:
            break
        kept.append((tag, words[:count]))
        count -= len(words)
    kept.append(("=", [ELLIPSIS]))
    return kept


# --- the message --------------------------------------------------------------------------------


def render(notice: Notice, dialect: Dialect, *, limit: int, title_limit: int = 250) -> Message:
    """The message of ``notice`` in ``dialect``, its body at most ``limit`` characters."""
    style = STYLES[dialect]
    pieces = _pieces(notice.change) if notice.change is not None else []
    items = [_Item(_render_piece(style, dialect, p), partial(_cut_piece, style, dialect, p))
             for p in pieces]
    body = None
    for head, link in _heads(style, dialect, notice):
        body = _fit(style, head, items, limit, _more_tail(style, dialect, link))
        if body is not None:
            break
    return Message(_title(headline(notice), dialect, title_limit),
                   body or _last_resort(style, notice, limit), dialect)


def render_digest(
    notices: Sequence[Notice], dialect: Dialect, *, period: str, limit: int,
    title_limit: int = 250,
) -> Message:
    """One message for a period's events: each event's title, links and summary, in order."""
    style = STYLES[dialect]
    count = len(notices)
    title = _title(f"{count} {_plural(count, 'update')} in the last {period}", dialect,
                   title_limit)
    items = [_Item(_para(style, style.strong(style.escape(headline(n))), dialect)
                   + style.paragraph + _head(style, dialect, n)) for n in notices]
    first, rest = items[0].full, items[1:]
    body = _fit(style, first, rest, limit, _more_tail(style, dialect, None))
    return Message(title, body or _last_resort(style, notices[0], limit), dialect)


def _title(text: str, dialect: Dialect, limit: int) -> str:
    """A title is plain text to most services; mentions and Slack's controls are defused."""
    escaped = _unmention(_clean(text))
    if dialect is Dialect.SLACK:
        escaped = escaped.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return cut_words(escaped, limit) if limit > 0 else escaped


def cut_words(text: str, limit: int) -> str:
    """At most ``limit`` characters, cut at a space with "…" when it must be cut."""
    if len(text) <= limit:
        return text
    cut = text[: max(0, limit - 1)]
    space = cut.rfind(" ")
    return (cut[:space] if space > 0 else cut).rstrip() + ELLIPSIS


def _head(style: _Style, dialect: Dialect, notice: Notice, *, full: bool = True) -> str:
    subject = "Feed" if notice.event_type.startswith("source.") else "Article"
    links = [style.link(notice.article_url, subject)]
    if notice.diff_url and full:
        links.append(style.link(notice.diff_url, "See the changes"))
    lines = [" · ".join(links)]
    if notice.change is not None and full:
        lines.append(style.strong("Summary:") + " " + style.escape(notice.change.summary))
    if notice.detail and full:
        lines.append(style.escape(_clean(notice.detail)))
    return _para(style, style.line.join(lines), dialect)


def _heads(style: _Style, dialect: Dialect, notice: Notice) -> list[tuple[str, str | None]]:
    """Heads and tail links to try, from the whole one down to the article's link alone (for
    a very small limit, or a very long URL)."""
    return [(_head(style, dialect, notice), notice.diff_url),
            (_head(style, dialect, notice), None),
            (_head(style, dialect, notice, full=False), None)]


def _last_resort(style: _Style, notice: Notice, limit: int) -> str:
    """Not even the article's link fits: its plain, escaped text cut at a space."""
    return cut_words(style.escape(notice.article_url), limit)


def _more_tail(style: _Style, dialect: Dialect, diff_url: str | None) -> Callable[[int], str]:
    """"… and N more changes (see them all)"; for 0, the last change was cut short."""
    def tail(more: int) -> str:
        if more:
            text, label = f"{ELLIPSIS} and {more} more {_plural(more, 'change')}", "see them all"
        else:
            text, label = f"{ELLIPSIS} (cut short)", "see the whole change"
        link = f" ({style.link(diff_url, label)})" if diff_url else ""
        return _para(style, style.escape(text) + link, dialect)
    return tail


@dataclass(frozen=True, slots=True)
class _Item:
    """A section of a message: in full, or (``cut``) its start within a room, or None."""

    full: str
    cut: Callable[[int], str | None] | None = None


def _fit(
    style: _Style, head: str, items: list[_Item], limit: int, tail: Callable[[int], str]
) -> str | None:
    """The head, then whole items while they fit, then the start of the next one, then
    "… and N more" for the rest; at most ``limit`` characters, or None if the head and the
    tail it may need do not fit."""
    sep, wrapper = style.paragraph, len(style.wrap(""))
    parts, shown, cut_short = [head], 0, False
    for item in items:
        left = len(items) - shown - 1
        reserve = len(sep) + len(tail(left)) if left else 0
        if _size([*parts, item.full], sep) + wrapper + reserve <= limit:
            parts.append(item.full)
            shown += 1
            continue
        room = limit - wrapper - _size(parts, sep) - 2 * len(sep) - len(tail(left))
        partial = item.cut(room) if item.cut and room > 0 else None
        if partial is not None:
            parts.append(partial)
            shown += 1
            cut_short = True
        break
    if shown < len(items) or cut_short:
        parts.append(tail(len(items) - shown))
    body = style.wrap(sep.join(parts))
    return body if len(body) <= limit else None


def _size(parts: list[str], sep: str) -> int:
    return sum(map(len, parts)) + len(sep) * max(0, len(parts) - 1)


def _plural(count: int, noun: str) -> str:
    return noun if count == 1 else noun + "s"
