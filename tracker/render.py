"""A change as text for people: a terminal (plain or coloured) and Markdown.

The input is the presentation model of a change, ``tracker.changeview.ChangeView``: the very
model the web page, the Atom feeds and the HTML report are rendered from, so that every view
lists the same operations under the same labels ("inserted ¶10–23", "moved ¶23 → ¶14").

What is shown: the headline as a word diff and the other metadata changes first, then each
changed block under its label in 1-based paragraph numbers (a run of inserted or deleted
paragraphs is one block, its paragraphs each on a line of their own, numbered and cut to
``RUN_WORDS`` words), then a count of the unchanged paragraphs left out; "no differences" when
there are none. Moved paragraphs are shown at their new place only (the label names both).

Marks: with colour, deleted words red and struck through and inserted words green and bold
(ANSI through rich); without, the wdiff convention ``[-deleted-]`` and ``{+inserted+}``. In
Markdown, deleted words ``~~struck~~``, inserted words ``**bold**``, block labels headings
(never bold), field names and notes in ``_italics_``, the article's own Markdown characters
escaped. Long runs of unchanged words are cut to ``CONTEXT_WORDS`` words either side of a
change. Every text from the view is made printable here (``tracker.terminal``), so a caller
never hands a hostile string to a terminal. Pure functions.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from tracker.changeview import Block, ChangeView, build_change
from tracker.diff import Diff
from tracker.terminal import printable

CONTEXT_WORDS = 8
RUN_WORDS = 30  # words shown of each paragraph of a run of inserted or deleted paragraphs
ELLIPSIS = "…"
NO_DIFFERENCES = "no differences"

_SYMBOLS = {"modify": "~", "insert": "+", "delete": "-", "move": "↕", "split": "⑂",
            "merge": "⋈"}
_STYLES = {"-": "red strike", "+": "green bold", "=": ""}
_HEADER_STYLES = {"insert": "bold green", "delete": "bold red"}
_WDIFF = {"-": ("[-", "-]"), "+": ("{+", "+}")}
_MARKDOWN_MARKS = {"-": "~~", "+": "**"}
# Characters Markdown may read as syntax anywhere in a line, and at its start only.
_MARKDOWN_INLINE = re.compile(r"([\\`*_\[\]<>|~&#])")
_MARKDOWN_BLOCK_MARK = re.compile(r"^([#+\-=>])")
_MARKDOWN_LIST_NUMBER = re.compile(r"^(\d+)([.)])")

if TYPE_CHECKING:  # rich draws the colours only: plain text and Markdown need none of it
    from rich.text import Text

Words = tuple[tuple[str, str], ...]  # (tag, text): "=" kept, "-" deleted, "+" inserted
# A line as (style, spans): the line's own style and its (text, style) spans; "" no style.
Line = tuple[str, list[tuple[str, str]]]


def change_view(
    diff: Diff, old_paragraphs: Sequence[str], new_paragraphs: Sequence[str]
) -> ChangeView:
    """The model of ``diff`` between two lists of paragraph texts (kinds unknown)."""
    return build_change(diff, [("text", t) for t in old_paragraphs],
                        [("text", t) for t in new_paragraphs])


def differs(view: ChangeView) -> bool:
    """Whether the change has anything to show: a changed paragraph or metadata field."""
    return bool(view.changes or view.metadata or view.headline is not None)


def render_text(view: ChangeView, *, color: bool) -> str:
    """The change for a terminal: ANSI colours through rich, or wdiff-style marks."""
    if not differs(view):
        return NO_DIFFERENCES + "\n"
    lines = [_meta_line(label, words, color) for label, words in _metadata(view)]
    for block in view.changes:
        if lines:
            lines.append(("", []))
        lines.append((_HEADER_STYLES.get(block.kind, "bold"), [(_header(block), "")]))
        lines += [_word_line(prefix, words, color) for prefix, words in _block_lines(block)]
    if view.unchanged:
        lines += [("", []), ("", [(_skipped_line(view), "")])]
    if color:
        return _ansi(lines)
    return "".join("".join(text for text, _ in spans) + "\n" for _, spans in lines)


def render_markdown(view: ChangeView, *, heading: str = "####") -> str:
    """The change as Markdown (block labels as ``heading`` headings), article text escaped."""
    if not differs(view):
        return f"_{NO_DIFFERENCES}_\n"
    parts = ["\n".join(f"- _{_escape_inline(label)}_: {_markdown_words(words, start=False)}"
                       for label, words in _metadata(view))]
    for block in view.changes:
        parts.append(f"{heading} {_escape_inline(printable(_header(block)))}")
        parts += [_markdown_prefix(prefix) + _markdown_words(words, start=not prefix)
                  for prefix, words in _block_lines(block)]
    if view.unchanged:
        parts.append(f"_{_skipped_line(view)}_")
    return "\n\n".join(part for part in parts if part) + "\n"


def render_diff_text(
    diff: Diff, old_paragraphs: Sequence[str], new_paragraphs: Sequence[str],
    *, color: bool,
) -> str:
    """``render_text`` of a diff between two lists of paragraph texts."""
    return render_text(change_view(diff, old_paragraphs, new_paragraphs), color=color)


def render_diff_markdown(
    diff: Diff, old_paragraphs: Sequence[str], new_paragraphs: Sequence[str],
    *, heading: str = "####",
) -> str:
    """``render_markdown`` of a diff between two lists of paragraph texts."""
    return render_markdown(change_view(diff, old_paragraphs, new_paragraphs), heading=heading)


def escape_markdown(text: str) -> str:
    """A line of text that Markdown renders as itself."""
    return _escape_line_start(_escape_inline(text))


def _escape_inline(text: str) -> str:
    return _MARKDOWN_INLINE.sub(r"\\\1", text)


def _escape_line_start(line: str) -> str:
    """Keep a line from starting a heading, list, quote or rule ("1." becomes "1\\.")."""
    return _MARKDOWN_LIST_NUMBER.sub(r"\1\\\2", _MARKDOWN_BLOCK_MARK.sub(r"\\\1", line))


def _metadata(view: ChangeView) -> list[tuple[str, Words]]:
    """(label, words) of each changed field: the headline as a word diff, then the others as
    "old → new"."""
    fields: list[tuple[str, Words]] = []
    if view.headline is not None:
        fields.append(("headline", _elided(tuple((r.tag, r.text) for r in view.headline))))
    for row in view.metadata:
        fields.append((row.label, (("-" if row.old is not None else "=", _value(row.old)),
                                   ("=", "→"),
                                   ("+" if row.new is not None else "=", _value(row.new)))))
    return fields


def _value(value: str | None) -> str:
    return "(none)" if value is None else value


def _skipped_line(view: ChangeView) -> str:
    noun = "paragraph" if view.unchanged == 1 else "paragraphs"
    return f"{view.unchanged} unchanged {noun} not shown"


def _header(block: Block) -> str:
    """"~ modified ¶1 (similarity 0.65)", "+ inserted ¶10–23": the model's label."""
    edited = block.similarity is not None and block.similarity < 1
    similarity = f" (similarity {block.similarity:.2f})" if edited else ""
    return f"{_SYMBOLS.get(block.kind, block.kind)} {block.label}{similarity}"


