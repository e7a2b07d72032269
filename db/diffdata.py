"""The stored form of a diff (``version_diffs.data``): its JSON form, zlib-compressed. Standard
library only, so the read path (``db.reads``) decodes a diff without SQLAlchemy."""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping
from typing import Any

# zlib level: diffs are small and written on the check's path; 6 is zlib's default balance.
_LEVEL = 6


def pack(diff: Mapping[str, Any]) -> bytes:
    """The stored bytes of a diff's JSON form."""
    text = json.dumps(diff, ensure_ascii=False, separators=(",", ":"))
    return zlib.compress(text.encode("utf-8"), _LEVEL)


def unpack(data: bytes) -> dict[str, Any]:
    found = json.loads(zlib.decompress(data).decode("utf-8"))
    if not isinstance(found, dict):
        raise ValueError("a stored diff is not a JSON object")
    return found
