"""The kept raw responses as a WARC 1.1 file (gzip per record), written with warcio.

Each version whose raw body was kept becomes a ``request`` and a ``response`` record: the
response with the status and headers as received, the fetch time as ``WARC-Date``, the URL
that answered (after redirects) as ``WARC-Target-URI``, and warcio's payload and block
digests. Bodies kept before tracker stored headers become a ``resource`` record (the body and
its media type, no HTTP headers: nothing is made up). Versions whose body was not kept (the
``keep_bodies_days`` retention, or it is 0) are returned as skipped, never dropped silently.

What is adjusted, and why: the body is kept as the client read it, with any
``Content-Encoding`` (gzip, br) already undone and chunked transfer decoded, so those headers
and the original ``Content-Length`` would no longer describe it. They are kept renamed as
``X-Archive-Orig-<name>`` (the convention of Web archive replay tools) and a
``Content-Length`` of the stored body is added. The request record is rebuilt from the
headers tracker always sends (the conditional validators of the day are not stored).
"""

from __future__ import annotations

import datetime as dt
import http
import io
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from db import export_queries
from db.session import session_scope
from tracker import __version__
from tracker.app import App
from tracker.export import Selection, staged_path
from tracker.export.dataset import article_batches

_REWRITTEN = {"content-encoding", "transfer-encoding", "content-length"}


@dataclass(frozen=True, slots=True)
class Skipped:
    url: str
    version: int
    fetched_at: dt.datetime
    reason: str


@dataclass(slots=True)
class WarcSummary:
    path: Path
    responses: int = 0  # versions written (as request + response, or as one resource)
    records: int = 0
    skipped: list[Skipped] = field(default_factory=list)

    def skipped_lines(self) -> Iterator[str]:
        for item in self.skipped:
            yield (f"skipped: {_printable(item.url)} version {item.version} "
                   f"({item.fetched_at:%Y-%m-%d %H:%M} UTC): {item.reason}")


def export_warc(app: App, path: Path, selection: Selection) -> WarcSummary:
    """Write the kept raw responses of the selected versions to ``path`` (a new file)."""
    from tracker.export import _require

    _require("warcio", "WARC export")
    from warcio.warcwriter import WARCWriter

    summary = WarcSummary(path)
    with staged_path(path, directory=False) as staging, staging.open("wb") as out, \
            session_scope(app.reader) as session:
        export_queries.snapshot_isolation(session)
        writer = WARCWriter(out, gzip=True, warc_version="1.1")
        writer.write_record(writer.create_warcinfo_record(path.name, {
            "software": f"tracker/{__version__}",
            "format": "WARC File Format 1.1",
            "description": "Raw responses of tracked news article versions",
            "http-header-user-agent": app.settings.user_agent,
        }))
        summary.records += 1
        for article, version in _versions(session, selection):
            _write_version(session, writer, app, article, version, summary)
    return summary


def _versions(session: Session, selection: Selection) -> Iterator[tuple[Any, Any]]:
    for batch in article_batches(session, selection):
        by_id = {a.id: a for a in batch}
        for version in export_queries.versions(session, list(by_id), selection.since):
            yield by_id[version.article_id], version


def _write_version(
    session: Session, writer: Any, app: App, article: Any, version: Any, summary: WarcSummary
) -> None:
    body = export_queries.body(session, version.id)
    if body is None:
        summary.skipped.append(Skipped(article.url, version.number, version.fetched_at,
                                       "raw body not kept"))
        return
    try:
        payload = _payload(body)
    except ValueError as exc:
        summary.skipped.append(Skipped(article.url, version.number, version.fetched_at, str(exc)))
        return
    uri = body.url or article.url
    date = _warc_date(version.fetched_at)
    if body.headers is None:
        record = writer.create_warc_record(
            uri, "resource", payload=io.BytesIO(payload), length=len(payload),
            warc_content_type=body.content_type or "application/octet-stream",
            warc_headers_dict={"WARC-Date": date},
        )
        writer.write_record(record)
        summary.records += 1
    else:
        response = _response_record(writer, uri, date, body, payload)
        request = _request_record(writer, app, uri, date, response)
        writer.write_record(request)
        writer.write_record(response)
        summary.records += 2
    summary.responses += 1


def _payload(body: Any) -> bytes:
    """The stored body, unpacked no further than its recorded size."""
    if body.encoding != "zlib":
        raise ValueError(f"raw body in an unknown encoding ({body.encoding})")
    unpacker = zlib.decompressobj()
    try:
        data = unpacker.decompress(body.data, body.size + 1)
    except zlib.error as exc:
        raise ValueError(f"raw body unreadable ({exc})") from exc
    if len(data) != body.size:
        raise ValueError(f"raw body unreadable ({len(data)} bytes, {body.size} recorded)")
    return data


def _response_record(writer: Any, uri: str, date: str, body: Any, payload: bytes) -> Any:
    from warcio.statusandheaders import StatusAndHeaders

    status = int(body.status or 200)
    headers: list[tuple[str, str]] = []
    for name, value in body.headers:
        if name.lower() in _REWRITTEN:
            headers.append((f"X-Archive-Orig-{name}", value))
        else:
            headers.append((name, value))
    headers.append(("Content-Length", str(len(payload))))
    http_headers = StatusAndHeaders(f"{status} {_reason(status)}", headers, protocol="HTTP/1.1")
    return writer.create_warc_record(
        uri, "response", payload=io.BytesIO(payload), length=len(payload),
        http_headers=http_headers, warc_headers_dict={"WARC-Date": date},
    )


def _request_record(writer: Any, app: App, uri: str, date: str, response: Any) -> Any:
    from warcio.statusandheaders import StatusAndHeaders

    parts = urlsplit(uri)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    headers = [
        ("Host", parts.netloc),
        ("User-Agent", app.settings.user_agent),
        ("Accept", "text/html,application/xhtml+xml;q=0.9,text/plain;q=0.8"),
        ("Accept-Language", "*"),
    ]
    http_headers = StatusAndHeaders(f"GET {target} HTTP/1.1", headers, is_http_request=True)
    concurrent = response.rec_headers.get_header("WARC-Record-ID")
    return writer.create_warc_record(
        uri, "request", http_headers=http_headers,
        warc_headers_dict={"WARC-Date": date, "WARC-Concurrent-To": concurrent},
    )


def _reason(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def _warc_date(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _printable(text: str) -> str:
    """No control characters on the user's terminal (URLs are ours, but stay careful)."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