def _block_lines(block: Block) -> list[tuple[str, Words]]:
    """The lines under a block's header: (paragraph number prefix or "", words)."""
    if block.words:
        return [("", _elided(tuple((r.tag, r.text) for r in block.words)))]
    if block.kind in ("insert", "delete"):
        paragraphs, tag = (block.new, "+") if block.kind == "insert" else (block.old, "-")
        if len(paragraphs) == 1:
            return [("", ((tag, paragraphs[0].text),))]
        return [(f"¶{p.number}", ((tag, _cut(p.text)),)) for p in paragraphs]
    # Identical text moved, split or merged: shown as it reads now.
    return [("", (("=", " ".join(p.text for p in block.new)),))]


def _cut(text: str) -> str:
    words = text.split()
    if len(words) <= RUN_WORDS + 3:  # cutting fewer words would not make it easier to read
        return text
    return " ".join(words[:RUN_WORDS]) + " " + ELLIPSIS


def _elided(words: Words) -> Words:
    """Cut unchanged runs to CONTEXT_WORDS words next to each change."""
    result = []
    for position, (tag, text) in enumerate(words):
        if tag == "=":
            text = _shortened(text, keep_head=position > 0, keep_tail=position < len(words) - 1)
        result.append((tag, text))
    return tuple(result)


def _shortened(text: str, *, keep_head: bool, keep_tail: bool) -> str:
    tokens = text.split()
    kept = CONTEXT_WORDS * (keep_head + keep_tail)
    if len(tokens) <= kept + 3:  # cutting fewer words would not make it easier to read
        return text
    head = tokens[:CONTEXT_WORDS] if keep_head else []
    tail = tokens[-CONTEXT_WORDS:] if keep_tail else []
    return " ".join([*head, ELLIPSIS, *tail])


def _meta_line(label: str, words: Words, color: bool) -> Line:
    return "", [(f"{printable(label)}:", "bold"), (" ", ""), *_words(words, color)]


def _word_line(prefix: str, words: Words, color: bool) -> Line:
    return "", [("  " + (f"{prefix} " if prefix else ""), ""), *_words(words, color)]


def _words(words: Words, color: bool) -> list[tuple[str, str]]:
    spans = []
    for position, (tag, chunk) in enumerate(words):
        spans.append((" " if position else "", ""))
        chunk = printable(chunk)
        if color:
            spans.append((chunk, _STYLES.get(tag, "")))
        else:
            opening, closing = _WDIFF.get(tag, ("", ""))
            spans.append((f"{opening}{chunk}{closing}", ""))
    return spans


def _ansi(lines: Iterable[Line]) -> str:
    """Styled lines as ANSI escape codes, not wrapped (the terminal wraps)."""
    from rich.console import Console

    buffer = io.StringIO()
    # The caller asked for colour: NO_COLOR and terminal detection are the CLI's business.
    console = Console(file=buffer, force_terminal=True, color_system="standard", no_color=False,
                      soft_wrap=True, highlight=False, emoji=False, markup=False)
    for line in lines:
        console.print(_text(line))
    return buffer.getvalue()


def _text(line: Line) -> Text:
    from rich.text import Text

    style, spans = line
    text = Text(style=style)
    for chunk, span_style in spans:
        text.append(chunk, style=span_style)
    return text


def _markdown_prefix(prefix: str) -> str:
    return f"{prefix} " if prefix else ""


def _markdown_words(words: Words, *, start: bool = True) -> str:
    chunks = []
    for tag, text in words:
        mark = _MARKDOWN_MARKS.get(tag, "")
        chunks.append(f"{mark}{_escape_inline(printable(text))}{mark}")
    line = " ".join(chunks)
    return _escape_line_start(line) if start else line

