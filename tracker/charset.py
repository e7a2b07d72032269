"""Decoding a response body to text: the header's charset, then the document's own declaration
(BOM, ``<meta charset>``, ``http-equiv``, XML declaration), then detection. Labels are mapped as
browsers map them (ISO-8859-1 and ASCII mean windows-1252), so umlauts survive."""

from __future__ import annotations

import codecs
import re

_META = re.compile(
    rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_.:-]+)""", re.IGNORECASE
)
_XML_DECL = re.compile(rb"""^\s*<\?xml[^>]+encoding\s*=\s*["']([a-zA-Z0-9_.:-]+)""")
_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
# The WHATWG Encoding Standard maps these labels to windows-1252.
_WINDOWS_1252 = {"iso-8859-1", "iso8859-1", "latin1", "latin-1", "l1", "us-ascii", "ascii", "cp819"}


def decode(body: bytes, header_charset: str | None = None) -> str:
    for candidate in (header_charset, _bom(body), _declared(body)):
        label = _lookup(candidate)
        if label:
            return body.decode(label, errors="replace")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(body[:200_000]).best()
    encoding = best.encoding if best is not None else "windows-1252"
    return body.decode(encoding, errors="replace")


def _bom(body: bytes) -> str | None:
    return next((name for bom, name in _BOMS if body.startswith(bom)), None)


def _declared(body: bytes) -> str | None:
    head = body[:4096]
    match = _XML_DECL.match(head) or _META.search(head)
    return match.group(1).decode("ascii") if match else None


def _lookup(label: str | None) -> str | None:
    if not label:
        return None
    label = label.strip().lower()
    if label in _WINDOWS_1252:
        return "windows-1252"
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None
