"""The changes report: for each article, the versions stored in a time window and, for each
one, what changed against the version before it, paragraph by paragraph (through
``tracker.diffstore``, like every reader of a stored change).

``changes`` gives ``ChangeEntry`` values; ``to_json`` makes the documented JSON
(``{"changes": [...]}``) and the renderers text for a terminal (colours only when asked) or
Markdown for pasting into a newsroom chat or ticket.
A first sighting and a re-baseline (new extractor or selector) are not changes; a minor change
(below the notification threshold, stored but not notified) is listed and marked "minor".
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from db import diff_queries, queries
from db.session import session_scope
from tracker.app import App
from tracker.articles import clean_url, find_article
from tracker.clock import iso
from tracker.diff import Diff
from tracker.diffstore import diff_versions
from tracker.render import render_diff_markdown, render_diff_text
from tracker.terminal import printable_data


@dataclass(frozen=True, slots=True)
class ChangeEntry:
    """One stored change: an article's version against the one before it, with the paragraph
    texts of both for the renderers (``to_json`` leaves them out)."""

    url: str
    title: str | None  # the new version's
    from_version: int
    to_version: int
    detected_at: dt.datetime
    minor: bool
    diff: Diff
    old_paragraphs: list[str]
    new_paragraphs: list[str]

    def to_json(self) -> dict[str, Any]:
        return {
            "article": {"url": self.url, "title": self.title},
            "from_version": self.from_version,
            "to_version": self.to_version,
            "detected_at": iso(self.detected_at),
            "minor": self.minor,
            "diff": self.diff.to_json(),
        }


def changes(app: App, since: dt.datetime, article_url: str | None = None) -> list[ChangeEntry]:
    """Change entries, oldest first within each article."""
    entries: list[ChangeEntry] = []
    with session_scope(app.reader) as session:
        article_id = find_article(session, clean_url(article_url)).id if article_url else None
        versions = queries.versions_since(session, since, article_id)
        minor = diff_queries.minor_ids(session, [v.id for v in versions])
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
            entries.append(ChangeEntry(
                article.url, version.title, previous.number, version.number,
                version.fetched_at, version.id in minor, loaded.diff, old, new,
            ))
    return entries


def to_json(entries: list[ChangeEntry]) -> dict[str, Any]:
    return {"changes": [entry.to_json() for entry in entries]}


def render_text(entries: list[ChangeEntry], *, color: bool) -> str:
    entries = printable_data(entries)  # titles, URLs and text come from the web
    if not entries:
        return "No changes in this period."
    parts = []
    for url, group in _by_article(entries):
        title = group[-1].title or url
        parts.append(_bold(title, color) + f"\n{url}")
        for entry in group:
            parts.append(_heading(entry, color))
            parts.append(render_diff_text(
                entry.diff, entry.old_paragraphs, entry.new_paragraphs, color=color
            ))
    return "\n\n".join(parts)


def render_markdown(entries: list[ChangeEntry]) -> str:
    entries = printable_data(entries)  # titles, URLs and text come from the web
    if not entries:
        return "_No changes in this period._"
    parts = []
    for url, group in _by_article(entries):
        title = group[-1].title or url
        parts.append(f"## [{_md_escape(title)}]({url})")
        for entry in group:
            summary = _summary_line(entry.diff.summary.to_json()) + _minor_mark(entry)
            parts.append(
                f"### Version {entry.from_version} → {entry.to_version}, "
                f"{iso(entry.detected_at)}\n\n{summary}"
            )
            parts.append(render_diff_markdown(
                entry.diff, entry.old_paragraphs, entry.new_paragraphs
            ))
    return "\n\n".join(parts) + "\n"


def _by_article(entries: list[ChangeEntry]) -> list[tuple[str, list[ChangeEntry]]]:
    groups: dict[str, list[ChangeEntry]] = {}
    for entry in entries:
        groups.setdefault(entry.url, []).append(entry)
    return list(groups.items())


def _heading(entry: ChangeEntry, color: bool) -> str:
    line = (
        f"── version {entry.from_version} → {entry.to_version} "
        f"({iso(entry.detected_at)}): {_summary_line(entry.diff.summary.to_json())}"
        f"{_minor_mark(entry)}"
    )
    return _bold(line, color)


def _minor_mark(entry: ChangeEntry) -> str:
    return " (minor, not notified)" if entry.minor else ""


def _summary_line(summary: dict[str, int]) -> str:
    parts = [f"{count} {name}" for name, count in summary.items() if count and name != "unchanged"]
    return ", ".join(parts) or "metadata only"


def _bold(text: str, color: bool) -> str:
    return f"\x1b[1m{text}\x1b[0m" if color else text


def _md_escape(text: str) -> str:
    return "".join("\\" + c if c in "\\`*_[]<>#|" else c for c in text)
