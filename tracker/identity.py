"""Article identity from URLs: one story, one tracked article, whatever URL it came by.

Pure functions, no I/O. ``normalize_url`` is applied to every URL before it is stored or looked
up: scheme and host lower-cased, default port and fragment dropped, and the query parameters
that only say where a reader came from (``utm_*``, ``fbclid``, ``gclid`` …) removed, so
``story?utm_source=twitter`` and ``story`` are one article. AMP and mobile variants cannot be
folded by rewriting alone (``m.example.com`` may be ``www.`` or the bare domain; ``/amp`` may be
a real path), so they are folded by what the page says about itself: its canonical URL, read
when it is checked (see ``tracker.merge.fold_duplicate``). ``is_variant`` tells which of two
URLs of one story is the AMP or mobile one, so the canonical page is the one kept.
``clean_url`` is ``normalize_url`` for a URL given by a user or a feed: it first refuses what is
no http(s) URL at all, with a message saying why.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from tracker.errors import BlockedAddress
from tracker.netguard import check_scheme
from tracker.terminal import printable

# Parameters that identify a campaign, a click or a share, never the article. Matched
# case-insensitively; entries ending in "_" are prefixes.
_TRACKING_PREFIXES = ("utm_", "mtm_", "pk_", "at_", "ns_", "wt_", "_hs", "hsa_", "oly_")
_TRACKING_NAMES = frozenset(
    {
        "fbclid", "gclid", "gclsrc", "dclid", "gbraid", "wbraid", "msclkid", "yclid",
        "twclid", "ttclid", "li_fat_id", "igshid", "igsh", "mc_cid", "mc_eid", "_ga", "_gl",
        "ocid", "cmpid", "icid", "ito", "xtor", "ref_src", "s_cid", "sr_share", "smid", "ncid",
        "wt.mc_id", "guccounter", "guce_referrer", "guce_referrer_sig",
        # AMP editions addressed by a parameter: the page without it is the article
        "amp", "outputtype",
    }
)  # fmt: skip
_DEFAULT_PORTS = {"http": 80, "https": 443}
_AMP_PATH = re.compile(r"(?:/amp/?$|/amp/|\.amp(?:\.html?)?$|[-_]amp(?:\.html?)?$)", re.I)
_AMP_HOST = re.compile(r"^amp\.|\.cdn\.ampproject\.org$|\.amp\.", re.I)
_MOBILE_HOST = re.compile(r"^(?:m|mobile|mobil)\.", re.I)


def normalize_url(url: str) -> str:
    """The form a URL is stored and compared in (see the module docstring)."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower().rstrip(".")
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    port = parts.port
    netloc = host if port is None or port == _DEFAULT_PORTS.get(scheme) else f"{host}:{port}"
    if parts.username or parts.password:
        netloc = f"{parts.netloc.rsplit('@', 1)[0]}@{netloc}"
    query = _strip_tracking(parts.query)
    return urlunsplit((scheme, netloc, parts.path or "/", query, ""))


def _strip_tracking(query: str) -> str:
    if not query:
        return ""
    pairs = parse_qsl(query, keep_blank_values=True)
    kept = [(k, v) for k, v in pairs if not is_tracking_parameter(k)]
    if len(kept) == len(pairs):
        return query  # untouched: keep the site's own encoding and order
    return urlencode(kept, doseq=True)


def is_tracking_parameter(name: str) -> bool:
    lowered = name.lower()
    return lowered in _TRACKING_NAMES or lowered.startswith(_TRACKING_PREFIXES)


def is_variant(url: str) -> bool:
    """Whether ``url`` looks like an AMP or mobile edition of a page rather than the page."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if _AMP_HOST.search(host) or _MOBILE_HOST.search(host) or _AMP_PATH.search(parts.path):
        return True
    names = {k.lower() for k, _ in parse_qsl(parts.query, keep_blank_values=True)}
    return bool(names & {"amp", "outputtype"})


def usable_canonical(canonical: str | None, page_url: str) -> str | None:
    """The page's canonical URL in normalised form, if it can name the article.

    Some sites point every page's canonical link at their home page or at a section front;
    taking that at its word would merge every story into one. A canonical URL is used only when
    it is http(s) and has a path below the site's root."""
    if not canonical or canonical == page_url:  # none, or the page itself (most pages)
        return None
    parts = urlsplit(canonical.strip())
    if parts.scheme.lower() not in {"http", "https"} or not parts.hostname:
        return None
    if parts.path.strip("/") == "" and not parts.query:
        return None
    normalized = normalize_url(canonical)
    return None if normalized == normalize_url(page_url) else normalized


MAX_URL_LENGTH = 4096  # sitemaps allow 2,048; a longer "URL" is a mistake or an attack
# Characters no URL holds as such (they must be percent-encoded): controls, spaces of any
# kind, bidi controls that would make it read as another URL.
_NOT_IN_URLS = re.compile("[\x00-\x20\x7f-\xa0\u1680\u2000-\u200f\u2028-\u202f"
                          "\u205f\u2060-\u206f\u3000\ufeff\u061c]")
_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")


def clean_url(url: str) -> str:
    """The URL as stored: http(s) only, in the form ``tracker.identity.normalize_url`` gives
    (host lower-cased, fragment and tracking parameters dropped). A URL that is not one (a
    space or control character in it, no valid host name, port 0, over ``MAX_URL_LENGTH``)
    raises BlockedAddress with a message saying why."""
    url = url.strip()
    _check_url(url)
    check_scheme(url)
    return normalize_url(url)


def _check_url(url: str) -> None:
    shown = url if len(url) <= 200 else url[:200] + "…"
    if len(url) > MAX_URL_LENGTH:
        raise BlockedAddress(shown, f"longer than {MAX_URL_LENGTH} characters")
    bad = _NOT_IN_URLS.search(url)
    if bad:
        raise BlockedAddress(shown, f"holds {printable(bad.group())!r} at position "
                             f"{bad.start()}, which a URL cannot (percent-encode it)")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:  # "[::1" unclosed, a port that is no number or over 65535
        raise BlockedAddress(shown, f"not a valid URL ({exc})") from None
    if port == 0:
        raise BlockedAddress(shown, "port 0 is no port")
    host = parts.hostname or ""
    if host and ":" not in host and not _valid_host(host):
        raise BlockedAddress(shown, f"{host!r} is not a valid host name")


def _valid_host(host: str) -> bool:
    """A DNS name (ASCII labels of letters, digits, '-' and '_'; IDNA for any other script and
    for xn-- labels) or an IPv4 address; at most 253 characters."""
    import idna

    name = host.rstrip(".")
    if not name or len(name) > 253:
        return False
    try:
        if not name.isascii():
            idna.encode(name, uts46=True)
            return True
        for label in name.split("."):
            if not _LABEL.fullmatch(label):
                return False
            if label.startswith("xn--"):
                idna.decode(label)
    except (idna.IDNAError, UnicodeError):
        return False
    return True
