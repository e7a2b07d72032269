"""The body of a webhook message: compact UTF-8 JSON, never larger than a cap.

``{"type": ..., "timestamp": ..., "data": {"article": {"url", "title"}, ...}}``, as described by
``docs/webhook-payload.schema.json``. For ``article.changed`` the data holds the versions, the
diff's summary and metadata changes, and only the changed paragraphs with their texts, so a
subscriber can show the change without calling back. Other event types pass their small data
through beside the article block.

A body over ``max_bytes`` is cut in this order, each step only if the previous one was not
enough, and ``data.truncated`` says so:

1. changes are dropped from the end (the first ones in reading order are kept);
2. only the first change is kept, its texts shortened (ending in "…") and its words dropped;
3. no change is kept;
4. the metadata changes are dropped and the title is shortened.

If even that is too large, ``PayloadTooLarge`` is raised: the cap is never exceeded.
Pure: no clock, no storage; the standard library and the diff's types only.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tracker.diff import Diff, Op
from tracker.errors import TrackerError

DEFAULT_MAX_BYTES = 256_000
ELLIPSIS = "…"
# A title is for recognising the article; this much is plenty when everything else is cut.
_LAST_RESORT_TITLE = 200

Json = dict[str, Any]


class PayloadTooLarge(TrackerError):
    """Even the smallest form of a message exceeds the configured cap."""


# --- article.changed data ---------------------------------------------------------------------


def changes_from_diff(
    diff: Diff, old_paragraphs: Sequence[str], new_paragraphs: Sequence[str]
) -> list[Json]:
    """The diff's non-equal ops, in its reading order, each with the texts it touches."""
    return [_change(op, old_paragraphs, new_paragraphs) for op in diff.changed_ops]


def _change(op: Op, old: Sequence[str], new: Sequence[str]) -> Json:
    change: Json = {
        "op": op.op,
        "old": list(op.old),
        "new": list(op.new),
        "old_text": _joined(old, op.old),
        "new_text": _joined(new, op.new),
    }
    if op.similarity is not None:
        change["similarity"] = op.similarity
    if op.words is not None:
        change["words"] = [run.to_json() for run in op.words]
    return change


def _joined(paragraphs: Sequence[str], indices: Sequence[int]) -> str | None:
    # A blank line between paragraphs, as in Markdown, so a merge's parts stay visible.
    return "\n\n".join(paragraphs[i] for i in indices) if indices else None


def article_changed_data(
    article_url: str,
    title: str | None,
    from_version: Mapping[str, Any],
    to_version: Mapping[str, Any],
    diff: Diff,
    old_paragraphs: Sequence[str],
    new_paragraphs: Sequence[str],
) -> Json:
    """The ``data`` of an ``article.changed`` message (versions are {"number", "fetched_at"})."""
    return {
        "article": {"url": article_url, "title": title},
        "from_version": dict(from_version),
        "to_version": dict(to_version),
        "summary": diff.summary.to_json(),
        "metadata": diff.metadata_json(),
        "changes": changes_from_diff(diff, old_paragraphs, new_paragraphs),
    }


# --- the body -----------------------------------------------------------------------------------


