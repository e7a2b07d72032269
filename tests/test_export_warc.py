"""``tracker export --format warc``: the kept raw responses, read back with warcio's own reader
and its digest checks; hostile response headers stored bounded."""

from __future__ import annotations

import base64
import gzip
import hashlib
import threading
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, select, update
from warcio.archiveiterator import ArchiveIterator

from db import queries
from db.models import Body, Version
from db.session import session_scope
from tests.articleserver import ArticleServer
from tests.clihelp import tracker
from tests.export_story import STORY_VERSIONS, track_story
from tracker.app import App
from tracker.articles import add_articles
from tracker.check import check_article
from tracker.export import Selection
from tracker.export.warc import export_warc


def read_warc(path: Path) -> list[dict[str, Any]]:
    """Every record, its payload read through warcio's digest-verifying reader."""
    records = []
    with path.open("rb") as handle:
        for record in ArchiveIterator(handle, check_digests="raise"):
            payload = record.content_stream().read()
            records.append({
                "type": record.rec_type, "uri": record.rec_headers.get_header("WARC-Target-URI"),
                "date": record.rec_headers.get_header("WARC-Date"),
                "id": record.rec_headers.get_header("WARC-Record-ID"),
                "concurrent": record.rec_headers.get_header("WARC-Concurrent-To"),
                "payload_digest": record.rec_headers.get_header("WARC-Payload-Digest"),
                "version": record.rec_headers.protocol,
                "http": record.http_headers, "payload": payload,
                "verified": record.digest_checker.passed,
            })
    return records


def stored_bodies(app: App) -> list[tuple[Any, bytes]]:
    with session_scope(app.reader) as session:
        rows = session.execute(
            select(Version, Body).join(Body, Body.version_id == Version.id)
            .order_by(Version.article_id, Version.number)
        ).all()
        return [(version, zlib.decompress(body.data)) for version, body in rows]


def test_every_kept_response_is_a_request_and_response_with_verified_digests(
    app: App, article_server: ArticleServer, tmp_path: Path
) -> None:
    url = track_story(app, article_server)
    summary = export_warc(app, tmp_path / "story.warc.gz", Selection())
    records = read_warc(tmp_path / "story.warc.gz")
    assert records[0]["type"] == "warcinfo"
    assert {r["version"] for r in records} == {"WARC/1.1"}
    responses = [r for r in records if r["type"] == "response"]
    requests = [r for r in records if r["type"] == "request"]
    bodies = stored_bodies(app)
    assert len(responses) == len(requests) == len(bodies) == summary.responses
    assert len(bodies) >= STORY_VERSIONS - 1  # v5 only changes typography
    assert summary.skipped == []
    for response, (version, body) in zip(responses, bodies, strict=True):
        assert response["uri"] == url
        assert response["payload"] == body
        assert response["verified"] is True
        sha1 = base64.b32encode(hashlib.sha1(body).digest()).decode()
        assert response["payload_digest"] == f"sha1:{sha1}"
        assert response["date"] == version.fetched_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        http = response["http"]
        assert http.get_statuscode() == "200"
        assert http.get_header("Content-Type") == "text/html; charset=utf-8"
        assert http.get_header("ETag")  # as the site sent it
        assert http.get_header("Content-Length") == str(len(body))
    for request, response in zip(requests, responses, strict=True):
        assert request["concurrent"] == response["id"]
        assert request["http"].protocol == "GET"
        assert request["http"].get_header("Host") == httpx.URL(url).netloc.decode()


def test_versions_without_a_kept_body_are_listed_as_skipped(
    sqlite_url: str, article_server: ArticleServer, tmp_path: Path
) -> None:
    from tracker.config import load_settings

    app = App(load_settings(database_url=sqlite_url))
    try:
        url = track_story(app, article_server)
        with session_scope(app.writer) as session:
            ids = list(session.scalars(select(Version.id).where(Version.number.in_([2, 3]))))
            session.execute(delete(Body).where(Body.version_id.in_(ids)))
        kept = len(stored_bodies(app))
    finally:
        app.close()
    result = tracker(sqlite_url, "export", "--format", "warc", "-o", str(tmp_path / "a.warc.gz"))
    skipped = [line for line in result.stderr.splitlines() if line.startswith("skipped:")]
    assert skipped == [f"skipped: {url} version {n} ({_minute(sqlite_url, n)} UTC): raw body "
                       "not kept" for n in (2, 3)]
    assert "skipped 2 version(s)" in result.stderr
    assert f"wrote {kept} version(s)" in result.stdout
    assert sum(r["type"] == "response" for r in read_warc(tmp_path / "a.warc.gz")) == kept


def _minute(database_url: str, number: int) -> str:
    from tracker.config import load_settings

    app = App(load_settings(database_url=database_url))
    try:
        with session_scope(app.reader) as session:
            version = session.scalars(select(Version).where(Version.number == number)).one()
            return f"{version.fetched_at:%Y-%m-%d %H:%M}"
    finally:
        app.close()


def test_a_body_kept_without_headers_becomes_a_resource_record(
    app: App, article_server: ArticleServer, tmp_path: Path
) -> None:
    url = track_story(app, article_server)
    with session_scope(app.writer) as session:  # as stored before headers were kept
        session.execute(update(Body).values(headers=None, status=None, url=None))
    records = read_warc_export(app, tmp_path)
    resources = [r for r in records if r["type"] == "resource"]
    assert resources
    assert not [r for r in records if r["type"] in ("request", "response")]
    assert {r["uri"] for r in resources} == {url}
    assert all(r["verified"] for r in resources)


def read_warc_export(app: App, tmp_path: Path) -> list[dict[str, Any]]:
    export_warc(app, tmp_path / "out.warc.gz", Selection())
    return read_warc(tmp_path / "out.warc.gz")


def test_a_corrupt_stored_body_is_skipped_with_the_reason(
    app: App, article_server: ArticleServer, tmp_path: Path
) -> None:
    track_story(app, article_server)
    with session_scope(app.writer) as session:
        first = session.scalars(select(Body.version_id).order_by(Body.version_id)).first()
        session.execute(update(Body).where(Body.version_id == first).values(data=b"garbage"))
    summary = export_warc(app, tmp_path / "out.warc.gz", Selection())
    [skipped] = summary.skipped
    assert skipped.version == 1
    assert "unreadable" in skipped.reason
    assert sum(r["type"] == "response" for r in read_warc(tmp_path / "out.warc.gz")) == \
        summary.responses


# --- hostile headers ---------------------------------------------------------------------------


class _HostileHandler(BaseHTTPRequestHandler):
    page = b""

    def do_GET(self) -> None:
        body = gzip.compress(self.page)
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        for n in range(400):  # far more headers than any real page sends
            self.send_header(f"X-Junk-{n}", "x" * 20)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def hostile(article_server: ArticleServer) -> Iterator[str]:
    page_url = article_server.add_article("page", 1)
    _HostileHandler.page = httpx.get(page_url).content
    server = ThreadingHTTPServer(("127.0.0.1", 0), _HostileHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/news/hostile"
    server.shutdown()
    server.server_close()


def test_hostile_headers_are_stored_bounded_and_archived_readably(
    app: App, hostile: str, tmp_path: Path
) -> None:
    [(url, _)] = add_articles(app, [hostile])
    with session_scope(app.reader) as session:
        article = queries.article_by_url(session, url)
        assert article is not None
    assert check_article(app, article.id).outcome == "first_seen"
    with session_scope(app.reader) as session:
        [body] = session.scalars(select(Body)).all()
        assert body.headers is not None
        assert len(body.headers) == queries.MAX_HEADERS
        assert ["Content-Encoding", "gzip"] in body.headers
    [response] = [r for r in read_warc_export(app, tmp_path) if r["type"] == "response"]
    assert response["verified"] is True
    assert response["payload"] == _HostileHandler.page  # stored unpacked, archived so
    http = response["http"]
    assert http.get_header("Content-Encoding") is None
    assert http.get_header("X-Archive-Orig-Content-Encoding") == "gzip"
    assert http.get_header("Content-Length") == str(len(_HostileHandler.page))


def test_bounded_headers_drop_forged_lines_and_cap_sizes() -> None:
    headers = [
        ("Set-Cookie", "a=1\r\nX-Forged: yes"),
        ("Bad Name", "dropped"),
        ("X-Long", "v" * 100_000),
        ("", "no name"),
        *[(f"X-{n}", "y") for n in range(500)],
    ]
    kept = queries.bounded_headers(headers)
    assert kept[0] == ["Set-Cookie", "a=1  X-Forged: yes"]
    assert kept[1] == ["X-Long", "v" * queries.MAX_HEADER_VALUE]
    assert len(kept) == queries.MAX_HEADERS
    assert all("\r" not in v and "\n" not in v for _, v in kept)
    many = queries.bounded_headers([(f"X-{n}", "z" * 8000) for n in range(50)])
    assert sum(len(n) + len(v) for n, v in many) <= queries.MAX_HEADERS_TOTAL
