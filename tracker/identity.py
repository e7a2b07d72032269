"""Article identity from URLs: one story, one tracked article, whatever URL it came by.

Pure functions, no I/O. ``normalize_url`` is applied to every URL before it is stored or looked
up: scheme and host lower-cased, default port and fragment dropped, and the query parameters
that only say where a reader came from (``utm_*``, ``fbclid``, ``gclid`` …) removed, so
``story?utm_source=twitter`` and ``story`` are one article. AMP and mobile variants cannot be
folded by rewriting alone (``m.example.com`` may be ``www.`` or the bare domain; ``/amp`` may be
a real path), so they are folded by what the page says about itself: its canonical URL, read
when it is checked (see ``tracker.articles.merge_duplicates``). ``is_variant`` tells which of two
URLs of one story is the AMP or mobile one, so the canonical page is the one kept.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

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
    if not canonical:
        return None
    parts = urlsplit(canonical.strip())
    if parts.scheme.lower() not in {"http", "https"} or not parts.hostname:
        return None
    if parts.path.strip("/") == "" and not parts.query:
        return None
    normalized = normalize_url(canonical)
    return None if normalized == normalize_url(page_url) else normalized
