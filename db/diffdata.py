"""The stored form of a diff (``version_diffs.data``) and of its summary counts. Standard
library only, so the read path (``db.reads``) decodes a diff without SQLAlchemy.

Three formats of ``data``, told apart by their first byte, all read:

- format 1 (zlib's own first byte, 0x78): the diff's JSON form, zlib-compressed, its runs of
  unchanged paragraphs folded (see below);
- format 2 (``b"\\x02"`` then raw deflate): the same JSON without what the new version's
  stored paragraphs give back. A modified, moved, split or merged paragraph's word runs are
  most of a diff (the whole text of the paragraph, again), yet every ``=`` and ``+`` run is a
  slice of the new paragraph's words. So they are stored as counts of its words (``n`` for
  ``=``, ``-n`` for ``+``, and a string for a ``-`` run, the only words the new version lacks).
  An operation is an array ``[op, old, new, similarity, counts]`` (the last two when it has
  them), and what follows from the rest is left out: the summary counts (the column beside the
  blob has them too), the number of new paragraphs (the texts given) and of old ones (every
  old paragraph is in one operation). Reading one needs the new version's paragraph texts, in
  order, as stored.
- format 3 (``b"\\x03"`` then raw deflate against ``_DICTIONARY``, migration 0014_pgbytes):
  format 2's JSON, deflated with a preset dictionary of the keys, operation names and shapes
  every diff repeats. A diff is a few hundred bytes of JSON, too short for deflate to find
  them in it: 164 → 124 KB over the storage benchmark's 950 diffs.

``pack`` writes format 3 when it is given those texts, and keeps verbatim (an operation as its
JSON object, a paragraph count) whatever would not be given back exactly (words with
whitespace the word split would not keep, an operation of another shape), so the format loses
nothing whatever the texts hold.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

# zlib level: diffs are small and written on the check's path; 6 is zlib's default balance.
LEVEL = 6
FORMAT_2 = b"\x02"
FORMAT_3 = b"\x03"
# Format 3's preset dictionary: what diffs' JSON repeats (no text of any page), the likeliest
# last. Part of the stored form: never change it; another needs another format byte.
_DICTIONARY = (
    b'"similarity":"words":{"paragraphs":"old":"new":'
    b'"metadata":{"title":{"old":"","new":""},"byline":{"old":"lead_image":{"old":"https://",'
    b'"lead_caption":{"old":"published":{"old":"canonical_url":{"old":"language":{"old":'
    b'"extractor":{"old":["insert",[],[0]],["delete",[0],[]],["merge",[0,1],[0],'
    b'["split",[0],[0,1],["move",[0],[1],1.0,["modify",[1],[1],0.9,['
    b'"updated":{"old":"2020-01-01T00:00:00+00:00","new":"2020-01-01T00:00:00Z"}}}{"ops":[[0,0,'
)

# The summary counts in their documented order (tracker.diff.Summary), and the op each counts.
SUMMARY_KEYS = ("inserted", "deleted", "modified", "moved", "split", "merged", "unchanged")
_COUNTED = dict(zip(("insert", "delete", "modify", "move", "split", "merge", "equal"),
                    SUMMARY_KEYS, strict=True))  # fmt: skip


def pack(diff: Mapping[str, Any], *, fold: bool = True,
         new_texts: Sequence[str] | None = None) -> bytes:  # fmt: skip
    """The stored bytes of a diff's JSON form: format 3 given the new version's paragraph
    texts, else format 1, its runs of unchanged paragraphs folded (plain with ``fold=False``:
    the form of before migration 0011_meta, for its downgrade)."""
    stored = fold_equal(diff) if fold else dict(diff)
    if new_texts is None:
        return zlib.compress(_dumps(stored), LEVEL)
    stored.pop("summary", None)
    if "ops" in stored:
        for key, count in (("old", _old_count(stored["ops"])), ("new", len(new_texts))):
            if stored.get(key) == {"paragraphs": count}:
                del stored[key]
        stored["ops"] = [_positional(_counted(op, new_texts)) for op in stored["ops"]]
    return _deflated(_dumps(stored), FORMAT_3)


def _deflated(text: bytes, format_: bytes) -> bytes:
    """``text`` stored in ``format_`` (2 or 3): raw deflate, format 3's with its dictionary."""
    if format_ == FORMAT_3:
        deflate = zlib.compressobj(LEVEL, zlib.DEFLATED, -15, 8, zlib.Z_DEFAULT_STRATEGY,
                                   _DICTIONARY)  # fmt: skip
    else:
        deflate = zlib.compressobj(LEVEL, zlib.DEFLATED, -15)
    return format_ + deflate.compress(text) + deflate.flush()


