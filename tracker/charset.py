"""Decoding a response body to text: a byte order mark, then the header's charset, then the
document's own declaration (``<meta charset>``, ``http-equiv``, XML declaration), then detection.
That is the browsers' order (WHATWG Encoding Standard: a BOM beats the header). Labels are mapped
as browsers map them (ISO-8859-1 and ASCII mean windows-1252), so umlauts survive.

A declared charset is a claim, not a fact: only the encodings of the web are used (UTF-7 and
codecs such as ``unicode_escape`` or ``rot13`` never, whatever a header says); a UTF-16/32 label
on a body without a BOM and without a single NUL byte (ASCII markup in UTF-16 is half NULs) is
taken for the lie it is; and a label under which the body does not decode (more than a few
invalid sequences) gives way to the next candidate.
"""

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
# The encodings of the web (WHATWG), by Python's codec names: nothing else is ever used.
WEB_ENCODINGS = frozenset({
    "utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le",
    "utf-32-be", "windows-1252", "cp1250", "cp1251", "cp1252", "cp1253", "cp1254", "cp1255",
    "cp1256", "cp1257", "cp1258", "cp866", "cp874", "cp932", "iso8859-2", "iso8859-3",
    "iso8859-4", "iso8859-5", "iso8859-6", "iso8859-7", "iso8859-8", "iso8859-10", "iso8859-13",
    "iso8859-14", "iso8859-15", "iso8859-16", "koi8-r", "koi8-u", "mac-cyrillic", "mac-roman",
    "tis-620", "gbk", "gb2312", "gb18030", "big5", "big5hkscs", "euc_jp", "iso2022_jp",
    "shift_jis", "euc_kr",
})
_WIDE = frozenset({"utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"})
_REPLACED_SHARE = 0.01  # more invalid sequences than this share of the text: not its charset


def decode(body: bytes, header_charset: str | None = None) -> str:
    bom = _bom(body)
    if bom:
        return body.decode(bom, errors="replace")
    for candidate in (header_charset, _declared(body)):
        label = _lookup(candidate)
        text = _sane(body, label) if label else None
        if text is not None:
            return text
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(body[:200_000]).best()
    encoding = _lookup(best.encoding if best is not None else None) or "windows-1252"
    return body.decode(encoding, errors="replace")


def _sane(body: bytes, label: str) -> str | None:
    """The body decoded under a declared label, or None when the label is plainly false."""
    if label in _WIDE and b"\x00" not in body[:4096]:
        return None
    try:
        text = body.decode(label, errors="replace")
    except (LookupError, UnicodeError):
        return None
    invalid = text.count("\ufffd") - body.count("\ufffd".encode(label, errors="ignore"))
    return None if invalid > max(8, len(text) * _REPLACED_SHARE) else text


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
    except (LookupError, ValueError):  # ValueError: a label with a NUL in it
        return None
    name = "windows-1252" if name in _WINDOWS_1252 else name
    return name if name in WEB_ENCODINGS else None