def build_payload(
    event_type: str,
    event_time: dt.datetime,
    article: Mapping[str, Any] | None,
    data: Mapping[str, Any],
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> bytes:
    """The message body. ``article`` ({"url", "title"}) wins over an "article" key in data;
    a source's event (``article`` None) has none."""
    merged = ({"article": dict(article)} if article is not None else {}) | {
        k: v for k, v in data.items() if k != "article"}
    envelope = {"type": event_type, "timestamp": utc_iso(event_time)}
    body = encode({**envelope, "data": merged})
    if len(body) <= max_bytes:
        return body
    smaller = _fit(merged, max_bytes, lambda d: encode({**envelope, "data": d}))
    if smaller is not None:
        return smaller
    raise PayloadTooLarge(
        f"a {event_type} message for {_subject_url(merged)} does not fit in "
        f"{max_bytes} bytes even cut down as far as it goes (webhook_max_bytes is too small)"
    )


def _subject_url(data: Mapping[str, Any]) -> Any:
    about = data.get("article") or data.get("source")
    return about.get("url") if isinstance(about, Mapping) else None


def encode(body: Mapping[str, Any]) -> bytes:
    """Compact JSON, UTF-8 as is (not \\u-escaped), strictly standard: a NaN or infinity
    (which stored JSON can hold) becomes null, a lone surrogate "?"."""
    text = json.dumps(_finite(body), ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.encode("utf-8", errors="replace")


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def utc_iso(moment: dt.datetime) -> str:
    """ISO 8601 in UTC with a "Z"; a naive time is taken to be UTC already (as stored)."""
    utc = moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)
    return utc.isoformat().replace("+00:00", "Z")


# --- cutting to size ----------------------------------------------------------------------------

Encoder = Callable[[Json], bytes]
Builder = Callable[[int], Json]


def _fit(data: Json, max_bytes: int, encoder: Encoder) -> bytes | None:
    """The most complete cut form of an article.changed body that fits, if any."""
    if not isinstance(data.get("changes"), list) or not all(
        isinstance(c, dict) for c in data["changes"]
    ):
        return None
    changes: list[Json] = data["changes"]
    first = changes[0] if changes else {}
    longest = max(len(first.get("old_text") or ""), len(first.get("new_text") or ""))
    steps: list[tuple[Builder, int, int]] = [
        (lambda k: _cut(data, max_bytes, changes[:k]), 1, len(changes) - 1),
        (lambda n: _cut(data, max_bytes, [_shortened(first, n)], shortened_texts=True),
         1, longest),
        (lambda _: _cut(data, max_bytes, []), 0, 0),
        (lambda _: _bare(data, max_bytes), 0, 0),
    ]
    for build, low, high in steps:
        body = _largest_fitting(build, low, high, max_bytes, encoder)
        if body is not None:
            return body
    return None


def _largest_fitting(
    build: Builder, low: int, high: int, max_bytes: int, encoder: Encoder
) -> bytes | None:
    """The body for the largest n in [low, high] that fits (size grows with n), if any."""
    best: bytes | None = None
    while low <= high:
        middle = (low + high) // 2
        body = encoder(build(middle))
        if len(body) <= max_bytes:
            best, low = body, middle + 1
        else:
            high = middle - 1
    return best


def _cut(
    data: Json, max_bytes: int, kept: list[Json], *,
    shortened_texts: bool = False, omitted_metadata: bool = False,
) -> Json:
    marker: Json = {"omitted_changes": len(data["changes"]) - len(kept)}
    if shortened_texts:
        marker["shortened_texts"] = True
    if omitted_metadata:
        marker["omitted_metadata"] = True
    marker["reason"] = _reason(data, max_bytes)
    return {**data, "changes": kept, "truncated": marker}


def _bare(data: Json, max_bytes: int) -> Json:
    """No changes, no metadata, a short title: what is left is the news that it changed."""
    article = dict(data["article"])
    if isinstance(article.get("title"), str):
        article["title"] = _shorten(article["title"], _LAST_RESORT_TITLE)
    bare = {**data, "article": article, "metadata": {}}
    return _cut(bare, max_bytes, [], omitted_metadata=True)


def _shortened(change: Json, limit: int) -> Json:
    """The change without its word detail, each text cut to ``limit`` characters."""
    short = {key: value for key, value in change.items() if key != "words"}
    for key in ("old_text", "new_text"):
        if short.get(key) is not None:
            short[key] = _shorten(short[key], limit)
    return short


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + ELLIPSIS


def _reason(data: Json, max_bytes: int) -> str:
    url = data.get("article", {}).get("url") or "URL"
    old = data.get("from_version", {}).get("number", "A")
    new = data.get("to_version", {}).get("number", "B")
    return (f"payload exceeds {max_bytes} bytes; fetch the full diff with "
            f"tracker diff {url}@{old} {url}@{new}")
