"""Text normalisation applied before paragraphs are hashed or compared.

Two renderings of the same text that a reader cannot tell apart must normalise to the same
string: Unicode composition (NFC), no-break and other exotic spaces, soft hyphens, zero-width
characters, control characters, CRLF line ends and runs of whitespace. Pure functions, no
dependencies.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

# Characters that are invisible in a rendered page and carry no words: soft hyphen, zero-width
# space, non-joiner, joiner, word joiner, byte order mark (zero-width no-break space), the
# Mongolian vowel separator (formerly a space), and control characters that are no whitespace
# (a terminal would act on ESC; a page cannot mean them as text).
_INVISIBLE = re.compile(
    "[\u00ad\u200b\u200c\u200d\u2060\ufeff\u180e\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f]"
)


def normalize_text(text: str) -> str:
    """One paragraph's text in the form that is hashed and compared."""
    # Each step only when needed: most text has nothing to remove and is NFC already, and
    # this runs for every paragraph of every page.
    if _INVISIBLE.search(text):
        text = _INVISIBLE.sub("", text)
    if not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    # Any run of whitespace, including no-break (\u00a0, \u202f) and typographic spaces: what
    # str.split() splits at (the very characters the regex \s matches, and faster).
    return " ".join(text.split())


def split_lines(text: str) -> list[str]:
    """Paragraphs of a plain-text document: one per non-empty line, normalised."""
    paragraphs = (normalize_text(line) for line in text.splitlines())
    return [p for p in paragraphs if p]


def paragraph_hash(text: str) -> str:
    """Content address of a normalised paragraph (hex SHA-256)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
