"""Compact stored forms of two values every version writes (migration 0014_pgbytes), used by
the column types of ``db.models`` (``ContentHash``, ``EventData``) and by the migration.

- A version's content hash, 32 hex digits as ``tracker.check.content_hash`` makes it, is
  stored as its 16 bytes; any other text (a dataset imported from elsewhere may carry one)
  as its UTF-8 after one or two 0xFF bytes, which UTF-8 never contains, so that no such value
  is 16 bytes long. Every value reads back as given.
- An event's data, JSON of a few dozen bytes (``{"version":3,"changes":{"modified":2},…}``),
  is stored as a tag byte and the compact JSON (``db.jsontext``) deflated against a preset
  dictionary of the keys events carry: 69 → 20 bytes an event on the storage benchmark's
  corpus, where deflate without the dictionary saves nothing. PostgreSQL compresses no value
  this short (TOAST starts at about 2 KB), so it paid for every key in every row. The
  dictionary is part of the stored form: never change ``_DICTIONARY``; a new one needs a new
  tag. JSON text (a row stored before, or by SQLite's JSON type) still reads.

Imports nothing of tracker; bounded work on whatever a row holds (``_MAX_DATA``).
"""

from __future__ import annotations

import json
import re
import zlib
from typing import Any

from db import jsontext

_HEX_HASH = re.compile(r"[0-9a-f]{32}")
_HASH_BYTES = 16
_NOT_HEX = b"\xff"


def hash_bytes(value: str) -> bytes:
    """A content hash as ``ContentHash`` stores it."""
    if _HEX_HASH.fullmatch(value):
        return bytes.fromhex(value)
    stored = _NOT_HEX + value.encode()
    return _NOT_HEX + stored if len(stored) == _HASH_BYTES else stored


def hash_text(data: bytes) -> str:
    """The content hash ``hash_bytes`` stored as ``data``."""
    if len(data) == _HASH_BYTES:
        return data.hex()
    return data.lstrip(_NOT_HEX).decode()


# The keys and values events carry (tracker.decide, tracker.polls), the likeliest last: deflate
# finds matches at the dictionary's end cheapest. Part of the stored form (see above).
_DICTIONARY = (
    b'"url":"https://","title":"source":"reason":"error":"status":"since":"attempts":'
    b'"lead_caption","lead_image","published","byline","canonical_url","language","extractor"'
    b'"characters":"old_chars":"new_chars":"kept_chars":"version":1,"paragraphs":'
    b'"metadata":["title","updated"],"words":1}{"version":2,"changes":{"inserted":1,'
    b'"deleted":1,"moved":1,"split":1,"merged":1,"modified":1},"metadata":["updated"],"words":'
)
_DEFLATED = b"\x01"  # tag: deflated against _DICTIONARY (raw deflate, 15-bit window)
_MAX_DATA = 16 << 20  # an event's data is a few hundred bytes; refuse to inflate a bomb


def pack_data(value: Any) -> bytes:
    """An event's data as ``EventData`` stores it."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY,
                                  _DICTIONARY)  # fmt: skip
    return _DEFLATED + compressor.compress(jsontext.dumps(value).encode()) + compressor.flush()


def unpack_data(data: bytes | str) -> Any:
    """The value ``pack_data`` stored as ``data``; JSON text as it is (rows stored before).
    Damaged or longer than ``_MAX_DATA`` when inflated: ``ValueError``."""
    if isinstance(data, str):
        return json.loads(data)
    if data[:1] != _DEFLATED:
        return json.loads(data)
    inflater = zlib.decompressobj(-15, _DICTIONARY)
    try:
        text = inflater.decompress(data[1:], _MAX_DATA)
    except zlib.error as exc:
        raise ValueError(f"an event's stored data is damaged: {exc}") from None
    if inflater.unconsumed_tail or inflater.unused_data or not inflater.eof:
        raise ValueError("an event's stored data is damaged or too long")
    return json.loads(text)
