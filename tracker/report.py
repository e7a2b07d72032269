"""The changes report: for each article, the versions stored in a time window and, for each
one, what changed against the version before it, paragraph by paragraph (through
``tracker.diffstore``, like every reader of a stored change).

``changes`` gives ``ChangeEntry`` values; ``to_json`` makes the documented JSON
(``{"changes": [...]}``), as ``changes_json`` does without the views, and the renderers text
for a terminal (colours only when asked) or Markdown for pasting into a newsroom chat or
ticket, each change from its ``ChangeView`` (``tracker.render``), the model the web view and
the feeds are rendered from too. Times are shown in the zone of ``TZ``.
A first sighting and a re-baseline (new extractor or selector) are not changes; a minor change
(below the notification threshold, stored but not notified) is listed and marked "minor".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from tracker.app import App
from tracker.changeview import ChangeView
from tracker.clock import iso, local_time
from tracker.diff import Diff
from tracker.reading import changes_since, diffs_since
from tracker.terminal import printable


@dataclass(frozen=True, slots=True)
class ChangeEntry:
    """One stored change: an article's version against the one before it, with the model of
    the change the renderers draw (``to_json`` leaves it out)."""

    url: str
    title: str | None  # the new version's
    from_version: int
    to_version: int
    detected_at: dt.datetime
    minor: bool
    diff: Diff
    view: ChangeView

    def to_json(self) -> dict[str, Any]:
        return _change_json(self.url, self.title, self.from_version, self.to_version,
                            self.detected_at, self.minor, self.diff)


def _change_json(url: str, title: str | None, from_version: int, to_version: int,
                 detected_at: dt.datetime, minor: bool, diff: Diff) -> dict[str, Any]:
    return {
        "article": {"url": url, "title": title},
        "from_version": from_version,
        "to_version": to_version,
        "detected_at": iso(detected_at),
        "minor": minor,
        "diff": diff.to_json(),
    }


def changes(
    app: App, since: dt.datetime, article_url: str | None = None,
    only: Collection[tuple[int, int]] | None = None,
) -> list[ChangeEntry]:
    """Change entries, oldest first within each article. ``only``: just these (article id,
    version number) pairs, e.g. the versions one check pass stored."""
    if only is not None and not only:
        return []
    return [
        ChangeEntry(change.url, change.version.title, change.previous.number,
                    change.version.number, change.version.fetched_at, change.minor, change.diff,
                    change.view)
        for change in changes_since(app, since, article_url, None if only is None else set(only))
    ]


def to_json(entries: list[ChangeEntry]) -> dict[str, Any]:
    return {"changes": [entry.to_json() for entry in entries]}


def changes_json(
    app: App, since: dt.datetime, article_url: str | None = None,
    only: Collection[tuple[int, int]] | None = None,
) -> dict[str, Any]:
    """``to_json(changes(...))`` without building the change views JSON leaves out, nor
    reading the paragraphs of a version whose diff is stored (``reading.diffs_since``)."""
    if only is not None and not only:
        return {"changes": []}
    return {"changes": [
        _change_json(change.url, change.version.title, change.previous.number,
                     change.version.number, change.version.fetched_at, change.minor, change.diff)
        for change in diffs_since(app, since, article_url, None if only is None else set(only))
    ]}


def render_text(entries: list[ChangeEntry], *, color: bool) -> str:
    from tracker.render import render_text as render_change_text

    if not entries:
        return "No changes in this period."
    parts = []
    for url, group in _by_article(entries):
        title = group[-1].title or url
        parts.append(_bold(printable(title), color) + f"\n{printable(url)}")
        for entry in group:
            parts.append(_bold(f"── {_heading(entry)}", color))
            parts.append(render_change_text(entry.view, color=color).rstrip("\n"))
    return "\n\n".join(parts)


def render_markdown(entries: list[ChangeEntry]) -> str:
    from tracker.render import escape_markdown
    from tracker.render import render_markdown as render_change_markdown

    if not entries:
        return "_No changes in this period._"
    parts = []
    for url, group in _by_article(entries):
        title = group[-1].title or url
        parts.append(f"## [{_md_escape(printable(title))}](<{_md_url(url)}>)")
        for entry in group:
            parts.append(f"### {escape_markdown(_heading(entry))}")
            parts.append(render_change_markdown(entry.view).rstrip("\n"))
    return "\n\n".join(parts) + "\n"


def _by_article(entries: list[ChangeEntry]) -> list[tuple[str, list[ChangeEntry]]]:
    groups: dict[str, list[ChangeEntry]] = {}
    for entry in entries:
        groups.setdefault(entry.url, []).append(entry)
    return list(groups.items())


def _heading(entry: ChangeEntry) -> str:
    """"version 2 → 3 (2024-06-19 16:10:03 CEST): 2 inserted, 1 modified · headline
    changed", the summary line the web view shows too."""
    return (
        f"version {entry.from_version} → {entry.to_version} "
        f"({local_time(entry.detected_at)}): {entry.view.summary}{_minor_mark(entry)}"
    )


def _minor_mark(entry: ChangeEntry) -> str:
    return " (minor, not notified)" if entry.minor else ""


def _bold(text: str, color: bool) -> str:
    return f"\x1b[1m{text}\x1b[0m" if color else text


def _md_escape(text: str) -> str:
    return "".join("\\" + c if c in "\\`*_[]<>#|" else c for c in text)


def _md_url(url: str) -> str:
    """A link destination in angle brackets: spaces, parentheses and brackets stay inside."""
    return printable(url).replace("<", "%3C").replace(">", "%3E")
