"""Decoding a response body to text: a byte order mark, then the header's charset, then the
document's own declaration (``<meta charset>``, ``http-equiv``, XML declaration), then detection.
That is the browsers' order (WHATWG Encoding Standard: a BOM beats the header). Labels are mapped
as browsers map them (ISO-8859-1 and ASCII mean windows-1252), so umlauts survive."""

from __future__ import annotations

import codecs
import re

_META = re.compile(
    rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_.:-]+)""", re.IGNORECASE
)
_XML_DECL = re.compile(rb"""^\s*<\?xml[^>]+encoding\s*=\s*["']([a-zA-Z0-9_.:-]+)""")
# "utf-8-sig" and "utf-16" drop the BOM while decoding.
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")
)
# The WHATWG Encoding Standard maps every label of these codecs to windows-1252 (Python's names,
# so that aliases such as "ISO_8859-1" or "csisolatin1" are covered too).
_WINDOWS_1252 = {"iso8859-1", "ascii"}


def decode(body: bytes, header_charset: str | None = None) -> str:
    for candidate in (_bom(body), header_charset, _declared(body)):
        label = _lookup(candidate)
        if not label:
            continue
        try:
            return body.decode(label, errors="replace")
        except (LookupError, UnicodeError):
            continue  # a codec that is no text encoding ("base64", "idna"): a bogus label
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
    try:
        name = codecs.lookup(label.strip().lower()).name
    except LookupError:
        return None
    return "windows-1252" if name in _WINDOWS_1252 else name
