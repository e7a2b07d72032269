"""The changes report: for each article, the versions stored in a time window and, for each
one, what changed against the version before it, paragraph by paragraph (through
``tracker.diffstore``, like every reader of a stored change).

``changes`` builds the documented JSON (``{"changes": [...]}``); the renderers turn it into text
for a terminal (colours only when asked) or Markdown for pasting into a newsroom chat or ticket.
A first sighting and a re-baseline (new extractor or selector) are not changes; a minor change
(below the notification threshold, stored but not notified) is listed and marked "minor".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from typing import Any

from db import queries
from db.session import session_scope
from tracker.app import App
from tracker.articles import find_tracked
from tracker.clock import iso
from tracker.diffstore import diff_versions
from tracker.render import render_diff_markdown, render_diff_text
from tracker.terminal import printable_data


def changes(
    app: App, since: dt.datetime, article_url: str | None = None,
    only: Collection[tuple[int, int]] | None = None,
) -> list[dict[str, Any]]:
    """Change entries, oldest first within each article. Each carries ``old_paragraphs`` and
    ``new_paragraphs`` for the renderers; ``to_json`` strips them. ``only``: just these
    (article id, version number) pairs, e.g. the versions one check pass stored."""
    entries: list[dict[str, Any]] = []
    if only is not None and not only:
        return entries
    with session_scope(app.reader) as session:
        article_id = find_tracked(session, article_url).id if article_url else None
        if only is None:
            versions = queries.versions_since(session, since, article_id)
        else:
            versions = [v for v in queries.versions_since(
                session, since, article_id, article_ids=[pair[0] for pair in only],
            ) if (v.article_id, v.number) in only]
        minor = queries.minor_versions(session, versions)
        for version in versions:
            if version.number == 1 or version.rebaseline:
                continue
            previous = queries.version_by_number(session, version.article_id, version.number - 1)
            if previous is None:
                continue
            loaded = diff_versions(session, previous, version)
            old = [text for _, text in loaded.old_paragraphs]
            new = [text for _, text in loaded.new_paragraphs]
            article = queries.article_by_id(session, version.article_id)
            assert article is not None
            diff = loaded.diff
            entries.append({
                "article": {"url": article.url, "title": version.title},
                "from_version": previous.number,
                "to_version": version.number,
                "detected_at": iso(version.fetched_at),
                "minor": version.id in minor,
                "diff": diff,
                "old_paragraphs": old,
                "new_paragraphs": new,
            })
    return entries


def to_json(entries: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ("article", "from_version", "to_version", "detected_at", "minor", "diff")
    return {"changes": [{k: entry[k] for k in keys} for entry in entries]}


def render_text(entries: list[dict[str, Any]], *, color: bool) -> str:
    entries = printable_data(entries)  # titles, URLs and text come from the web
    if not entries:
        return "No changes in this period."
    parts = []
    for url, group in _by_article(entries):
        title = group[-1]["article"]["title"] or url
        parts.append(_bold(title, color) + f"\n{url}")
        for entry in group:
            parts.append(_heading(entry, color))
            parts.append(render_diff_text(
                entry["diff"], entry["old_paragraphs"], entry["new_paragraphs"], color=color
            ))
    return "\n\n".join(parts)


def render_markdown(entries: list[dict[str, Any]]) -> str:
    entries = printable_data(entries)  # titles, URLs and text come from the web
    if not entries:
        return "_No changes in this period._"
    parts = []
    for url, group in _by_article(entries):
        title = group[-1]["article"]["title"] or url
        parts.append(f"## [{_md_escape(title)}]({url})")
        for entry in group:
            summary = _summary_line(entry["diff"]["summary"]) + _minor_mark(entry)
            parts.append(
                f"### Version {entry['from_version']} → {entry['to_version']}, "
                f"{entry['detected_at']}\n\n{summary}"
            )
            parts.append(render_diff_markdown(
                entry["diff"], entry["old_paragraphs"], entry["new_paragraphs"]
            ))
    return "\n\n".join(parts) + "\n"


def _by_article(entries: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        groups.setdefault(entry["article"]["url"], []).append(entry)
    return list(groups.items())


def _heading(entry: dict[str, Any], color: bool) -> str:
    line = (
        f"── version {entry['from_version']} → {entry['to_version']} "
        f"({entry['detected_at']}): {_summary_line(entry['diff']['summary'])}"
        f"{_minor_mark(entry)}"
    )
    return _bold(line, color)


def _minor_mark(entry: dict[str, Any]) -> str:
    return " (minor, not notified)" if entry.get("minor") else ""


def _summary_line(summary: dict[str, int]) -> str:
    parts = [f"{count} {name}" for name, count in summary.items() if count and name != "unchanged"]
    return ", ".join(parts) or "metadata only"


def _bold(text: str, color: bool) -> str:
    return f"\x1b[1m{text}\x1b[0m" if color else text


def _md_escape(text: str) -> str:
    return "".join("\\" + c if c in "\\`*_[]<>#|" else c for c in text)
