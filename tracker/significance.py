"""How much a change changes for a reader: the words it changes, and whether that is minor.

A change below the notification threshold (``settings.notify_threshold``, or the host's) is
stored as a version but not notified. What counts, over the diff of ``tracker.diff``:

- each modified paragraph contributes the words its word diff changes, compared case-folded
  and without punctuation, so "liefern Der" → "liefern. Der" or a change of case counts 0;
  inside one run of changes, words that match again after that comparison are not counted;
- a changed word with a digit in it (a number, a date, a time) makes the change never minor:
  "10.000" → "11.000" is one word and the news;
- a title or lead-image caption edit counts its changed words the same way; "updated" (the
  site's own date) counts nothing; any other metadata change (a new lead photo, byline,
  publication date, URL, language) is never minor;
- inserted, deleted, moved, split and merged paragraphs are never minor.

Pure functions over a ``tracker.diff.Diff``; no storage.
"""

from __future__ import annotations

from collections.abc import Iterable
from difflib import SequenceMatcher

from tracker.diff import Diff, WordRun, diff_words

# Metadata counted by words; "updated" is the site's clock, not the story.
_WORDY_METADATA = frozenset({"title", "lead_caption"})
_IGNORED_METADATA = frozenset({"updated"})


class _Structural(Exception):
    """The change is more than words: never minor."""


# A run of changes longer than this is no minor edit at any threshold, and is not matched
# word by word: the diff gives a hostile paragraph's changed middle whole (tracker.diff).
_LONG_RUN_CHARS = 100_000


def changed_words(diff: Diff) -> int | None:
    """Words a reader sees changed, or None when the change is never minor (see above)."""
    try:
        total = 0
        for op in diff.changed_ops:
            if op.op != "modify":
                return None
            total += _counted(op.words or ())
        for change in diff.metadata:
            if change.key in _IGNORED_METADATA:
                continue
            if change.key not in _WORDY_METADATA:
                return None
            total += _counted(diff_words(change.old or "", change.new or ""))
    except _Structural:
        return None
    return total


def is_minor(diff: Diff, threshold: int) -> bool:
    """Whether a change is stored without a notification: fewer changed words than
    ``threshold`` (0 or less: no change is minor)."""
    if threshold <= 0:
        return False
    count = changed_words(diff)
    return count is not None and count < threshold


def _counted(words: Iterable[WordRun]) -> int:
    total = 0
    deleted: list[str] = []
    inserted: list[str] = []
    for run in words:
        tag, text = run.tag, run.text
        if tag != "=" and len(text) > _LONG_RUN_CHARS:
            raise _Structural
        if tag == "=":
            total += _run(deleted, inserted)
            deleted, inserted = [], []
        elif tag == "-":
            deleted += _canonical(text)
        else:
            inserted += _canonical(text)
    return total + _run(deleted, inserted)


def _run(deleted: list[str], inserted: list[str]) -> int:
    """Words changed in one run of deletions and insertions, compared canonically."""
    if deleted == inserted:
        return 0
    total = 0
    matcher = SequenceMatcher(None, deleted, inserted, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        if any(any(c.isdigit() for c in word) for word in (*deleted[i1:i2], *inserted[j1:j2])):
            raise _Structural
        total += max(i2 - i1, j2 - j1)
    return total


def _canonical(text: str) -> list[str]:
    """The words of ``text`` as a reader compares them: case-folded, letters and digits only."""
    words = ("".join(c for c in token.casefold() if c.isalnum()) for token in text.split())
    return [word for word in words if word]
