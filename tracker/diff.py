"""What changed between two versions of an article: paragraphs, words and metadata.

The pure core of change detection: lists of paragraph strings and metadata mappings in, typed
values out: ``diff_documents`` gives a ``Diff`` (its ``Op``s with their ``WordRun``s, its
``MetadataChange``s and its ``Summary``), which every consumer reads as such; only the edges
(CLI JSON, webhook payloads, the API, the stored copy) turn it into JSON with ``Diff.to_json``,
and ``Diff.from_json`` reads a stored one back. No I/O and no storage;
depends on nothing of the project but ``tracker.normalize`` (and ``tracker.align``, the
paragraph alignment split out of this module), and on nothing outside the standard library
but deepdiff, which compares changed metadata (imported when a document's metadata changed).

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
- Bounded work: difflib's word matching is quadratic or worse on hostile text (20,000
  words with each pair of neighbours swapped took minutes). Its worst case is computed
  before it runs (``_matching_work``); past ``WORD_DIFF_PAIR_MAX`` for one op, or
  ``WORD_DIFF_BUDGET`` for a whole diff, the changed middle between the common head and tail
  is given as one "-" and one "+" entry. Texts over ``_LONG_TEXT_CHARS`` have their head and
  tail found on characters, so a 10 MiB paragraph is never cut into two million words.
  Every op stays complete; only the detail of very long or very scrambled edits is coarser.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Any, NamedTuple, Self

from tracker.align import Link, align
from tracker.normalize import normalize_text

Json = dict[str, Any]
# A metadata value as extracted: a string in stored versions; lists or mappings are possible in
# the metadata of two files given to ``tracker diff`` (JSON values, compared as such).
MetaValue = Any

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


class WordRun(NamedTuple):
    """A run of words: ``=`` in both versions, ``-`` deleted, ``+`` inserted.

    A named pair rather than a dataclass: it is the (tag, text) pair of the JSON form, and
    compares equal to it, so the aligner's pinned tests read as literals."""

    tag: str  # "=" | "-" | "+"
    text: str

    def to_json(self) -> list[str]:
        return [self.tag, self.text]


Words = tuple[WordRun, ...]


@dataclass(frozen=True, slots=True)
class Op:
    """One paragraph operation; indices are 0-based positions in the old and new lists."""

    op: str  # "equal" | "insert" | "delete" | "modify" | "move" | "split" | "merge"
    old: tuple[int, ...]
    new: tuple[int, ...]
    similarity: float | None = None
    words: Words | None = None

    def to_json(self) -> Json:
        data: Json = {"op": self.op, "old": list(self.old), "new": list(self.new)}
        if self.similarity is not None:
            data["similarity"] = self.similarity
        if self.words is not None:
            data["words"] = [run.to_json() for run in self.words]
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        words = data.get("words")
        return cls(
            str(data["op"]), tuple(data["old"]), tuple(data["new"]), data.get("similarity"),
            None if words is None else tuple(WordRun(tag, text) for tag, text in words),
        )


@dataclass(frozen=True, slots=True)
class MetadataChange:
    """A changed metadata field; a missing side is None."""

    key: str
    old: MetaValue
    new: MetaValue


@dataclass(frozen=True, slots=True)
class Summary:
    """How many ops of each kind a diff has."""

    inserted: int = 0
    deleted: int = 0
    modified: int = 0
    moved: int = 0
    split: int = 0
    merged: int = 0
    unchanged: int = 0

    def to_json(self) -> dict[str, int]:
        """{name: count} in the documented order (the summary of the JSON diff)."""
        return {name: getattr(self, name) for name in _SUMMARY_KEYS.values()}

    def changes(self) -> dict[str, int]:
        """The counts of changed paragraphs that are not zero."""
        return {k: n for k, n in self.to_json().items() if n and k != "unchanged"}


