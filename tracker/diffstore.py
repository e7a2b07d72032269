"""Where the diff between two stored versions comes from: ``load_diff``, the one function every
reader of a stored change goes through (the web view, the API, the feeds, ``tracker changes``,
``tracker history``, the webhook payloads).

Each version's diff against its predecessor is computed once, when the version is stored
(``record_diff``, called by the step that stores a version: a check, a re-baseline), and kept
with its ``minor`` flag in ``version_diffs`` (``db.diff_queries``); ``load_diff`` of two
consecutive versions reads it. The diff of two versions further apart, or of a version stored
without one (an import, a benchmark's bulk insert), is computed from the stored paragraphs and
metadata (``tracker.diff``). Stored versions never change, so a loaded diff can be kept:
``DiffCache`` holds the recent ones in memory, bounded by the text they hold, keyed by the
article, the two version numbers and their content hashes (an id reused after a delete has
other hashes). A caller that already read the hashes (a list of changes, an article's
versions) finds a cached diff without another query.
"""

from __future__ import annotations

import datetime as dt
import itertools
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from db import diff_queries, queries
from db.models import Version
from tracker.changeview import ChangeView, build_change
from tracker.diff import Diff, Summary, diff_documents
from tracker.reading import UnknownVersion as UnknownVersion
from tracker.stored import version_metadata

Paragraphs = tuple[tuple[str, str], ...]  # (kind, text) in order


@dataclass(frozen=True, slots=True)
class VersionInfo:
    """A stored version's facts, detached from the session."""

    id: int
    number: int
    fetched_at: dt.datetime
    title: str | None
    metadata: dict[str, Any]
    rebaseline: bool


@dataclass(frozen=True)
class LoadedDiff:
    """The diff of ``old`` → ``new`` with the paragraphs it was made from, and (made once, on
    first use) its presentation."""

    article_id: int
    old: VersionInfo
    new: VersionInfo
    diff: Diff
    old_paragraphs: Paragraphs
    new_paragraphs: Paragraphs

    @cached_property
    def view(self) -> ChangeView:
        return build_change(self.diff, self.old_paragraphs, self.new_paragraphs)

    @property
    def size(self) -> int:
        """Characters held, for the cache's bound."""
        return sum(len(t) for _, t in self.old_paragraphs) + sum(
            len(t) for _, t in self.new_paragraphs
        ) + 200


class DiffCache:
    """Recently loaded diffs, least recently used dropped first once they hold more than
    ``max_chars`` characters of text. Thread-safe: the web server reads from many threads."""

    def __init__(self, max_chars: int = 32_000_000) -> None:
        self.max_chars = max_chars
        self._items: OrderedDict[tuple[Any, ...], LoadedDiff] = OrderedDict()
        self._chars = 0
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: tuple[Any, ...]) -> LoadedDiff | None:
        with self._lock:
            found = self._items.get(key)
            if found is None:
                self.misses += 1
                return None
            self.hits += 1
            self._items.move_to_end(key)
            return found

    def put(self, key: tuple[Any, ...], value: LoadedDiff) -> None:
        with self._lock:
            if key in self._items:
                return
            self._items[key] = value
            self._chars += value.size
            while self._chars > self.max_chars and len(self._items) > 1:
                _, dropped = self._items.popitem(last=False)
                self._chars -= dropped.size


Key = tuple[int, int, int, str, str]  # article, old number, new number, their content hashes


def load_diff(
    session: Session, article_id: int, old_number: int, new_number: int,
    cache: DiffCache | None = None, *, hashes: tuple[str, str] | None = None,
) -> LoadedDiff:
    """The diff between versions ``old_number`` and ``new_number`` of an article (any two, in
    either order); raises ``UnknownVersion`` for a number that is not stored. With the two
    versions' content ``hashes``, a cached diff is found without reading the database."""
    if cache is not None and hashes is not None:
        found = cache.get((article_id, old_number, new_number, *hashes))
        if found is not None:
            return found
    old = _version(session, article_id, old_number)
    new = _version(session, article_id, new_number)
    return diff_versions(session, old, new, cache)


