"""Diffs as text for people: a terminal (plain or coloured) and Markdown.

Input is a ``tracker.diff.Diff`` plus the paragraph lists it was made from. Only changes are
shown: metadata first ("title: old → new"), then each non-equal op with a header in 1-based
paragraph numbers and its text with word-level marks, then a count of the unchanged
paragraphs left out.

Marks: with colour, deleted words red and struck through and inserted words green and bold
(ANSI through rich); without, the wdiff convention ``[-deleted-]`` and ``{+inserted+}``; in
Markdown ``~~deleted~~`` and ``**inserted**``, with the article's own Markdown characters
escaped. Long runs of unchanged words are cut to ``CONTEXT_WORDS`` words either side of a
change. Pure functions; depends on nothing of the project but the diff's types and on nothing
outside the standard library but rich.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from rich.console import Console
from rich.text import Text

from tracker.diff import Diff, Op, WordRun

CONTEXT_WORDS = 8
ELLIPSIS = "…"

_SYMBOLS = {
    "modify": "~ modified",
    "insert": "+ inserted",
    "delete": "- deleted",
    "move": "↕ moved",
    "split": "⑂ split",
    "merge": "⋈ merged",
}
_STYLES = {"-": "red strike", "+": "green bold", "=": ""}
_HEADER_STYLES = {"insert": "bold green", "delete": "bold red"}
# Characters Markdown may read as syntax anywhere in a line, and at its start only.
_MARKDOWN_INLINE = re.compile(r"([\\`*_\[\]<>|~&])")
_MARKDOWN_BLOCK_MARK = re.compile(r"^([#+\-=>])")
_MARKDOWN_LIST_NUMBER = re.compile(r"^(\d+)([.)])")

Words = tuple[WordRun, ...]


class _Block(NamedTuple):
    kind: str
    header: str
    words: Words


def render_diff_text(
    diff: Diff,
    old_paragraphs: Sequence[str],
    new_paragraphs: Sequence[str],
    *,
    color: bool,
) -> str:
    """The diff for a terminal: ANSI colours through rich, or wdiff-style marks."""
    lines = [Text(f"{key}: {old} → {new}", style="bold")
             for key, old, new in _metadata_lines(diff)]
    for block in _blocks(diff, old_paragraphs, new_paragraphs):
        lines.append(Text())
        lines.append(Text(block.header, style=_HEADER_STYLES.get(block.kind, "bold")))
        lines.append(_styled_words(block.words) if color else Text(_wdiff_words(block.words)))
    lines += [Text(), Text(_skipped_line(diff))]
    if lines[0].plain == "":
        lines.pop(0)
    if color:
        return _ansi(lines)
    return "".join(line.plain + "\n" for line in lines)


def render_diff_markdown(
    diff: Diff, old_paragraphs: Sequence[str], new_paragraphs: Sequence[str]
) -> str:
    """The diff as Markdown, article text escaped."""
    inline = _escape_inline
    parts = [f"- **{inline(key)}**: {inline(old)} → {inline(new)}"
             for key, old, new in _metadata_lines(diff)]
    if parts:
        parts = ["\n".join(parts)]
    for block in _blocks(diff, old_paragraphs, new_paragraphs):
        parts.append(f"**{inline(block.header)}**")
        parts.append(_markdown_words(block.words))
    parts.append(f"_{_skipped_line(diff)}_")
    return "\n\n".join(parts) + "\n"


def escape_markdown(text: str) -> str:
    """A line of text that Markdown renders as itself."""
    return _escape_line_start(_escape_inline(text))


def _escape_inline(text: str) -> str:
    return _MARKDOWN_INLINE.sub(r"\\\1", text)


def _escape_line_start(line: str) -> str:
    """Keep a line from starting a heading, list, quote or rule ("1." becomes "1\\.")."""
    return _MARKDOWN_LIST_NUMBER.sub(r"\1\\\2", _MARKDOWN_BLOCK_MARK.sub(r"\\\1", line))


def _metadata_lines(diff: Diff) -> list[tuple[str, str, str]]:
    return [(change.key, _value(change.old), _value(change.new)) for change in diff.metadata]


def _value(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def _skipped_line(diff: Diff) -> str:
    unchanged = sum(op.op == "equal" for op in diff.ops)
    noun = "paragraph" if unchanged == 1 else "paragraphs"
    return f"{unchanged} unchanged {noun} not shown"


def _blocks(diff: Diff, old: Sequence[str], new: Sequence[str]) -> list[_Block]:
    return [_block(op, old, new) for op in diff.changed_ops]


def _block(op: Op, old: Sequence[str], new: Sequence[str]) -> _Block:
    kind = op.op
    header = _header(kind, op.old, op.new, op.similarity)
    if op.words:
        return _Block(kind, header, _elided(op.words))
    if kind == "delete":
        return _Block(kind, header, (WordRun("-", old[op.old[0]]),))
    if kind == "insert":
        return _Block(kind, header, (WordRun("+", new[op.new[0]]),))
    # Identical text moved, split or merged: shown as it reads now.
    return _Block(kind, header, (WordRun("=", " ".join(new[j] for j in op.new)),))


def _header(kind: str, old: Sequence[int], new: Sequence[int], similarity: Any) -> str:
    label = _SYMBOLS.get(kind, kind)
    if kind == "insert":
        where = _numbers(new)
    elif kind == "delete":
        where = f"(was {_numbers(old)})"
    elif kind == "modify" and list(old) == list(new):
        where = _numbers(new)
    else:
        where = f"{_numbers(old)} → {_numbers(new)}"
    edited = similarity is not None and similarity < 1
    return f"{label} {where}" + (f" (similarity {similarity:.2f})" if edited else "")


def _numbers(indices: Sequence[int]) -> str:
    """1-based paragraph numbers: "¶6", or "¶20–21" for a run."""
    first, last = indices[0] + 1, indices[-1] + 1
    return f"¶{first}" if first == last else f"¶{first}–{last}"


def _elided(words: Words) -> Words:
    """Cut unchanged runs to CONTEXT_WORDS words next to each change."""
    result = []
    for position, run in enumerate(words):
        if run.tag == "=":
            last = position == len(words) - 1
            run = WordRun("=", _shortened(run.text, keep_head=position > 0, keep_tail=not last))
        result.append(run)
    return tuple(result)


def _shortened(text: str, *, keep_head: bool, keep_tail: bool) -> str:
    tokens = text.split()
    kept = CONTEXT_WORDS * (keep_head + keep_tail)
    if len(tokens) <= kept + 3:  # cutting fewer words would not make it easier to read
        return text
    head = tokens[:CONTEXT_WORDS] if keep_head else []
    tail = tokens[-CONTEXT_WORDS:] if keep_tail else []
    return " ".join([*head, ELLIPSIS, *tail])


def _wdiff_words(words: Words) -> str:
    marks = {"-": ("[-", "-]"), "+": ("{+", "+}")}
    chunks = []
    for run in words:
        opening, closing = marks.get(run.tag, ("", ""))
        chunks.append(f"{opening}{run.text}{closing}")
    return "  " + " ".join(chunks)


def _styled_words(words: Words) -> Text:
    text = Text("  ")
    for position, run in enumerate(words):
        text.append(" " if position else "")
        text.append(run.text, style=_STYLES.get(run.tag, ""))
    return text


def _ansi(lines: Iterable[Text]) -> str:
    """Styled lines as ANSI escape codes, not wrapped (the terminal wraps)."""
    buffer = io.StringIO()
    # The caller asked for colour: NO_COLOR and terminal detection are the CLI's business.
    console = Console(file=buffer, force_terminal=True, color_system="standard", no_color=False,
                      soft_wrap=True, highlight=False, emoji=False, markup=False)
    for line in lines:
        console.print(line)
    return buffer.getvalue()


def _markdown_words(words: Iterable[WordRun]) -> str:
    marks = {"-": "~~", "+": "**"}
    chunks = []
    for run in words:
        mark = marks.get(run.tag, "")
        chunks.append(f"{mark}{_escape_inline(run.text)}{mark}")
    return _escape_line_start(" ".join(chunks))
