"""Compact paragraph reference lists: which stored paragraphs a version holds, in order.

A version usually differs from the one before it in one to three paragraphs, so storing its full
list of paragraph ids every time would cost more than the paragraphs themselves (a 500-paragraph
article: 4 KB of ids per version). Instead a version stores either

- a *key frame*: every id, 8 bytes each; or
- a *delta* against the previous version: runs copied from it plus the ids that are new.

A key frame is written for the first version, every ``KEYFRAME_EVERY`` versions, and whenever
the delta would not be smaller, so reading any version touches at most that many rows.

Format (bytes): ``b"K"`` + count (varint) + ids (8-byte signed big-endian), or ``b"D"`` +
instructions: ``b"C"`` start length (varints) copies a run of the previous list, ``b"N"`` +
8-byte id appends one id.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Sequence
from difflib import SequenceMatcher

KEYFRAME_EVERY = 32
_ID = struct.Struct(">q")


def paragraph_id(kind: str, text: str) -> int:
    """Content address of a paragraph: the first 63 bits of SHA-256 over kind and text."""
    digest = hashlib.sha256(f"{kind}\x00{text}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def is_keyframe(data: bytes) -> bool:
    return data[:1] == b"K"


def encode(ids: Sequence[int], previous: Sequence[int] | None, number: int) -> bytes:
    """Reference list for version ``number``; ``previous`` is the list of version number-1."""
    full = _keyframe(ids)
    if previous is None or number % KEYFRAME_EVERY == 1:
        return full
    delta = _delta(ids, previous)
    return delta if len(delta) < len(full) else full


def decode(chain: Iterable[bytes]) -> list[int]:
    """Ids of the last version of ``chain``: a key frame followed by consecutive deltas.

    Raises ValueError for data that is not a well-formed list (truncated, unknown tags, a copy
    outside the previous list, a chain that does not start with a key frame)."""
    ids: list[int] | None = None
    for data in chain:
        if is_keyframe(data):
            ids = _read_keyframe(data)
        elif data[:1] == b"D" and ids is not None:
            ids = _apply_delta(data, ids)
        else:
            problem = ("a delta without a key frame before it" if data[:1] == b"D"
                       else f"neither a key frame nor a delta (starts with {data[:1]!r})")
            raise ValueError(f"corrupt paragraph reference list: {problem}")
    if ids is None:
        raise ValueError("corrupt paragraph reference list: the chain is empty")
    return ids


def advance(previous: list[int], data: bytes) -> list[int]:
    """Ids of the version stored as ``data``, given the ids of the version before it: one
    step of ``decode``, for readers walking an article's versions in order."""
    if data[:1] == b"D":
        return _apply_delta(data, previous)
    return decode([data])  # a key frame, or the error decode gives for anything else


def _keyframe(ids: Sequence[int]) -> bytes:
    return b"K" + varint(len(ids)) + b"".join(_ID.pack(i) for i in ids)


def _delta(ids: Sequence[int], previous: Sequence[int]) -> bytes:
    out = [b"D"]
    matcher = SequenceMatcher(None, previous, ids, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            out += [b"C", varint(i1), varint(i2 - i1)]
        else:
            out += [b"N" + _ID.pack(i) for i in ids[j1:j2]]
    return b"".join(out)


def _read_keyframe(data: bytes) -> list[int]:
    count, pos = read_varint(data, 1)
    if len(data) != pos + 8 * count:
        raise ValueError(f"corrupt paragraph reference list: {count} ids need {8 * count} bytes, "
                         f"{len(data) - pos} given")
    return [_ID.unpack_from(data, pos + 8 * k)[0] for k in range(count)]


def _apply_delta(data: bytes, previous: list[int]) -> list[int]:
    ids: list[int] = []
    pos = 1
    while pos < len(data):
        tag = data[pos : pos + 1]
        if tag == b"C":
            start, pos = read_varint(data, pos + 1)
            length, pos = read_varint(data, pos)
            if start + length > len(previous):
                raise ValueError(f"corrupt paragraph reference list: copy beyond the previous "
                                 f"{len(previous)} ids at byte {pos}")
            ids += previous[start : start + length]
        elif tag == b"N" and pos + 1 + _ID.size <= len(data):
            ids.append(_ID.unpack_from(data, pos + 1)[0])
            pos += 9
        else:
            raise ValueError(f"corrupt paragraph reference list at byte {pos}")
    return ids


def varint(value: int) -> bytes:
    """``value`` (>= 0) in 7-bit groups, least significant first, the high bit set on all but
    the last (also ``db.edits``' scripts)."""
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def read_varint(
    data: bytes, pos: int, corrupt: type[ValueError] = ValueError,
    what: str = "paragraph reference list",
) -> tuple[int, int]:
    """The number a ``varint`` wrote at ``pos`` of ``data``, and the position after it; a
    number cut short or longer than 64 bits raises ``corrupt`` naming ``what``."""
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise corrupt(f"corrupt {what}: truncated number")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos
