"""The read commands' use cases: list the tracked articles, an article's history, a stored
version, and each stored change with its diff, read through ``db.reads`` (``App.read``), so
that on SQLite they run without SQLAlchemy (issue 15, item 3).

They return plain dicts shaped like the documented ``--format json`` output (and, for the
changes report, ``StoredChange`` values, or ``StoredDiff`` ones without the change view for
JSON), so the CLI only renders. The diff of a change is the
one stored with its version (``version_diffs``), else computed from the stored paragraphs, as
``tracker.diffstore`` does for the other readers. Must not import SQLAlchemy, not even
indirectly: tests/test_startup.py checks.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from db import reads
from db.diffdata import unpack
from db.reads import Reader, Row
from tracker.app import App
from tracker.clock import iso, utcnow
from tracker.errors import TrackerError
from tracker.identity import MAX_URL_LENGTH, normalize_url

if TYPE_CHECKING:  # the diff is imported by the reads that show one: not by list or show
    from tracker.changeview import ChangeView
    from tracker.diff import Diff, Summary

Paragraphs = tuple[tuple[str, str], ...]  # (kind, text) in order


class UnknownArticle(TrackerError):
    def __init__(self, url: str) -> None:
        super().__init__(f"{url} is not tracked (add it with: tracker add {url})")


def list_articles(app: App, *, limit: int | None = None, offset: int = 0) -> dict[str, Any]:
    """Every tracked article, or the page of ``limit`` after the first ``offset``, in the
    order they were added. A page that may be followed by more says where the next starts
    (``next_offset``; None on the last page)."""
    with app.read() as reader:
        rows = reads.list_articles(reader, limit=None if limit is None else limit + 1,
                                   offset=offset)  # fmt: skip
    data: dict[str, Any] = {"articles": [{**article_json(row), "title": row.title}
                                         for row in rows[:limit]]}
    if limit is not None:
        data["next_offset"] = offset + limit if len(rows) > limit else None
    return data


def history(app: App, url: str) -> dict[str, Any]:
    """Every version of an article, each with its change summary against the one before, and
    the recent checks (failures included)."""
    with app.read() as reader:
        row = find_tracked(reader, url)
        versions = reads.versions_of(reader, row.id)
        minor = reads.minor_ids(reader, [v.id for v in versions])
        found = _summaries(reader, row.id, versions)
        entries = []
        for version in versions:
            summary = found.get(version.number) if not version.rebaseline else None
            entries.append({**version_json(version),
                            "summary": summary.to_json() if summary else None,
                            "minor": version.id in minor})
        checks = [
            {
                "started_at": iso(check.started_at), "outcome": check.outcome,
                "status": check.status_code, "duration_ms": check.duration_ms,
                "error": check.error,
            }
            for check in reads.checks_of(reader, row.id)
        ]
    return {"article": article_json(row), "versions": entries, "checks": checks}


def show(app: App, url: str, number: int | None = None) -> dict[str, Any]:
    """A stored version of an article (its latest when ``number`` is None)."""
    with app.read() as reader:
        row = find_tracked(reader, url)
        version = reads.version(reader, row.id, number)
        if version is None:
            which = f"version {number}" if number else "version yet"
            raise TrackerError(f"{row.url} has no {which} ({row.version_count} stored)")
        [stored] = reads.paragraphs_of(reader, version)
        paragraphs = [{"kind": kind, "text": text} for kind, text in stored]
    return {"article": {"url": row.url}, "version": version_json(version),
            "paragraphs": paragraphs}  # fmt: skip


def stored_paragraphs(app: App, url: str, number: int | None) -> tuple[list[str], dict[str, Any]]:
    """Texts and metadata of a stored version (the latest when ``number`` is None)."""
    data = show(app, url, number)
    meta = {k: data["version"][k] for k in
            ("title", "byline", "published", "updated", "language", "canonical_url",
             "lead_image", "lead_caption")}
    return [p["text"] for p in data["paragraphs"]], meta


@dataclass(frozen=True, slots=True)
class StoredDiff:
    """A stored version against the one before it, with its diff: what the JSON report
    prints."""

    url: str
    version: Row
    previous: Row
    minor: bool
    diff: Diff


@dataclass(frozen=True, slots=True)
class StoredChange(StoredDiff):
    """A stored change with the change view the text and Markdown renderers draw."""

    view: ChangeView


def changes_since(
    app: App, since: dt.datetime, article_url: str | None = None,
    only: set[tuple[int, int]] | None = None,
) -> list[StoredChange]:
    """The changes stored since ``since``, by article and version (of one article, or only
    the (article id, version number) pairs ``only``). A first version, a re-baseline and a
    version whose predecessor is gone are no change. Four queries however many changes (per
    chunk of ids): the versions with their predecessors, the delta chains, the paragraphs,
    the stored diffs with their minor flags."""
    from tracker.changeview import build_change

    return [StoredChange(*_fields(change), build_change(change.diff, old, new))
            for change, old, new in _read_changes(app, since, article_url, only, views=True)]


def diffs_since(
    app: App, since: dt.datetime, article_url: str | None = None,
    only: set[tuple[int, int]] | None = None,
) -> list[StoredDiff]:
    """``changes_since`` without the change views, which JSON leaves out: the old version's
    paragraphs are read only for a version stored without its diff (to compute it), and no
    view is built. For the 1,000 changes of a pass these were two thirds of the read."""
    return [change for change, _, _ in _read_changes(app, since, article_url, only, views=False)]


def _fields(change: StoredDiff) -> tuple[str, Row, Row, bool, Diff]:
    return change.url, change.version, change.previous, change.minor, change.diff


def _read_changes(
    app: App, since: dt.datetime, article_url: str | None, only: set[tuple[int, int]] | None,
    *, views: bool,
) -> list[tuple[StoredDiff, Paragraphs, Paragraphs]]:
    """Each change with the paragraphs of both versions: all of them for ``views``, else the
    new version's (a stored diff is unpacked with them) and the old one's only where a diff
    must be computed (else empty)."""
    with app.read() as reader:
        article_id = find_tracked(reader, article_url).id if article_url else None
        recent, before = reads.changes_since(reader, since, article_id)
        pairs = [(before[v.article_id, v.number - 1], v) for v in recent
                 if (only is None or (v.article_id, v.number) in only)
                 and v.number != 1 and not v.rebaseline
                 and (v.article_id, v.number - 1) in before]  # fmt: skip
        stored = reads.stored_diffs(reader, [version.id for _, version in pairs])
        # A stored diff's texts are counted in its new version's paragraphs (format 2), so
        # those are always read; the old version's only for a view or a diff to compute.
        versions = list({v.id: v for previous, version in pairs
                         for v in ((previous, version) if views or version.id not in stored
                                   else (version,))}.values())  # fmt: skip
        paragraphs = dict(zip((v.id for v in versions), reads.paragraphs_of(reader, *versions),
                              strict=True))  # fmt: skip
    found = []
    for previous, version in pairs:
        data, minor = stored.get(version.id, (None, False))
        old, new = tuple(paragraphs.get(previous.id, ())), tuple(paragraphs[version.id])
        stored_diff = None if data is None else unpack(data, [t for _, t in new])
        diff = _diff(previous, version, old, new, stored_diff)
        found.append((StoredDiff(version.url, version, previous, minor, diff), old, new))
    return found


def stored_change(
    app: App, url: str, old_number: int | None, new_number: int | None
) -> tuple[ChangeView, Diff]:
    """The change between two stored versions of an article (None: its latest), as every
    reader of a stored change reads it: ``tracker diff URL@A URL@B``."""
    from tracker.changeview import build_change

    with app.read() as reader:
        article = find_tracked(reader, url)
        latest = article.version_count
        if not latest:
            raise TrackerError(f"{article.url} has no version yet")
        old, new = (_version(reader, article.id, number or latest)
                    for number in (old_number, new_number))  # fmt: skip
        diff, old_paragraphs, new_paragraphs = version_diff(reader, old, new)
    return build_change(diff, old_paragraphs, new_paragraphs), diff


def version_diff(reader: Reader, old: Row, new: Row) -> tuple[Diff, Paragraphs, Paragraphs]:
    """The diff of two versions of an article, with the paragraphs of both: the diff stored
    with ``new`` when ``old`` is its predecessor, else (further apart, or a version stored
    without one) computed here as ``tracker.diffstore`` does."""
    old_paragraphs, new_paragraphs = map(tuple, reads.paragraphs_of(reader, old, new))
    stored = (reads.stored_diff(reader, new.id, [t for _, t in new_paragraphs])
              if old.number == new.number - 1 else None)  # fmt: skip
    return _diff(old, new, old_paragraphs, new_paragraphs, stored), old_paragraphs, new_paragraphs


def _diff(old: Row, new: Row, old_paragraphs: Paragraphs, new_paragraphs: Paragraphs,
          stored: dict[str, Any] | None) -> Diff:
    """The stored diff (its JSON form) if there is one, else computed from the paragraphs."""
    from tracker.diff import Diff, diff_documents
    from tracker.stored import version_metadata

    if stored is not None:
        return Diff.from_json(stored)
    return diff_documents([t for _, t in old_paragraphs], [t for _, t in new_paragraphs],
                          version_metadata(old), version_metadata(new))  # fmt: skip


class UnknownVersion(TrackerError):
    def __init__(self, article_id: int, number: int) -> None:
        super().__init__(f"article {article_id} has no version {number}")
        self.article_id, self.number = article_id, number


def _version(reader: Reader, article_id: int, number: int) -> Row:
    found = reads.version(reader, article_id, number)
    if found is None:
        raise UnknownVersion(article_id, number)
    return found


def _summaries(reader: Reader, article_id: int, versions: list[Row]) -> dict[int, Summary]:
    """The diff summary of each version against the one before it (a first version has none):
    the stored ones in one query, any other computed (the paragraphs they need read together)."""
    from tracker.diff import Summary

    stored = reads.stored_summaries(reader, article_id)
    by_number = {v.number: v for v in versions}
    computed = [number for number in sorted(by_number)
                if number - 1 in by_number and number not in stored]  # fmt: skip
    needed = list({v.id: v for number in computed
                   for v in (by_number[number - 1], by_number[number])}.values())  # fmt: skip
    paragraphs = dict(zip((v.id for v in needed), reads.paragraphs_of(reader, *needed),
                          strict=True))  # fmt: skip
    found = {number: Summary(**counts) for number, counts in stored.items()
             if number in by_number and number - 1 in by_number}  # fmt: skip
    for number in computed:
        old, new = by_number[number - 1], by_number[number]
        found[number] = _diff(old, new, tuple(paragraphs[old.id]), tuple(paragraphs[new.id]),
                              None).summary
    return found


def parse_since(
    text: str, now: dt.datetime | None = None, *, zone: dt.tzinfo = dt.UTC
) -> dt.datetime:
    """``24h``/``7d``-style durations back from now, or an ISO 8601 time (in ``zone`` if it
    names none: the CLI passes the zone of ``TZ``, the JSON API keeps UTC)."""
    from tracker.intervals import DurationOutOfRange, parse_duration

    now = now or utcnow()
    try:
        return now - dt.timedelta(seconds=parse_duration(text))
    except DurationOutOfRange as exc:
        raise TrackerError(f"--since: {exc}") from None
    except ValueError:
        pass
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise TrackerError(
            f"--since {text!r}: use a duration (30m, 24h, 7d) or an ISO time (2024-06-19T10:00)"
        ) from exc
    return when if when.tzinfo else when.replace(tzinfo=zone)


def find_tracked(reader: Reader, url: str) -> Row:
    """The article a user names on a read path (show, history, changes --article): looked up
    as given (normalised) first, so a tracked URL needs none of ``clean_url``'s checks (which
    load IDNA tables and the HTTP client): it passed them when it was added. Any other URL
    gets ``clean_url``'s verdict, then UnknownArticle."""
    url = url.strip()
    row = None
    if len(url) <= MAX_URL_LENGTH:
        try:
            row = reads.resolve_url(reader, normalize_url(url))
        except ValueError:  # a port that is no number: clean_url says so below
            row = None
    if row is not None:
        return row
    from tracker.identity import clean_url

    cleaned = clean_url(url)
    row = reads.resolve_url(reader, cleaned)
    if row is None:
        raise UnknownArticle(cleaned)
    return row


def article_json(row: Any) -> dict[str, Any]:
    """An article as the JSON outputs show it (a ``db.reads`` row or an ORM ``Article``)."""
    return {
        "url": row.url,
        "versions": row.version_count,
        "last_checked": iso(row.last_checked_at),
        "next_check": iso(row.next_check_at),
        "state": row.state,
        "interval": row.interval,
        "base_interval": row.base_interval,
        "failures": row.failure_count,
        "last_error": row.last_error,
        "selector": row.selector,
        "tags": row.tags or [],
        "developing": bool(row.developing),
    }


def version_json(version: Any) -> dict[str, Any]:
    """A version as the JSON outputs show it (a ``db.reads`` row or an ORM ``Version``)."""
    return {
        "number": version.number,
        "fetched_at": iso(version.fetched_at),
        "title": version.title,
        "byline": version.byline,
        "published": version.published,
        "updated": version.updated,
        "language": version.language,
        "canonical_url": version.canonical_url,
        "lead_image": version.lead_image,
        "lead_caption": version.lead_caption,
        "paragraphs": version.paragraph_count,
        "extractor": version.extractor,
        "rebaseline": version.rebaseline,
    }
