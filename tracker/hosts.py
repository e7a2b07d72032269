"""Use cases around per-host rules: ``tracker host set``, ``tracker host show`` and
``tracker hosts``.

A host's rules apply to every article on it at its next check: a CSS selector for the article
body (an article's own ``--selector`` wins), ignore patterns (regular expressions over paragraph
text) and ignore selectors (elements removed before extraction), a request rate and a
notification threshold. Everything is validated before anything is stored; a change of the
selector or of what is ignored makes each article's next version a re-baseline. A host's
learned article template (``tracker.templates``) is shown beside its rules.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from db import host_queries
from db.models import Host, HostTemplate
from db.session import session_scope
from tracker.app import App
from tracker.clock import utcnow
from tracker.config import BOUNDS, RATE_RANGE, number
from tracker.errors import TrackerError
from tracker.rules import check_pattern, check_selector, unique

_LABEL = r"\w(?:[\w-]{0,61}\w)?"  # letters of any script: hosts are stored as URLs give them
_HOST = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")


def clean_host(text: str) -> str:
    """The host name as articles store it (lower case, no port); a URL gives its host."""
    value = text.strip()
    if "://" in value:
        value = urlsplit(value).hostname or ""
    value = value.lower().rstrip(".")
    if not _HOST.fullmatch(value):
        raise TrackerError(f"{text!r} is not a host name (write it like www.example.com)")
    return value


def check_rate(rate: float) -> None:
    """A host's rate in requests per minute: finite and within ``RATE_RANGE``."""
    low, high = RATE_RANGE
    if not (math.isfinite(rate) and low <= rate <= high):
        raise TrackerError(f"--rate {rate:g}: requests per minute, from {low:g} to {number(high)}")


def set_host(
    app: App, host: str, *, selector: str | None = None, ignore: Sequence[str] = (),
    ignore_selectors: Sequence[str] = (), rate: float | None = None,
    notify_threshold: int | None = None, clear: bool = False,
) -> dict[str, Any] | None:
    """Add to (or, with ``clear``, replace) a host's rules; returns them, or None when
    ``clear`` alone removed them. An empty ``selector`` removes the host's selector.

    A change of what is extracted (selector, ignore rules, ``clear``) re-baselines the host's
    articles at once (``tracker.rebaseline``), so their next real edit is reported; the
    result's ``rebaselined`` says how many were re-baselined now and how many will be at their
    next check."""
    name = clean_host(host)
    for pattern in ignore:
        check_pattern(pattern)
    for css in ignore_selectors:
        check_selector(css, "--ignore-selector")
    if selector:
        check_selector(selector)
    if rate is not None:
        check_rate(rate)
    top = BOUNDS["notify_threshold"][1]
    if notify_threshold is not None and not 0 <= notify_threshold <= top:
        raise TrackerError(f"--notify-threshold {notify_threshold}: from 0 (off) to {number(top)}")
    nothing = not (selector is not None or ignore or ignore_selectors or rate is not None
                   or notify_threshold is not None)
    extraction = clear or selector is not None or bool(ignore) or bool(ignore_selectors)
    rules = _save(app, name, selector=selector, ignore=ignore, ignore_selectors=ignore_selectors,
                  rate=rate, notify_threshold=notify_threshold, clear=clear, nothing=nothing)
    if not extraction:
        return rules
    from tracker.rebaseline import rebaseline

    with session_scope(app.reader) as session:
        ids = host_queries.versioned_article_ids(session, name)
    done = rebaseline(app, ids)
    return None if rules is None else {**rules, "rebaselined": {"now": done.now,
                                                                 "later": done.later}}


def _save(
    app: App, name: str, *, selector: str | None, ignore: Sequence[str],
    ignore_selectors: Sequence[str], rate: float | None, notify_threshold: int | None,
    clear: bool, nothing: bool,
) -> dict[str, Any] | None:
    with session_scope(app.writer) as session:
        if clear and nothing:
            host_queries.delete_host(session, name)
            return None
        if nothing:
            raise TrackerError("nothing to set: give --selector, --ignore, --ignore-selector, "
                               "--rate, --notify-threshold or --clear")
        row = host_queries.host_by_name(session, name)
        keep = row is not None and not clear
        values: dict[str, Any] = {
            "ignore_patterns": unique([*(row.ignore_patterns if keep and row else []), *ignore]),
            "ignore_selectors": unique(
                [*(row.ignore_selectors if keep and row else []), *ignore_selectors]
            ),
        }
        if clear:
            values |= {"selector": None, "rate_per_minute": None, "notify_threshold": None}
        if selector is not None:
            values["selector"] = selector.strip() or None
        if rate is not None:
            values["rate_per_minute"] = rate
        if notify_threshold is not None:
            values["notify_threshold"] = notify_threshold
        saved = host_queries.save_host(session, name, values, utcnow())
        counts = host_queries.article_counts(session)
        return _host_json(saved, counts.get(name, 0))


def list_hosts(app: App) -> dict[str, Any]:
    """Every host that has rules or tracked articles, by name, with its learned template's
    state (``template``: None when none was learned)."""
    with session_scope(app.reader) as session:
        counts = host_queries.article_counts(session)
        rows = {row.host: row for row in host_queries.list_hosts(session)}
        templates = host_queries.host_templates(session)
        hosts = [
            {**_host_json(rows.get(name), counts.get(name, 0), name),
             "template": _template_json(templates.get(name))}
            for name in sorted({*rows, *counts})
        ]
    return {"hosts": hosts}


def show_host(app: App, host: str) -> dict[str, Any]:
    """A host's rules and its learned template, with the template itself (``tracker host
    show``)."""
    name = clean_host(host)
    with session_scope(app.reader) as session:
        row = host_queries.host_by_name(session, name)
        articles = host_queries.article_counts(session).get(name, 0)
        template = host_queries.host_template(session, name)
        if row is None and template is None and not articles:
            raise TrackerError(f"{name}: no such host (no rules, no articles, no template)")
        summary = _template_json(template, full=True)
        return {**_host_json(row, articles, name), "template": summary}


def _host_json(row: Host | None, articles: int, name: str | None = None) -> dict[str, Any]:
    return {
        "host": row.host if row else name,
        "selector": row.selector if row else None,
        "ignore_patterns": list(row.ignore_patterns or []) if row else [],
        "ignore_selectors": list(row.ignore_selectors or []) if row else [],
        "rate_per_minute": row.rate_per_minute if row else None,
        "notify_threshold": row.notify_threshold if row else None,
        "articles": articles,
    }


def _template_json(row: HostTemplate | None, *, full: bool = False) -> dict[str, Any] | None:
    """The state of a host's template: trusted (confirmed on a second page), candidate
    (learned, not yet confirmed) or none (dropped after a failed check, none learned since);
    with ``full`` the template itself."""
    if row is None:
        return None
    from tracker.extract.template import from_json  # lxml: only when there is one to show

    template = from_json(row.template)
    state = "none" if template is None else "trusted" if row.trusted else "candidate"
    data: dict[str, Any] = {
        "state": state,
        "container": template.container_path if template else None,
        "learned_at": _iso(row.learned_at), "pages": row.pages, "verified": row.verified,
        "failed": row.failed, "last_failure": row.last_failure,
        "last_failure_at": _iso(row.last_failure_at),
    }
    if full:
        data["paragraphs"] = sorted(template.paragraphs) if template else []
    return data


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.isoformat() if moment else None