def counted_json(data: bytes) -> bytes:
    """The JSON text of a stored diff of format 2 or 3 (its words counted); ValueError when
    it is damaged."""
    if data[:1] not in (FORMAT_2, FORMAT_3):
        raise ValueError(f"not a stored diff of format 2 or 3: {data[:1]!r}")
    inflate = (zlib.decompressobj(-15, _DICTIONARY) if data[:1] == FORMAT_3 else
               zlib.decompressobj(-15))  # fmt: skip
    try:
        found = inflate.decompress(data[1:]) + inflate.flush()
    except zlib.error as exc:
        raise ValueError(f"a stored diff is damaged: {exc}") from None
    if not inflate.eof or inflate.unused_data:
        raise ValueError("a stored diff is damaged")
    return found


def as_format(data: bytes, format_: bytes) -> bytes:
    """A stored diff of format 2 or 3 in the other (the same JSON; migration 0014_pgbytes);
    format 1 as it is."""
    if data[:1] not in (FORMAT_2, FORMAT_3) or data[:1] == format_:
        return data
    return _deflated(counted_json(data), format_)


def unpack(data: bytes, new_texts: Sequence[str] | None = None) -> dict[str, Any]:
    """The JSON form of a stored diff, as it was given to ``pack``; ``new_texts``: the new
    version's paragraph texts, which a diff of format 2 or 3 is read against (ValueError without
    them, or when it does not fit them)."""
    if data[:1] not in (FORMAT_2, FORMAT_3):
        return unfold_equal(_loads(zlib.decompress(data)))
    found = _loads(counted_json(data))
    stored = found.pop("ops", None)
    if not isinstance(stored, list):
        raise ValueError("a stored diff of format 2 or 3 has no list of operations")
    ops = unfold_equal({"ops": [_from_positional(op) for op in stored]})["ops"]
    if new_texts is not None:
        ops = [_words(op, new_texts) for op in ops]
    elif "new" not in found or any("w" in op for op in ops):
        raise ValueError("a stored diff of format 2 or 3 is read against its version's "
                         "paragraphs")
    old = found.pop("old", None) or {"paragraphs": _old_count(ops)}
    new = found.pop("new", None) or {"paragraphs": len(new_texts or ())}
    return {"old": old, "new": new, "ops": ops, **found, "summary": summary_of(ops)}


