"""Reading the response headers tracker acts on, as hostile input: ``Retry-After``,
``Content-Type`` and ``Content-Encoding``. Every function takes any string (or None) and returns
a value, never raises: a header a site got wrong, or made up to hurt, is ignored or bounded.
Pure: standard library only, no clock of its own (``now`` is passed in).
"""

from __future__ import annotations

import email.utils
import math
import re

MAX_RETRY_AFTER = 3600.0  # seconds: a site asking for longer is asked again after an hour
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9a-z-]+$")  # RFC 9110 token, lower-cased
_CHARSET = re.compile(r"^[a-z0-9][a-z0-9_.:+-]{0,39}$")


def retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from ``now`` (epoch seconds), between 0 and ``MAX_RETRY_AFTER``; None
    for a missing or unreadable value. Delay seconds must be ASCII digits ("²" is no 2); an
    HTTP date in the past is 0, one years ahead is cut to the cap."""
    if not value:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        digits = text.lstrip("0") or "0"
        return MAX_RETRY_AFTER if len(digits) > 7 else min(float(digits), MAX_RETRY_AFTER)
    if not text.isascii() or len(text) > 64:
        return None
    try:
        when = email.utils.parsedate_to_datetime(text).timestamp()
    except (TypeError, ValueError, OverflowError, IndexError, OSError):
        return None
    if not math.isfinite(when):
        return None
    return min(max(0.0, when - now), MAX_RETRY_AFTER)


def content_type(value: str | None) -> tuple[str, str | None]:
    """(media type, charset label) of a Content-Type, lower-cased; ("", None) when missing.
    A media type or charset that is no plausible token is dropped."""
    if not value:
        return "", None
    media_type, _, params = value.partition(";")
    media_type = media_type.strip().lower()
    if "/" not in media_type or not all(_TOKEN.match(p) for p in media_type.split("/", 1)):
        media_type = "" if not media_type else "application/octet-stream"
    charset = None
    for param in params.split(";"):
        key, _, raw = param.partition("=")
        label = raw.strip().strip("\"'").strip().lower()
        if key.strip().lower() == "charset" and _CHARSET.match(label):
            charset = label
    return media_type, charset


def content_codings(value: str | None) -> tuple[str, ...]:
    """The content codings applied, in order, lower-cased, without "identity"; an unreadable
    entry is kept as "?" so that the caller refuses it rather than ignores it."""
    if not value:
        return ()
    codings = []
    for item in value.split(","):
        coding = item.strip().lower()
        if not coding or coding == "identity":
            continue
        codings.append(coding if _TOKEN.match(coding) and len(coding) <= 32 else "?")
    return tuple(codings)
