"""The stored form of a diff (``version_diffs.data``): its JSON form, zlib-compressed. Standard
library only, so the read path (``db.reads``) decodes a diff without SQLAlchemy."""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping
from typing import Any

# zlib level: diffs are small and written on the check's path; 6 is zlib's default balance.
LEVEL = 6


def pack(diff: Mapping[str, Any], *, fold: bool = True) -> bytes:
    """The stored bytes of a diff's JSON form, its runs of unchanged paragraphs folded (plain
    with ``fold=False``: the form of before migration 0011_meta, for its downgrade)."""
    stored = fold_equal(diff) if fold else dict(diff)
    text = json.dumps(stored, ensure_ascii=False, separators=(",", ":"))
    return zlib.compress(text.encode("utf-8"), LEVEL)


def unpack(data: bytes) -> dict[str, Any]:
    """The JSON form of a stored diff, as it was given to ``pack``."""
    found = json.loads(zlib.decompress(data).decode("utf-8"))
    if not isinstance(found, dict):
        raise ValueError("a stored diff is not a JSON object")
    return unfold_equal(found)


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
