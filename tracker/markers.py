"""Does a page say that its story is still developing?

Newsrooms flag stories they keep rewriting: "This is a developing story", "LIVE:" before the
headline, "Update:" paragraphs, German "Dieser Artikel wird laufend aktualisiert",
"Eilmeldung", "+++ … +++" ticker lines. While a page carries such a marker tracker keeps its
check interval short (``tracker.intervals.next_interval``'s ``cap``).

``developing_marker`` is a pure function over the title and the paragraph texts; it returns
the marker it found (for logs and tests) or None. Words are matched on word boundaries, so
"delivery", "lived", "Oliver" or "ground-breaking research" are not markers. Markers that are
ordinary words elsewhere ("live", "update", "breaking", "wird aktualisiert") only count where
newsrooms put them: at the start of the headline or of a paragraph, or as a short closing line.
Depends on nothing but ``re``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_FLAGS = re.IGNORECASE | re.UNICODE

# Phrases specific enough to count anywhere in the title or the text.
_PHRASES = (
    r"(?:this|it) is an? (?:developing|breaking) (?:news )?story"
    r"|developing (?:news )?story"
    r"|this (?:story|article|report|page|post)"
    r" (?:will be updated|is being updated|is (?:still )?developing)"
    r"|(?:story|article|report) (?:will be|is being) updated"
    r"|check back (?:later |soon )?for updates"
    r"|live (?:updates|coverage|blog)"
    r"|sich entwickelnde (?:geschichte|lage|nachricht|meldung|situation)"
    r"|(?:dieser|der) (?:artikel|text|beitrag|bericht|ticker)"
    r" wird (?:laufend |fortlaufend |ständig |stetig |regelmäßig |weiter )?aktualisiert"
    r"|(?:diese|die) (?:meldung|nachricht|seite|geschichte)"
    r" wird (?:laufend |fortlaufend |ständig |stetig |regelmäßig |weiter )?aktualisiert"
    r"|eilmeldung|liveticker|live-ticker|liveblog|live-blog|newsblog|newsticker"
)
# The first letters of those phrases, looked ahead for: a position starting with any other
# letter is passed over at once instead of trying every phrase there (0.11 -> 0.06 ms a
# page of bench_check's). It must hold the first letter of every phrase: tests/test_markers.py
# compares the search with the one without it.
_FIRST_LETTERS = "(?=[acdeilnrst])"
_ANYWHERE = re.compile(rf"\b{_FIRST_LETTERS}(?:{_PHRASES})\b", _FLAGS)
# At the start of the headline: "Live:", "LIVE Ukraine …", "Breaking: …", "BREAKING …".
_HEADLINE = re.compile(
    r"^\W{0,4}(?:"
    r"(?i:live|breaking(?: news)?|eilmeldung|update|aktualisiert)\s*[:|–—-]"
    r"|LIVE\b|BREAKING\b|\+\+\+"
    r")",
    re.UNICODE,
)
# At the start of a paragraph: "Update:", "Updated 14:30 GMT:", "UPDATE (3.45pm):", "Breaking:".
_ZONE = r"(?:[ap]\.?m\.?|uhr|gmt|utc|bst|cet|cest|mez|mesz|et|est|edt|pt|pst|pdt)"
_TIME = rf"(?:\s*(?:at\s+|um\s+)?\(?[\d:.]+\s*{_ZONE}?\)?)?"
_PARAGRAPH_START = re.compile(
    rf"^\W{{0,4}}(?:updated?{_TIME}|breaking(?: news)?|live|eilmeldung|aktualisierung{_TIME})"
    r"\s*:",
    _FLAGS,
)
# A ticker line: "+++ Kim empfängt Putin am Flughafen +++".
_TICKER = re.compile(r"^\s*\+\+\+\s*\S.*?\+\+\+")
# A short closing line such as "Der Text wird aktualisiert." or "The story will be updated."
_CLOSING = re.compile(
    r"\b(?:wird (?:\w+ )?aktualisiert|will be updated(?: as (?:more )?"
    r"(?:information|details) (?:becomes?|are|is) available)?)\W*$",
    _FLAGS,
)
CLOSING_LINE_MAX = 200  # characters: longer paragraphs are article text, not an editor's note


def developing_marker(title: str | None, paragraphs: Iterable[str]) -> str | None:
    """The first developing-story marker in the headline or the paragraphs, or None."""
    if title:
        found = _HEADLINE.search(title) or _ANYWHERE.search(title)
        if found:
            return found.group(0).strip()
    for text in paragraphs:
        found = (
            _ANYWHERE.search(text)
            or _PARAGRAPH_START.search(text)
            or _TICKER.search(text)
            or (_CLOSING.search(text) if len(text) <= CLOSING_LINE_MAX else None)
        )
        if found:
            return found.group(0).strip()
    return None


def is_developing(title: str | None, paragraphs: Iterable[str]) -> bool:
    return developing_marker(title, paragraphs) is not None
