"""What changed between two versions of an article: paragraphs, words and metadata.

The pure core of change detection: lists of paragraph strings and metadata mappings in, plain
data out (``Op`` values and the JSON-ready dict of ``diff_documents``). No I/O and no storage;
depends on nothing of the project but ``tracker.normalize`` (and ``tracker.align``, the
paragraph alignment split out of this module), and on nothing outside the standard library
but deepdiff.

Paragraph operations come from ``tracker.align``, whose docstring gives the algorithm and its
thresholds. Here they get word-level detail and a reading order:

- Ops are sorted by their first new index. A delete has none; it is placed right after the op
  that holds the nearest earlier old paragraph still in sequence (equal, modify, split or
  merge; moves do not count), and before an insert at the same place, as in a unified diff.
- Word tokens are whitespace-separated and keep their punctuation, so "Rufe" and "riefen,"
  are simply two different words and an entry is always a verbatim slice of the paragraph:
  joining the "=" and "-" entries with single spaces gives back the old text, "=" and "+"
  the new one. Matching words are found with difflib; a run of one or two matching words no
  longer than the changes on both sides of it is folded into them, because a lone "der"
  shared by two rewritten sentences is a coincidence that only fragments the display.
- ``similarity`` is 1.0 only for identical text: an edit that only touches case or
  punctuation (which the similarity ignores) is reported as 0.99.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Any, NamedTuple

from deepdiff import DeepDiff

from tracker.align import Link, align
from tracker.normalize import normalize_text

Words = tuple[tuple[str, str], ...]

# Three words in a row shared by two rewritten sentences are rarely a coincidence.
_FOLD_MAX_WORDS = 2

_SUMMARY_KEYS = {
    "insert": "inserted",
    "delete": "deleted",
    "modify": "modified",
    "move": "moved",
    "split": "split",
    "merge": "merged",
    "equal": "unchanged",
}


@dataclass(frozen=True, slots=True)
class Op:
    """One paragraph operation; indices are 0-based positions in the old and new lists."""

    op: str  # "equal" | "insert" | "delete" | "modify" | "move" | "split" | "merge"
    old: tuple[int, ...]
    new: tuple[int, ...]
    similarity: float | None = None
    words: Words | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"op": self.op, "old": list(self.old), "new": list(self.new)}
        if self.similarity is not None:
            data["similarity"] = self.similarity
        if self.words is not None:
            data["words"] = [list(entry) for entry in self.words]
        return data


def diff_paragraphs(old: Sequence[str], new: Sequence[str]) -> list[Op]:
    """Complete alignment of two paragraph lists, in reading order."""
    old_texts = [_normalized_paragraph(p) for p in old]
    new_texts = [_normalized_paragraph(p) for p in new]
    ops = [_to_op(link, old_texts, new_texts) for link in align(old_texts, new_texts)]
    return _in_reading_order(ops)


def _normalized_paragraph(text: str) -> str:
    """``normalize_text``, skipped when it would change nothing.

    Inputs are normally normalised already, and normalize_text costs ~36 µs a paragraph,
    36 ms of the 50 ms budget for two 500-paragraph versions, against ~3 µs for this check.
    Printable text has no whitespace but the ASCII space and no invisible (format)
    characters, so only NFC, doubled spaces and edge spaces remain to be checked.
    """
    clean = text.isprintable() and "  " not in text and text == text.strip()
    if clean and unicodedata.is_normalized("NFC", text):
        return text
    return normalize_text(text)


def _to_op(link: Link, old: Sequence[str], new: Sequence[str]) -> Op:
    if link.op in ("equal", "insert", "delete"):
        return Op(link.op, link.old, link.new)
    old_text = " ".join(old[i] for i in link.old)
    new_text = " ".join(new[j] for j in link.new)
    if old_text == new_text:
        return Op(link.op, link.old, link.new, 1.0)
    similarity = min(round(link.similarity or 0.0, 2), 0.99)
    return Op(link.op, link.old, link.new, similarity, diff_words(old_text, new_text))


def _in_reading_order(ops: list[Op]) -> list[Op]:
    """By first new index; a delete right after the nearest earlier old paragraph in sequence."""
    in_sequence = {i: max(op.new) for op in ops if op.op != "move" for i in op.old if op.new}
    after, position = {}, -1
    for i in range(1 + max((i for op in ops for i in op.old), default=-1)):
        after[i] = position
        position = in_sequence.get(i, position)

    def key(op: Op) -> tuple[int, int, int]:
        if op.new:
            return (min(op.new), 0, min(op.old, default=-1))
        return (after[op.old[0]], 1, op.old[0])

    return sorted(ops, key=key)


class _Segment(NamedTuple):
    equal: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()
    inserted: tuple[str, ...] = ()


def diff_words(old: str, new: str) -> Words:
    """Word-level difference: ("=", text), ("-", text) and ("+", text) entries in order."""
    segments = _fold_coincidences(_segments(old.split(), new.split()))
    entries: list[tuple[str, str]] = []
    for segment in segments:
        for tag, tokens in (("=", segment.equal), ("-", segment.deleted), ("+", segment.inserted)):
            if tokens:
                entries.append((tag, " ".join(tokens)))
    return tuple(entries)


# difflib's word matching is quadratic in the worst case (one 60,000-word paragraph of
# repeated phrases took minutes). Beyond this many words on a side, the common head and tail
# are kept and the middle is matched with difflib's junk heuristic, which bounds the work.
LONG_PARAGRAPH_WORDS = 2_000


def _segments(old: list[str], new: list[str]) -> list[_Segment]:
    """Alternating runs of equal words and changes (difflib puts one change between equals)."""
    head = _common_prefix(old, new)
    tail = _common_prefix(old[head:][::-1], new[head:][::-1])
    middle_old, middle_new = old[head : len(old) - tail], new[head : len(new) - tail]
    autojunk = max(len(middle_old), len(middle_new)) > LONG_PARAGRAPH_WORDS
    segments = [_Segment(equal=tuple(old[:head]))] if head else []
    matcher = SequenceMatcher(None, middle_old, middle_new, autojunk=autojunk)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            segments.append(_Segment(equal=tuple(middle_old[i1:i2])))
        else:
            segments.append(_Segment((), tuple(middle_old[i1:i2]), tuple(middle_new[j1:j2])))
    if tail:
        segments.append(_Segment(equal=tuple(old[len(old) - tail :])))
    return _joined_equals(segments)


def _common_prefix(a: list[str], b: list[str]) -> int:
    count = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        count += 1
    return count


def _joined_equals(segments: list[_Segment]) -> list[_Segment]:
    """Merge neighbouring equal runs (the trimmed head or tail next to difflib's own)."""
    joined: list[_Segment] = []
    for segment in segments:
        if joined and segment.equal and joined[-1].equal:
            joined[-1] = _Segment(equal=joined[-1].equal + segment.equal)
        else:
            joined.append(segment)
    return joined


def _merge_changes(*segments: _Segment) -> _Segment:
    """One change: the equal words of the middle segments count as deleted and inserted."""
    deleted = tuple(t for s in segments for t in (s.equal or s.deleted))
    inserted = tuple(t for s in segments for t in (s.equal or s.inserted))
    return _Segment((), deleted, inserted)


def _fold_coincidences(segments: list[_Segment]) -> list[_Segment]:
    """Fold each short equal run no longer than the changes on both sides into them."""
    k = 1
    while k < len(segments) - 1:
        before, middle, after = segments[k - 1 : k + 2]
        size = len(middle.equal)
        short = 0 < size <= _FOLD_MAX_WORDS
        if short and _change_size(before) >= size and _change_size(after) >= size:
            segments[k - 1 : k + 2] = [_merge_changes(before, middle, after)]
            k = max(k - 1, 1)
        else:
            k += 1
    return segments


def _change_size(segment: _Segment) -> int:
    return 0 if segment.equal else max(len(segment.deleted), len(segment.inserted))


def diff_metadata(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Changed top-level keys as {key: {"old": ..., "new": ...}}; a missing side is None.

    Strings are compared normalised, so typographic noise in a title is not a change, and a
    key set to None counts as missing: neither shows the reader anything.
    """
    changed = DeepDiff(_comparable(old), _comparable(new)).affected_root_keys
    ordered = [key for key in old if key in changed]
    ordered += [key for key in new if key in changed and key not in old]
    return {key: {"old": old.get(key), "new": new.get(key)} for key in ordered}


def _comparable(metadata: Mapping[str, Any]) -> dict[str, Any]:
    return {key: _normalized(value) for key, value in metadata.items() if value is not None}


def _normalized(value: Any) -> Any:
    if isinstance(value, str):
        return normalize_text(value)
    if isinstance(value, Mapping):
        return {key: _normalized(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_normalized(item) for item in value]
    return value


def summarize(ops: Sequence[Op]) -> dict[str, int]:
    """Number of ops of each kind, under the keys of the JSON summary."""
    counts = dict.fromkeys(_SUMMARY_KEYS.values(), 0)
    for op in ops:
        counts[_SUMMARY_KEYS[op.op]] += 1
    return counts


def diff_documents(
    old_paragraphs: Sequence[str],
    new_paragraphs: Sequence[str],
    old_meta: Mapping[str, Any] | None = None,
    new_meta: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The diff of two versions in the JSON form stored and sent by the product."""
    ops = diff_paragraphs(old_paragraphs, new_paragraphs)
    return {
        "old": {"paragraphs": len(old_paragraphs)},
        "new": {"paragraphs": len(new_paragraphs)},
        "ops": [op.to_json() for op in ops],
        "metadata": diff_metadata(old_meta or {}, new_meta or {}),
        "summary": summarize(ops),
    }


def is_change(diff: Mapping[str, Any]) -> bool:
    """True if a reader would see a difference: a non-equal op or a metadata change."""
    ops = diff.get("ops", ())
    return any(op["op"] != "equal" for op in ops) or bool(diff.get("metadata"))