@dataclass(frozen=True, slots=True)
class Diff:
    """What changed between two versions: paragraph ops in reading order (see above), the
    changed metadata in the order of the old version's fields, and the number of paragraphs
    on each side."""

    old_paragraphs: int
    new_paragraphs: int
    ops: tuple[Op, ...]
    metadata: tuple[MetadataChange, ...] = ()

    @property
    def summary(self) -> Summary:
        return summarize(self.ops)

    @property
    def metadata_keys(self) -> list[str]:
        return [change.key for change in self.metadata]

    def metadata_change(self, key: str) -> MetadataChange | None:
        return next((change for change in self.metadata if change.key == key), None)

    @property
    def is_change(self) -> bool:
        """True if a reader would see a difference: a non-equal op or a metadata change."""
        return any(op.op != "equal" for op in self.ops) or bool(self.metadata)

    @property
    def changed_ops(self) -> tuple[Op, ...]:
        return tuple(op for op in self.ops if op.op != "equal")

    def metadata_json(self) -> dict[str, dict[str, MetaValue]]:
        return {c.key: {"old": c.old, "new": c.new} for c in self.metadata}

    def to_json(self) -> Json:
        """The documented JSON form (``tracker diff --format json``, the API, webhooks)."""
        return {
            "old": {"paragraphs": self.old_paragraphs},
            "new": {"paragraphs": self.new_paragraphs},
            "ops": [op.to_json() for op in self.ops],
            "metadata": self.metadata_json(),
            "summary": self.summary.to_json(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        """The diff ``to_json`` made (the stored form); its summary is derived again."""
        return cls(
            int(data["old"]["paragraphs"]), int(data["new"]["paragraphs"]),
            tuple(Op.from_json(op) for op in data["ops"]),
            tuple(MetadataChange(str(key), change.get("old"), change.get("new"))
                  for key, change in data["metadata"].items()),
        )


def diff_paragraphs(old: Sequence[str], new: Sequence[str]) -> list[Op]:
    """Complete alignment of two paragraph lists, in reading order."""
    old_texts = [_normalized_paragraph(p) for p in old]
    new_texts = [_normalized_paragraph(p) for p in new]
    budget = _Budget(WORD_DIFF_BUDGET)
    ops = [_to_op(link, old_texts, new_texts, budget) for link in align(old_texts, new_texts)]
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


def _to_op(link: Link, old: Sequence[str], new: Sequence[str], budget: _Budget) -> Op:
    if link.op in ("equal", "insert", "delete"):
        return Op(link.op, link.old, link.new)
    # An empty paragraph (never stored, but possible here) adds no word and no space.
    old_text = " ".join(old[i] for i in link.old if old[i])
    new_text = " ".join(new[j] for j in link.new if new[j])
    if old_text == new_text:
        return Op(link.op, link.old, link.new, 1.0)
    similarity = min(round(link.similarity or 0.0, 2), 0.99)
    return Op(link.op, link.old, link.new, similarity, _diff_words(old_text, new_text, budget))


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
    """Word-level difference: "=", "-" and "+" runs in order."""
    return _diff_words(old, new, _Budget(WORD_DIFF_BUDGET))


# Work limits of the word diff, in difflib's steps (see ``_matching_work``): one paragraph
# of 1,000 words rewritten throughout takes about 2 million. Past the limit of one pair, or
# of a whole diff, the changed middle is shown as one deletion and one insertion.
WORD_DIFF_PAIR_MAX = 4_000_000
WORD_DIFF_BUDGET = 16_000_000
# Texts longer than this have their common head and tail found on characters, so that only
# the changed middle is ever cut into words (a 10 MiB paragraph is 2 million of them), and
# only a middle up to _MIDDLE_CHARS_MAX.
_LONG_TEXT_CHARS = 100_000
_MIDDLE_CHARS_MAX = 100_000
_IRREGULAR_SPACE = re.compile(r"\s{2,}|[^\S ]|^ | $")


class _Budget:
    """Steps of word matching left for one diff."""

    def __init__(self, steps: int) -> None:
        self.left = steps


def _diff_words(old: str, new: str, budget: _Budget) -> Words:
    if len(old) + len(new) > _LONG_TEXT_CHARS:
        segments = _long_segments(_single_spaced(old), _single_spaced(new), budget)
    else:
        segments = _segments(old.split(), new.split(), budget)
    entries: list[WordRun] = []
    for segment in _fold_coincidences(segments):
        for tag, tokens in (("=", segment.equal), ("-", segment.deleted), ("+", segment.inserted)):
            if tokens:
                entries.append(WordRun(tag, " ".join(tokens)))
    return tuple(entries)


def _single_spaced(text: str) -> str:
    """What ``" ".join(text.split())`` gives, without a list of every word."""
    return _IRREGULAR_SPACE.sub(" ", text).strip() if _IRREGULAR_SPACE.search(text) else text


def _long_segments(old: str, new: str, budget: _Budget) -> list[_Segment]:
    """``_segments`` of two long single-spaced texts; a long changed middle is kept whole."""
    head = _word_head(old, new)
    tail = _word_head(old[head:][::-1], new[head:][::-1])
    middle_old = old[head : len(old) - tail].strip(" ")
    middle_new = new[head : len(new) - tail].strip(" ")
    segments = [_Segment(equal=(old[:head].rstrip(" "),))] if old[:head].strip(" ") else []
    if len(middle_old) + len(middle_new) <= _MIDDLE_CHARS_MAX:
        segments += _segments(middle_old.split(), middle_new.split(), budget)
    else:
        segments.append(_Segment((), _nonempty(middle_old), _nonempty(middle_new)))
    if old[len(old) - tail :].strip(" "):
        segments.append(_Segment(equal=(old[len(old) - tail :].lstrip(" "),)))
    return _joined_equals(segments)


def _nonempty(text: str) -> tuple[str, ...]:
    return (text,) if text else ()


def _word_head(a: str, b: str) -> int:
    """Length of the longest common start of ``a`` and ``b`` made of whole words of both."""
    same = _common_chars(a, b)
    if same == len(a) == len(b):
        return same
    ends_word = [same == len(text) or text[same] == " " for text in (a, b)]
    if all(ends_word):
        return same
    return max(a.rfind(" ", 0, same), 0)


def _common_chars(a: str, b: str, block: int = 4096) -> int:
    """Length of the common prefix, compared a block at a time (C speed, no copy of all)."""
    limit = min(len(a), len(b))
    start = 0
    while start < limit and a[start : start + block] == b[start : start + block]:
        start += block
    end = min(start + block, limit)
    while start < end and a[start] == b[start]:
        start += 1
    return min(start, limit)


def _segments(old: list[str], new: list[str], budget: _Budget) -> list[_Segment]:
    """Alternating runs of equal words and changes (difflib puts one change between equals)."""
    head = _common_prefix(old, new)
    tail = _common_prefix(old[head:][::-1], new[head:][::-1])
    middle_old, middle_new = old[head : len(old) - tail], new[head : len(new) - tail]
    segments = [_Segment(equal=tuple(old[:head]))] if head else []
    work = _matching_work(middle_old, middle_new)
    if work <= min(WORD_DIFF_PAIR_MAX, budget.left):
        budget.left -= work
        matcher = SequenceMatcher(None, middle_old, middle_new, autojunk=False)
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            if tag == "equal":
                segments.append(_Segment(equal=tuple(middle_old[i1:i2])))
            else:
                segments.append(_Segment((), tuple(middle_old[i1:i2]), tuple(middle_new[j1:j2])))
    else:
        segments.append(_Segment((), tuple(middle_old), tuple(middle_new)))
    if tail:
        segments.append(_Segment(equal=tuple(old[len(old) - tail :])))
    return _joined_equals(segments)


def _matching_work(old: list[str], new: list[str]) -> int:
    """An upper bound of difflib's steps: each level of its recursion visits every old word
    and every equal pair of words at most once, and it recurses at most min(m, n) deep."""
    if not old or not new:
        return 0
    counts = Counter(new)
    pairs = sum(counts.get(word, 0) for word in old)
    return (len(old) + pairs) * (min(len(old), len(new)) + 1) + len(new)


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


def diff_metadata(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[MetadataChange, ...]:
    """The changed top-level keys, old version's order first; a missing side is None.

    Strings are compared normalised, so typographic noise in a title is not a change, and a
    key set to None counts as missing: neither shows the reader anything.
    """
    changed = _changed_keys(_comparable(old), _comparable(new))
    if not changed:
        return ()
    ordered = [key for key in old if key in changed]
    ordered += [key for key in new if key in changed and key not in old]
    return tuple(MetadataChange(key, old.get(key), new.get(key)) for key in ordered)


def _changed_keys(before: dict[str, Any], after: dict[str, Any]) -> set[str]:
    """The keys deepdiff names as changed (``affected_root_keys``). Equal values are settled
    here first, so the usual document, whose metadata did not change, never loads deepdiff;
    the keys that differ go to deepdiff with ``threshold_to_diff_deeper=0``: by default it
    takes two mappings that share under a third of their keys for one changed value and
    names no key, and such a change was lost (a new title beside three new fields). Keys
    starting with "__" are never a change: deepdiff takes them for private variables.
    """
    differing = [key for key in before.keys() | after.keys()
                 if not key.startswith("__")
                 and (key not in before or key not in after
                      or not _same(before[key], after[key]))]  # fmt: skip
    if not differing:
        return set()
    from deepdiff import DeepDiff  # only a changed document pays for its import

    pairs = ({key: before[key] for key in differing if key in before},
             {key: after[key] for key in differing if key in after})  # fmt: skip
    return set(DeepDiff(*pairs, threshold_to_diff_deeper=0).affected_root_keys)


def _comparable(metadata: Mapping[str, Any]) -> dict[str, Any]:
    return {key: _normalized(value) for key, value in metadata.items() if value is not None}


def _same(old: Any, new: Any) -> bool:
    """Equal values of the same type all the way down, so that deepdiff would find nothing
    (1 and 1.0 are not the same metadata: a reader of the JSON sees them differ). One object
    is the same as itself, NaN too, as deepdiff takes it."""
    if old is new:
        return True
    if type(old) is not type(new):
        return False
    if isinstance(old, dict):
        return old.keys() == new.keys() and all(_same(old[k], new[k]) for k in old)
    if isinstance(old, list):
        return len(old) == len(new) and all(_same(a, b) for a, b in zip(old, new, strict=True))
    return bool(old == new)


def _normalized(value: Any) -> Any:
    if isinstance(value, str):
        return normalize_text(value)
    if isinstance(value, Mapping):
        return {key: _normalized(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_normalized(item) for item in value]
    return value


def summarize(ops: Sequence[Op]) -> Summary:
    """Number of ops of each kind."""
    counts = Counter(_SUMMARY_KEYS[op.op] for op in ops)
    return Summary(**counts)


def diff_documents(
    old_paragraphs: Sequence[str],
    new_paragraphs: Sequence[str],
    old_meta: Mapping[str, Any] | None = None,
    new_meta: Mapping[str, Any] | None = None,
) -> Diff:
    """The diff of two versions (paragraph texts and metadata)."""
    return Diff(
        len(old_paragraphs), len(new_paragraphs),
        tuple(diff_paragraphs(old_paragraphs, new_paragraphs)),
        diff_metadata(old_meta or {}, new_meta or {}),
    )
