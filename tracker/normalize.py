"""Text normalisation applied before paragraphs are hashed or compared.

Two renderings of the same text that a reader cannot tell apart must normalise to the same
string: Unicode composition (NFC), no-break and other exotic spaces, soft hyphens, zero-width
characters, CRLF line ends and runs of whitespace. Pure functions, no dependencies.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

# Characters that are invisible in a rendered page and carry no words.
_INVISIBLE = dict.fromkeys(
    map(
        ord,
        "\u00ad"  # soft hyphen
        "\u200b\u200c\u200d\u2060"  # zero-width space, non-joiner, joiner, word joiner
        "\ufeff"  # byte order mark / zero-width no-break space
        "\u180e",  # Mongolian vowel separator (formerly a space)
    ),
    None,
)
# Any run of whitespace, including no-break (\u00a0, \u202f) and typographic spaces, which
# Python's \s already covers in str patterns.
_SPACES = re.compile(r"\s+")


def normalize_text(text: str) -> str:
    """One paragraph's text in the form that is hashed and compared."""
    text = unicodedata.normalize("NFC", text.translate(_INVISIBLE))
    return _SPACES.sub(" ", text).strip()


def split_lines(text: str) -> list[str]:
    """Paragraphs of a plain-text document: one per non-empty line, normalised."""
    paragraphs = (normalize_text(line) for line in text.splitlines())
    return [p for p in paragraphs if p]


def paragraph_hash(text: str) -> str:
    """Content address of a normalised paragraph (hex SHA-256)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
