"""Paragraphs stored as an edit of another paragraph, and the one resolver every reader of
paragraph text goes through.

A site that edits a story changes a few words of a paragraph at a time, and each edited
paragraph is a new distinct paragraph: stored whole, the corpus of ``bench_storage`` spent two
thirds of its paragraph bytes on near-copies. So a paragraph the diff matched to one of the
previous version (a modify, or a part of a split or merge) may be stored as ``base_id`` +
``delta``, no text: the edit script that turns the base's text into its own. The base is
always a paragraph stored with its text (an edit of an edit is made against the first one's
base instead), so a read needs at most one more lookup; when the script would not be clearly
smaller than the text (drift, a rewrite), the text is stored and becomes a new base.

The row's id stays the content address of its full text (``db.refs.paragraph_id``), so
deduplication is unchanged, and the text an edit resolves to is checked against it: a missing
or corrupt base, or a damaged script, is a ``CorruptParagraph``, never a wrong text.

A paragraph stored with its text may have it deflated instead, when that pays (most prose
of a few hundred bytes loses a quarter): ``delta`` holds it and ``base_id`` is NULL. Such a
row needs no other, so it serves as a base as a plain text does.

``delta`` formats, told apart by their first byte: ``b"E"`` an edit script, triples of varints
``keep`` (characters of the base copied), ``drop`` (characters of the base skipped) and
``size`` followed by ``size`` bytes of UTF-8 inserted, until the end, which must consume the
base exactly; ``b"Z"`` the UTF-8 text, raw deflate.

Imports nothing of SQLAlchemy: ``db.reads`` runs it on the stdlib driver too; each reader
hands in its own ``fetch`` of rows.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import Any

from db.refs import paragraph_id, read_varint, varint

# A script is kept only when it is at most this share of the text's bytes (with the 8 bytes of
# its base id): a little smaller is not worth the second lookup of every read.
KEEP_RATIO = 0.5
# Texts shorter than this are stored whole: their row's overhead dominates either way.
MIN_TEXT_BYTES = 48
# Tokens on each side of the changed middle that difflib may match word by word; past that the
# middle is one replacement (bounded work on hostile text: difflib is quadratic or worse).
MAX_TOKENS = 400

# A text is deflated when that saves at least this share of its bytes, and is this long.
DEFLATE_RATIO = 0.9
DEFLATE_MIN_BYTES = 64
# zlib level: on paragraphs of a few hundred bytes 9 gives the same bytes as zlib's default
# (the bench_storage corpus: 193,660 both) and 1 a quarter of a percent more, outside the
# write lock.
DEFLATE_LEVEL = 6
# Most of deflating a short text is setting up zlib's state, which grows with the window and
# memLevel: a window just over the text and memLevel 5 give the fixture story's paragraphs the
# same bytes as the defaults (-15, 8) in 0.4x the CPU (18 against 46 µs a paragraph: ~0.7 ms
# of a first sight's page). Inflating with the largest window reads any smaller one.
DEFLATE_MEM_LEVEL = 5

_BLOCK = 4096  # characters compared at a time for the common ends
_TOKENS = re.compile(r"\s+|[^\s]+")
_TAG = b"E"
_DEFLATED = b"Z"


class CorruptParagraph(ValueError):
    """A stored paragraph whose text cannot be given back as stored: its base is missing or
    not a full text, its script is malformed, or the result is not the text its id names."""


# The columns of a paragraphs row, in the order readers fetch them and writers insert them.
COLUMNS = ("id", "kind", "text", "base_id", "delta")
# (id, kind, text or None, base_id or None, delta or None): a paragraphs row as fetched.
StoredRow = tuple[int, str, "str | None", "int | None", "bytes | None"]
# Ids → their rows (each reader's query, chunked as it likes).
Fetch = Callable[[Sequence[int]], Iterable[Any]]


# --- the script -----------------------------------------------------------------------------


def encode(base: str, text: str) -> bytes:
    """The script that turns ``base`` into ``text``."""
    head = _common_prefix(base, text)
    tail = _common_prefix(base[head:][::-1], text[head:][::-1])
    old, new = base[head : len(base) - tail], text[head : len(text) - tail]
    steps: list[tuple[int, int, str]] = [(head, 0, "")]  # (keep, drop, insert)
    old_tokens, new_tokens = _TOKENS.findall(old), _TOKENS.findall(new)
    if len(old_tokens) > MAX_TOKENS or len(new_tokens) > MAX_TOKENS:
        steps.append((0, len(old), new))
    else:
        matcher = SequenceMatcher(None, old_tokens, new_tokens, autojunk=False)
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            chars = sum(map(len, old_tokens[i1:i2]))
            steps.append((chars, 0, "") if tag == "equal"
                         else (0, chars, "".join(new_tokens[j1:j2])))
    steps.append((tail, 0, ""))
    out = bytearray(_TAG)
    keep, drop, insert = 0, 0, ""
    for more, less, added in steps:
        if more and (drop or insert):  # a copy after a change: the triple is complete
            _triple(out, keep, drop, insert.encode())
            keep, drop, insert = 0, 0, ""
        keep, drop, insert = keep + more, drop + less, insert + added
    if keep or drop or insert:
        _triple(out, keep, drop, insert.encode())
    return bytes(out)


def apply(base: str, delta: bytes) -> str:
    """The text ``delta`` makes of ``base``; ``CorruptParagraph`` for a malformed script or
    one that does not fit the base. (Every read of an edit runs this: the common one-byte
    numbers are read inline.)"""
    if delta[:1] != _TAG:
        raise CorruptParagraph(f"not a paragraph edit script (starts with {delta[:1]!r})")
    pieces: list[str] = []
    at, pos, end = 0, 1, len(delta)
    try:
        while pos < end:
            keep = delta[pos]
            keep, pos = _read_varint(delta, pos) if keep & 0x80 else (keep, pos + 1)
            drop = delta[pos]
            drop, pos = _read_varint(delta, pos) if drop & 0x80 else (drop, pos + 1)
            size = delta[pos]
            size, pos = _read_varint(delta, pos) if size & 0x80 else (size, pos + 1)
            if at + keep + drop > len(base) or pos + size > end:
                raise CorruptParagraph("paragraph edit script runs past its base or its end")
            pieces.append(base[at : at + keep])
            if size:
                pieces.append(delta[pos : pos + size].decode())
            at, pos = at + keep + drop, pos + size
    except IndexError:
        raise CorruptParagraph("paragraph edit script is truncated") from None
    except UnicodeDecodeError as error:
        raise CorruptParagraph(f"paragraph edit script inserts bad UTF-8: {error}") from None
    if at != len(base):
        raise CorruptParagraph(f"paragraph edit script ends at {at} of {len(base)} characters")
    return "".join(pieces)


def edit_of(text: str, bases: Iterable[tuple[int, str]]) -> tuple[int, bytes] | None:
    """(base id, script) storing ``text`` as an edit of the smallest fit of the full-text
    ``bases``; None when no script is clearly smaller than the text (``KEEP_RATIO``)."""
    size = len(text.encode())
    if size < MIN_TEXT_BYTES:
        return None
    best: tuple[int, bytes] | None = None
    for base_id, base in bases:
        delta = encode(base, text)
        if best is None or len(delta) < len(best[1]):
            best = (base_id, delta)
    if best is None or len(best[1]) + 8 > size * KEEP_RATIO:
        return None
    return best


def deflated(text: str) -> bytes | None:
    """``text`` deflated (a ``delta`` without a base), when that is clearly smaller."""
    data = text.encode()
    if len(data) < DEFLATE_MIN_BYTES:
        return None
    window = max(9, min(15, len(data).bit_length()))
    deflate = zlib.compressobj(DEFLATE_LEVEL, zlib.DEFLATED, -window, DEFLATE_MEM_LEVEL)
    packed = _DEFLATED + deflate.compress(data) + deflate.flush()
    return packed if len(packed) <= len(data) * DEFLATE_RATIO else None


def compact(rows: Iterable[dict[str, Any]]) -> None:
    """Deflate the texts of the paragraph rows stored with their text, where that pays."""
    for row in rows:
        text = row.get("text")
        if text is not None and (packed := deflated(text)) is not None:
            row.update(text=None, base_id=None, delta=packed)


def _inflated(key: int, delta: bytes) -> str:
    if delta[:1] != _DEFLATED:
        raise CorruptParagraph(f"paragraph {key} has neither a text nor a base")
    try:  # a truncated stream is an error; the text is checked against its id after
        return zlib.decompress(delta[1:], -15).decode()
    except (zlib.error, UnicodeDecodeError) as error:
        raise CorruptParagraph(f"paragraph {key}'s deflated text is damaged: {error}") from None


def _common_prefix(a: str, b: str) -> int:
    """The length of the longest common prefix, compared a block at a time (a paragraph may be
    megabytes long: no copy of more than a block), then by halves within the block."""
    n = min(len(a), len(b))
    low = 0
    while low < n and a[low : min(low + _BLOCK, n)] == b[low : min(low + _BLOCK, n)]:
        low += _BLOCK
    if low >= n:
        return n
    high = min(low + _BLOCK, n)  # a[:low] == b[:low], a[:high] != b[:high]
    while high - low > 1:
        middle = (low + high) // 2
        if a[low:middle] == b[low:middle]:
            low = middle
        else:
            high = middle
    return low


def _triple(out: bytearray, keep: int, drop: int, insert: bytes) -> None:
    out += varint(keep) + varint(drop) + varint(len(insert)) + insert


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    return read_varint(data, pos, CorruptParagraph, "paragraph edit script")


# --- the resolver ---------------------------------------------------------------------------


@dataclass(slots=True)
class Resolved:
    """Stored paragraphs with their texts: ``texts`` id → (kind, text) of each one asked for
    (and found); ``sources`` id → (base id, base text), the full-text paragraph an edit of it
    would be made against (itself when stored whole, else its base)."""

    texts: dict[int, tuple[str, str]] = field(default_factory=dict)
    sources: dict[int, tuple[int, str]] = field(default_factory=dict)


def resolve(ids: Iterable[int], fetch: Fetch) -> Resolved:
    """The paragraphs ``ids`` read with ``fetch`` (rows ``StoredRow``: id, kind, text,
    base_id, delta), the bases of those stored as edits fetched in one more round; an id not
    stored is left out (the caller says what is missing)."""
    found = Resolved()
    edits: list[tuple[int, str, int, bytes]] = []
    for key, kind, text, base_id, delta in fetch(sorted(set(ids))):
        if base_id is not None and delta is not None and text is None:
            edits.append((key, kind, base_id, bytes(delta)))
            continue
        whole = _whole(key, kind, text, base_id, delta)
        found.texts[key] = (kind, whole)
        found.sources[key] = (key, whole)
    if not edits:
        return found
    bases = {key: text for key, (_, text) in found.sources.items()}  # whole texts so far
    wanted = sorted({base_id for _, _, base_id, _ in edits} - bases.keys())
    for key, kind, text, base_id, delta in fetch(wanted) if wanted else ():
        if base_id is None:  # an edit is no base: it is left out, and its edits refused
            bases[key] = _whole(key, kind, text, base_id, delta)
    for key, kind, base_id, delta in edits:
        base = bases.get(base_id)
        if base is None:
            raise CorruptParagraph(
                f"paragraph {key} is an edit of paragraph {base_id}, which is not stored "
                "with its text")
        text = apply(base, delta)
        if paragraph_id(kind, text) != key:
            raise CorruptParagraph(f"paragraph {key} reads back as another text (its base "
                                   f"{base_id} or its edit script is damaged)")
        found.texts[key] = (kind, text)
        found.sources[key] = (base_id, base)
    return found


def in_order(found: dict[int, tuple[str, str]], ids: Iterable[int]) -> list[tuple[str, str]]:
    """(kind, text) of each of ``ids`` in that order; ``CorruptParagraph`` for one not
    stored (a version refers to it)."""
    try:
        return [found[i] for i in ids]
    except KeyError as missing:
        raise CorruptParagraph(f"paragraph {missing.args[0]} is not stored") from None


def _whole(key: int, kind: str, text: str | None, base_id: int | None,
           delta: bytes | None) -> str:
    """The text of a row stored whole, plain or deflated. Such a row depends on no other, so
    its text is not checked against its id (as a plain text is not): damage to a deflated
    stream is an error of zlib's or of the UTF-8 decoder's."""
    if text is not None:
        return text
    if base_id is not None or delta is None:
        raise CorruptParagraph(f"paragraph {key} has neither a text nor an edit of one")
    return _inflated(key, bytes(delta))


def full_rows(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Paragraph rows with every column (``text`` or ``base_id`` + ``delta``, the other
    None): rows built with a text only get the edit columns as None."""
    return [{column: row.get(column) for column in COLUMNS} for row in rows]
