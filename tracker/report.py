"""The changes report: for each article, the versions stored in a time window and, for each
one, what changed against the version before it, paragraph by paragraph (through
``tracker.diffstore``, like every reader of a stored change).

``changes`` builds the entries; ``to_json`` the documented JSON (``{"changes": [...]}``); the
renderers turn them into text for a terminal (colours only when asked) or Markdown for pasting
into a newsroom chat or ticket, each change from its ``ChangeView`` (``tracker.render``), the
model the web view and the feeds are rendered from too. Times are shown in the zone of ``TZ``.
A first sighting and a re-baseline (new extractor or selector) are not changes; a minor change
(below the notification threshold, stored but not notified) is listed and marked "minor".
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from db import queries
from db.session import session_scope
from tracker.app import App
from tracker.articles import clean_url, find_article
from tracker.changeview import ChangeView
from tracker.clock import iso, local_time
from tracker.diffstore import diff_versions
from tracker.render import escape_markdown
from tracker.render import render_markdown as render_change_markdown
from tracker.render import render_text as render_change_text
from tracker.terminal import printable


def changes(app: App, since: dt.datetime, article_url: str | None = None) -> list[dict[str, Any]]:
    """Change entries, oldest first within each article. Each carries its ``view`` (and the
    ``fetched_at`` time) for the renderers; ``to_json`` leaves them out."""
    entries: list[dict[str, Any]] = []
    with session_scope(app.reader) as session:
        article_id = find_article(session, clean_url(article_url)).id if article_url else None
        versions = queries.versions_since(session, since, article_id)
        minor = queries.minor_versions(session, versions)
        for version in versions:
            if version.number == 1 or version.rebaseline:
                continue
            previous = queries.version_by_number(session, version.article_id, version.number - 1)
            if previous is None:
                continue
            loaded = diff_versions(session, previous, version)
            article = queries.article_by_id(session, version.article_id)
            assert article is not None
            entries.append({
                "article": {"url": article.url, "title": version.title},
                "from_version": previous.number,
                "to_version": version.number,
                "detected_at": iso(version.fetched_at),
                "minor": version.id in minor,
                "diff": loaded.diff,
                "fetched_at": version.fetched_at,
                "view": loaded.view,
            })
    return entries


def to_json(entries: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ("article", "from_version", "to_version", "detected_at", "minor", "diff")
    return {"changes": [{k: entry[k] for k in keys} for entry in entries]}


def render_text(entries: list[dict[str, Any]], *, color: bool) -> str:
    if not entries:
        return "No changes in this period."
    parts = []
    for url, group in _by_article(entries):
        title = group[-1]["article"]["title"] or url
        parts.append(_bold(printable(title), color) + f"\n{printable(url)}")
        for entry in group:
            parts.append(_bold(f"── {_heading(entry)}", color))
            parts.append(render_change_text(_view(entry), color=color).rstrip("\n"))
    return "\n\n".join(parts)


def render_markdown(entries: list[dict[str, Any]]) -> str:
    if not entries:
        return "_No changes in this period._"
    parts = []
    for url, group in _by_article(entries):
        title = group[-1]["article"]["title"] or url
        parts.append(f"## [{_md_escape(printable(title))}](<{_md_url(url)}>)")
        for entry in group:
            parts.append(f"### {escape_markdown(_heading(entry))}")
            parts.append(render_change_markdown(_view(entry)).rstrip("\n"))
    return "\n\n".join(parts) + "\n"


def _view(entry: dict[str, Any]) -> ChangeView:
    view: ChangeView = entry["view"]
    return view


def _by_article(entries: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        groups.setdefault(entry["article"]["url"], []).append(entry)
    return list(groups.items())


def _heading(entry: dict[str, Any]) -> str:
    """"version 2 → 3 (2024-06-19 16:10:03 CEST): 2 inserted, 1 modified · headline
    changed", the summary line the web view shows too."""
    return (
        f"version {entry['from_version']} → {entry['to_version']} "
        f"({local_time(entry['fetched_at'])}): {_view(entry).summary}{_minor_mark(entry)}"
    )


def _minor_mark(entry: dict[str, Any]) -> str:
    return " (minor, not notified)" if entry.get("minor") else ""


def _bold(text: str, color: bool) -> str:
    return f"\x1b[1m{text}\x1b[0m" if color else text


def _md_escape(text: str) -> str:
    return "".join("\\" + c if c in "\\`*_[]<>#|" else c for c in text)


def _md_url(url: str) -> str:
    """A link destination in angle brackets: spaces, parentheses and brackets stay inside."""
    return printable(url).replace("<", "%3C").replace(">", "%3E")
