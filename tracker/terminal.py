"""Text from the web made safe to print on a terminal.

Titles, paragraphs, URLs, error messages and receivers' responses come from sites tracker does
not trust. Printed raw, an escape sequence in them could set the window title, forge a
hyperlink, write the clipboard (OSC 52) or rewrite lines already on screen; a bidi override
could make a URL read as another. So every character that is not text is shown as a visible
escape instead: C0 and C1 controls, DEL, bidi controls and line separators become ``\\x1b``,
``\\u202e`` … Rich markup in such text is made inert too (``[bold]`` in a title prints as
itself): cells and lines are ``rich.text.Text`` objects, never markup strings.

JSON output stays exact: JSON escapes C0 controls itself, and ``json_text`` escapes the others
(``\\u009b``, ``\\u202e``), which a JSON reader decodes back to the same string.

Pure functions; nothing here knows about the database or the network.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.text import Text

# Bidi embeddings, overrides, isolates and marks: they reorder what is shown (CVE-2021-42574).
_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
# Line and paragraph separators: some terminals and viewers start a new line at them.
_SEPARATORS = "\u2028\u2029"
_UNSAFE = re.compile(f"[\x00-\x1f\x7f-\x9f{_BIDI}{_SEPARATORS}]")
# The same, but keeping line feeds: for text that is meant to span lines (a traceback).
_UNSAFE_KEEP_LINES = re.compile(f"[\x00-\x09\x0b-\x1f\x7f-\x9f{_BIDI}{_SEPARATORS}]")
# What JSON with ensure_ascii=False leaves raw although a terminal would act on it.
_JSON_UNSAFE = re.compile(f"[\x7f-\x9f{_BIDI}{_SEPARATORS}]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """``text`` as one line that prints as itself: every control, bidi control and line
    separator (line feeds included) becomes a visible escape such as ``\\x1b``."""
    return _UNSAFE.sub(_escape, text)


def printable_lines(text: str) -> str:
    """Like ``printable`` but line feeds stay: for output that is meant to span lines."""
    return _UNSAFE_KEEP_LINES.sub(_escape, text)


def printable_data(value: Any) -> Any:
    """A copy of JSON-like data (dicts, lists, tuples, strings …) with every string made
    ``printable``: what renderers are given, so no hostile field is forgotten."""
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, Mapping):
        return {key: printable_data(item) for key, item in value.items()}
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a named tuple (a word run)
        return type(value)(*(printable_data(item) for item in value))
    if isinstance(value, list | tuple):
        return type(value)(printable_data(item) for item in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):  # a typed diff
        return dataclasses.replace(value, **{
            f.name: printable_data(getattr(value, f.name))
            for f in dataclasses.fields(value) if f.init
        })
    return value


def cell(value: Any) -> Text:
    """A table cell or line for rich: printable, never read as markup or emoji codes."""
    from rich.text import Text

    return Text(printable("" if value is None else str(value)))


def json_text(data: Any) -> str:
    """``data`` as indented JSON (non-ASCII text kept readable) that is safe on a terminal
    and decodes to exactly ``data``."""
    text = json.dumps(data, ensure_ascii=False, indent=2)
    # Outside strings JSON is ASCII, so every match is inside a string, where \\uXXXX is valid.
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


class TerminalFormatter(logging.Formatter):
    """Log lines that cannot carry escape sequences or forge further lines: the message is
    made ``printable``; a traceback keeps its line feeds and loses its controls."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return printable(super().formatMessage(record))

    def formatException(self, ei: Any) -> str:
        return printable_lines(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        return printable_lines(super().formatStack(stack_info))