def summary_of(ops: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """The summary counts of a diff's (unfolded) ops: how many of each kind."""
    counts = dict.fromkeys(SUMMARY_KEYS, 0)
    for op in ops:
        name = _COUNTED.get(str(op.get("op"))) if isinstance(op, dict) else None
        if name is None:
            raise ValueError(f"a stored diff's operation is not one: {op!r:.80}")
        counts[name] += 1
    return counts


def summary_row(counts: Mapping[str, int]) -> list[int]:
    """The stored form of the summary counts (``version_diffs.summary``): a list in
    ``SUMMARY_KEYS`` order, a fifth of the mapping's bytes on every version."""
    return [int(counts.get(key, 0)) for key in SUMMARY_KEYS]


def summary_counts(stored: Mapping[str, int] | Sequence[int]) -> dict[str, int]:
    """The summary counts of a stored summary: a list (``summary_row``) or, stored before
    migration 0012_storage, the mapping itself."""
    if isinstance(stored, Mapping):
        return dict(stored)
    if len(stored) != len(SUMMARY_KEYS):
        raise ValueError(f"a stored summary holds {len(stored)} counts, not {len(SUMMARY_KEYS)}")
    return dict(zip(SUMMARY_KEYS, (int(n) for n in stored), strict=True))


def _old_count(ops: Sequence[Any]) -> int:
    """How many old paragraphs the (folded or not) operations cover: each is in one."""
    ends = [op[0] + op[2] if isinstance(op, list) else max(op["old"], default=-1) + 1
            for op in ops]  # fmt: skip
    return max(ends, default=0)


def _positional(op: Any) -> Any:
    """An operation object as an array ``[op, old, new, similarity, counts]``, when it has
    that shape (the similarity only with counts after it, or alone)."""
    if not isinstance(op, dict) or not {"op", "old", "new"} <= op.keys() <= _POSITIONAL:
        return op
    if "w" in op and "similarity" not in op:
        return op
    return [op[key] for key in ("op", "old", "new", "similarity", "w") if key in op]


_POSITIONAL = frozenset({"op", "old", "new", "similarity", "w"})


def _from_positional(op: Any) -> Any:
    if not isinstance(op, list) or not op or not isinstance(op[0], str):
        return op  # a folded run [old, new, count], or an object
    if not 3 <= len(op) <= 5:
        raise ValueError(f"a stored diff's operation has {len(op)} fields")
    return dict(zip(("op", "old", "new", "similarity", "w"), op, strict=False))


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _loads(text: bytes) -> dict[str, Any]:
    found = json.loads(text.decode("utf-8"))
    if not isinstance(found, dict):
        raise ValueError("a stored diff is not a JSON object")
    return found


# --- word runs as counts of the new paragraph's words (format 2) -------------------------------


def _counted(op: Any, new_texts: Sequence[str]) -> Any:
    """``op`` with its word runs as counts, when they give the very same runs back."""
    if not isinstance(op, dict) or "words" not in op:
        return op
    compact: list[int | str] = []
    for tag, text in op["words"]:
        size = len(text.split())
        if tag == "-":
            compact.append(text)
        elif size:
            compact.append(size if tag == "=" else -size)
        else:
            return op
    rest = {key: value for key, value in op.items() if key != "words"}
    try:
        same = _expand(compact, _new_words(rest, new_texts)) == [list(w) for w in op["words"]]
    except ValueError:
        same = False
    return {**rest, "w": compact} if same else op


def _words(op: Any, new_texts: Sequence[str]) -> Any:
    """The inverse of ``_counted``."""
    if not isinstance(op, dict) or "w" not in op:
        return op
    rest = {key: value for key, value in op.items() if key != "w"}
    return {**rest, "words": _expand(op["w"], _new_words(rest, new_texts))}


def _new_words(op: Mapping[str, Any], new_texts: Sequence[str]) -> list[str]:
    """The words of the op's new paragraphs, as the word diff split them (tracker.diff)."""
    try:
        texts = [new_texts[j] for j in op["new"]]
    except (IndexError, TypeError) as error:
        raise ValueError(f"a stored diff's op names paragraphs {op['new']!r} the version "
                         f"lacks ({len(new_texts)} paragraphs)") from error  # fmt: skip
    return " ".join(t for t in texts if t).split()


def _expand(compact: Sequence[Any], words: Sequence[str]) -> list[list[str]]:
    runs, position = [], 0
    for item in compact:
        if isinstance(item, str):
            runs.append(["-", item])
            continue
        if isinstance(item, bool) or not isinstance(item, int) or item == 0:
            raise ValueError(f"a stored diff's word run is not a count: {item!r}")
        end = position + abs(item)
        runs.append(["=" if item > 0 else "+", " ".join(words[position:end])])
        position = end
    if position != len(words):
        raise ValueError(f"a stored diff's word runs count {position} of the paragraph's "
                         f"{len(words)} words")  # fmt: skip
    return runs


# --- runs of unchanged paragraphs, folded ------------------------------------------------------
# Most of a diff's operations say that paragraph i is unchanged as paragraph j, one object
# each ({"op": "equal", "old": [i], "new": [j]}); stored, consecutive ones are folded into one
# array [i, j, count] in the list of operations (objects are every other operation), which
# makes the stored diffs about a sixth smaller after compression. Diffs stored before
# (migration 0011_meta folds them) hold no array and read the same.


def fold_equal(diff: Mapping[str, Any]) -> dict[str, Any]:
    """``diff`` with each run of consecutive single-paragraph equal operations as one
    [old, new, count] array."""
    ops: list[Any] = []
    for op in diff.get("ops", ()):
        if _single_equal(op):
            old, new = op["old"][0], op["new"][0]
            last = ops[-1] if ops else None
            if isinstance(last, list) and last[0] + last[2] == old and last[1] + last[2] == new:
                last[2] += 1
                continue
            ops.append([old, new, 1])
        else:
            ops.append(op)
    return {**diff, "ops": ops} if "ops" in diff else dict(diff)


def unfold_equal(diff: Mapping[str, Any]) -> dict[str, Any]:
    """The inverse of ``fold_equal``."""
    if "ops" not in diff or not any(isinstance(op, list) for op in diff["ops"]):
        return dict(diff)
    ops: list[Any] = []
    for op in diff["ops"]:
        if isinstance(op, list):
            old, new, count = op
            ops += [{"op": "equal", "old": [old + k], "new": [new + k]} for k in range(count)]
        else:
            ops.append(op)
    return {**diff, "ops": ops}


def _single_equal(op: Any) -> bool:
    return (isinstance(op, dict) and op.keys() == {"op", "old", "new"} and op["op"] == "equal"
            and len(op["old"]) == 1 and len(op["new"]) == 1)