def diff_versions(
    session: Session, old: Version, new: Version, cache: DiffCache | None = None
) -> LoadedDiff:
    """``load_diff`` for versions already loaded."""
    key: Key = (old.article_id, old.number, new.number, old.content_hash, new.content_hash)
    found = cache.get(key) if cache is not None else None
    if found is not None:
        return found
    old_paragraphs = tuple(queries.paragraphs_of(session, old))
    new_paragraphs = tuple(queries.paragraphs_of(session, new))
    old_meta, new_meta = version_metadata(old), version_metadata(new)
    stored = _stored(session, old, new, [t for _, t in new_paragraphs])
    diff = stored or diff_documents([t for _, t in old_paragraphs],
                                    [t for _, t in new_paragraphs], old_meta, new_meta)
    loaded = LoadedDiff(old.article_id, _info(old, old_meta), _info(new, new_meta), diff,
                        old_paragraphs, new_paragraphs)
    if cache is not None:
        cache.put(key, loaded)
    return loaded


def summaries(
    session: Session, article_id: int, versions: Sequence[tuple[int, str]],
    cache: DiffCache | None = None,
) -> dict[int, Summary]:
    """The diff summary of each version against the one before it (a first version has none):
    the stored ones in one query, any other through ``load_diff``; ``versions`` are (number,
    content hash) of consecutive versions."""
    hashes = dict(versions)
    stored = diff_queries.summaries(session, article_id)
    return {
        number: Summary(**stored[number]) if number in stored else load_diff(
            session, article_id, number - 1, number, cache,
            hashes=(hashes[number - 1], hashes[number])).diff.summary
        for number in sorted(hashes) if number - 1 in hashes
    }


def record_diff(
    session: Session, previous: Version | None, version: Version, diff: Diff | None = None,
    *, minor: bool = False,
) -> None:
    """Store ``version``'s diff against ``previous`` (its predecessor; None for a first
    version, which has no diff) in the transaction that stores the version. ``diff`` is the
    one the caller computed already; without it, it is computed from the stored versions."""
    if previous is None:
        return
    texts = [t for _, t in queries.paragraphs_of(session, version)]
    if diff is None:
        diff = diff_documents(
            [t for _, t in queries.paragraphs_of(session, previous)], texts,
            version_metadata(previous), version_metadata(version),
        )
    diff_queries.store_diff(session, version.id, diff.to_json(), texts, minor=minor)


def fill_missing(connection: Connection, batch: int = 100) -> int:
    """Store the diff of every version that has a predecessor and no stored diff (versions
    stored before migration 0007_diffstore, or by ``tracker import``); returns how many.

    A batch of articles at a time; each article's versions are decoded one after the other and
    its distinct paragraphs read once, so memory is one article's paragraphs and one batch of
    rows. The minor flag comes from the checks that recorded one."""
    minor = diff_queries.minor_from_checks(connection)
    articles = diff_queries.articles_missing_diffs(connection)
    stored = 0
    for start in range(0, len(articles), batch):
        history = diff_queries.history(connection, articles[start : start + batch])
        rows = []
        for _, versions in itertools.groupby(history, key=lambda v: v.article_id):
            rows += _missing_rows(connection, list(versions), minor)
        diff_queries.insert_rows(connection, rows)
        stored += len(rows)
    return stored


def _missing_rows(
    connection: Connection, versions: list[Any], minor: set[int]
) -> list[dict[str, Any]]:
    """The ``version_diffs`` rows one article lacks (``versions``: its history, in order)."""
    ids = diff_queries.paragraph_ids(versions)
    texts = diff_queries.paragraph_texts(connection, (i for each in ids for i in each))
    rows = []
    for k in range(1, len(versions)):
        old, new = versions[k - 1], versions[k]
        if new.stored or old.number != new.number - 1:
            continue
        meta = [{name: getattr(v, name) for name in diff_queries.METADATA} for v in (old, new)]
        new_texts = [texts[i] for i in ids[k]]
        diff = diff_documents([texts[i] for i in ids[k - 1]], new_texts, *meta)
        rows.append(diff_queries.row(new.id, diff.to_json(), new_texts, minor=new.id in minor))
    return rows


def _stored(session: Session, old: Version, new: Version, new_texts: list[str]) -> Diff | None:
    """The stored diff of ``new`` (its paragraph texts ``new_texts``) against ``old`` when
    ``old`` is its predecessor."""
    if old.article_id != new.article_id or old.number != new.number - 1:
        return None
    found = diff_queries.diff_of(session, new.id, new_texts)
    return Diff.from_json(found.data) if found else None


def _version(session: Session, article_id: int, number: int) -> Version:
    version = queries.version_by_number(session, article_id, number)
    if version is None:
        raise UnknownVersion(article_id, number)
    return version


def _info(version: Version, metadata: dict[str, Any]) -> VersionInfo:
    return VersionInfo(version.id, version.number, version.fetched_at, version.title, metadata,
                       bool(version.rebaseline))
