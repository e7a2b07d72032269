"""The Jinja2 environment of the pages, the feeds and the HTML report, and its filters.

Everything stored came from sites that may be hostile, so: autoescape is on for every template
(HTML and XML alike); control characters (terminal escapes, NUL …) are shown as visible symbols
and never reach a page or a feed raw (XML 1.0 forbids most of them anyway); only ``http`` and
``https`` URLs become links (``href`` returns None for anything else, ``javascript:``
included); times are shown in one zone, absolute with the zone's name and relative.
"""

from __future__ import annotations

import datetime as dt
import re
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from tracker.changeview import numbers

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"

# C0 controls but tab and newline, DEL, C1 controls, and the code points XML cannot carry.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ufffe\uffff\ud800-\udfff]")


def visible(text: str) -> str:
    """Control characters as the symbols that stand for them (ESC as ␛, NUL as ␀)."""
    return _CONTROL.sub(_symbol, text)


def _symbol(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x20:
        return chr(0x2400 + code)
    return "\u2421" if code == 0x7F else "\ufffd"


def _finalize(value: Any) -> Any:
    if isinstance(value, str) and not isinstance(value, Markup):
        return visible(value)
    return value


def href(url: Any) -> str | None:
    """``url`` when it may become a link (absolute http or https with a host), else None."""
    if not isinstance(url, str) or _CONTROL.search(url) or any(c.isspace() for c in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return url if parts.scheme in ("http", "https") and parts.hostname else None


def absolute(value: dt.datetime | None, zone: dt.tzinfo) -> str:
    """"2024-06-19 16:10 CEST": minutes, in ``zone``, with its name."""
    if value is None:
        return "—"
    local = value.astimezone(zone)
    return local.strftime("%Y-%m-%d %H:%M ") + (local.tzname() or local.strftime("%z"))


def when(value: dt.datetime | None, zone: dt.tzinfo, now: dt.datetime) -> Markup:
    """A time for people: absolute with its zone, and relative, in a ``<time>`` element."""
    if value is None:
        return Markup("—")
    shown = absolute(value, zone)
    return Markup('<time datetime="{}" title="{}">{}</time> <span class="ago">({})</span>'
                  ).format(value.isoformat(), shown, shown, relative(value, now))


def relative(value: dt.datetime | None, now: dt.datetime) -> str:
    """"5 min ago", "in 3 h", "2 d ago"."""
    if value is None:
        return ""
    seconds = (value - now).total_seconds()
    amount = abs(seconds)
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60)):
        if amount >= size:
            text = f"{int(amount // size)} {unit}"
            break
    else:
        return "just now"
    return f"in {text}" if seconds > 0 else f"{text} ago"


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html", "xml"], default=True),
        finalize=_finalize,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.filters["href"] = href
    env.filters["visible"] = visible
    env.filters["numbers"] = numbers
    env.globals["absolute"] = absolute
    env.globals["relative"] = relative
    env.globals["when"] = when
    return env


def inline_css() -> str:
    """The stylesheet, for documents that must stand alone (the HTML report)."""
    return (STATIC / "style.css").read_text(encoding="utf-8")
