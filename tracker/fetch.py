"""Fetching article pages politely: one pooled httpx client, conditional GET, caps on size and
redirects, only HTML/XHTML/plain text, and before every request a slot and a turn of the host
(``tracker.politeness``: per-host concurrency and rate, shared by all workers when Redis is
configured); a 429 or 503 pauses the whole host. With ``robots_txt`` on, robots.txt is obeyed.

``kind="listing"`` fetches a source (a feed or sitemap) the same way, accepting the XML media
types too (and HTML, so an HTML page given as a feed can be told apart and name its feed), and
unpacking a gzip-compressed sitemap (``sitemap.xml.gz``) within the same size cap.

``Fetcher.fetch`` returns a ``Page`` (status 200 with a body, or 304 with none) or raises one of
the ``tracker.errors.FetchError`` subclasses (``HostDeferred`` when no request was sent because
the host must not be asked yet); it never returns a half-read body.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urljoin, urlsplit

import httpx

from tracker import deadline
from tracker.config import Settings
from tracker.decoding import ACCEPT_ENCODING, Decoder
from tracker.errors import (
    BlockedAddress,
    BodyTooLarge,
    GoneError,
    HostDeferred,
    PermanentFetchError,
    RedirectError,
    RobotsDisallowed,
    TransientFetchError,
    UnsupportedContent,
)
from tracker.headers import content_codings, content_type, retry_after
from tracker.netguard import check_scheme, guarded_transport, settings_policy
from tracker.politeness import DEFAULT_PAUSE, HostBusy, Politeness
from tracker.politeness import build as build_politeness
from tracker.robots import MAX_BYTES as ROBOTS_MAX_BYTES
from tracker.robots import RobotsAnswer, RobotsRules

ACCEPTED_TYPES = {"text/html", "application/xhtml+xml", "text/plain"}
# Feeds and sitemaps: what sites really serve them as (octet-stream and gzip for .xml.gz).
LISTING_TYPES = ACCEPTED_TYPES | {
    "application/rss+xml", "application/atom+xml", "application/rdf+xml", "application/xml",
    "text/xml", "application/x-gzip", "application/gzip", "application/octet-stream",
}
LISTING_ACCEPT = ("application/rss+xml,application/atom+xml,application/xml;q=0.9,"
                  "text/xml;q=0.9,*/*;q=0.5")
FetchKind = Literal["article", "listing"]
_GZIP_MAGIC = b"\x1f\x8b"
_REDIRECTS = {301, 302, 303, 307, 308}


@dataclass(frozen=True, slots=True)
class Page:
    url: str  # after redirects
    status: int  # 200, or 304 when the validators still hold
    body: bytes
    media_type: str  # "text/html", "application/xhtml+xml" or "text/plain" (or XML: listings)
    charset: str | None  # from the Content-Type header only
    etag: str | None
    last_modified: str | None
    headers: tuple[tuple[str, str], ...] = ()  # as received, for the archive copy

    @property
    def not_modified(self) -> bool:
        return self.status == 304


def make_client(settings: Settings) -> httpx.Client:
    timeout = httpx.Timeout(settings.read_timeout, connect=settings.connect_timeout)
    limits = httpx.Limits(max_connections=max(10, settings.concurrency * 2))
    return httpx.Client(
        timeout=timeout,
        limits=limits,
        transport=guarded_transport(settings_policy(settings), limits=limits),
        follow_redirects=False,  # followed by hand: each hop is checked and counted
        headers={
            "User-Agent": settings.user_agent,
            "Accept": "text/html,application/xhtml+xml;q=0.9,text/plain;q=0.8",
            "Accept-Language": "*",
            "Accept-Encoding": ACCEPT_ENCODING,  # only what tracker.decoding bounds
        },
    )


class Fetcher:
    """Fetches pages with one shared client; safe to use from many threads."""

    def __init__(
        self,
        settings: Settings,
        client: httpx.Client | None = None,
        polite: Politeness | None = None,
    ) -> None:
        self.settings = settings
        self.client = client or make_client(settings)
        self.polite = polite or build_politeness(
            rate=settings.per_host_rate, concurrency=settings.per_host_concurrency
        )
        self.robots = (
            RobotsRules(settings.user_agent, self._robots_answer) if settings.robots_txt else None
        )

    def close(self) -> None:
        self.client.close()
        self.polite.close()

    def fetch(
        self, url: str, *, etag: str | None = None, last_modified: str | None = None,
        kind: FetchKind = "article",
    ) -> Page:
        """One page, every phase of it (robots.txt, each redirect hop, connecting, headers,
        body) within ``fetch_deadline`` in all."""
        conditional = {"Accept": LISTING_ACCEPT} if kind == "listing" else {}
        if etag:
            conditional["If-None-Match"] = etag
        if last_modified:
            conditional["If-Modified-Since"] = last_modified
        seen = {url}
        current = url
        with deadline.bounded(self.settings.fetch_deadline):
            for _ in range(self.settings.max_redirects + 1):
                page_or_location = self._request(current, conditional, kind)
                if isinstance(page_or_location, Page):
                    return page_or_location
                current = _join(url, current, page_or_location)
                if current in seen:
                    raise RedirectError(url, f"redirect loop at {current}")
                seen.add(current)
        raise RedirectError(url, f"more than {self.settings.max_redirects} redirects")

    def _request(
        self, url: str, conditional: dict[str, str], kind: FetchKind = "article"
    ) -> Page | str:
        _, host, _ = check_scheme(url)
        request = self._build(url, conditional)
        try:
            # robots.txt first: its own request takes a slot of the host, so not inside ours.
            if self.robots is not None and not self.robots.allowed(url):
                raise RobotsDisallowed(
                    url, f"robots.txt of {host} disallows {_path(url)} for {self.robots.agent}"
                )
            with self.polite.slot(host):
                self.polite.wait_turn(host)
                response = self._send(url, request)
                try:
                    self._note_status(host, response)
                    return self._read(url, response, kind, conditional)
                finally:
                    response.close()
        except HostBusy as busy:
            raise HostDeferred(url, busy.reason, until=busy.until, paused=busy.paused) from None

    def _build(self, url: str, headers: dict[str, str]) -> httpx.Request:
        try:
            return self.client.build_request("GET", url, headers=headers)
        except (httpx.InvalidURL, ValueError) as exc:  # control characters, a bad IDN host …
            raise PermanentFetchError(url, f"not a valid URL ({exc})") from exc

    def _send(self, url: str, request: httpx.Request) -> httpx.Response:
        try:
            return self.client.send(request, stream=True)
        except BlockedAddress as exc:  # raised at connect time by the guarded transport
            raise BlockedAddress(url, exc.reason) from exc
        except httpx.TimeoutException as exc:
            raise self._timed_out(url, f"timed out ({type(exc).__name__})") from exc
        except httpx.HTTPError as exc:
            raise TransientFetchError(url, f"connection failed: {exc}") from exc
        except (ValueError, httpx.InvalidURL) as exc:  # httpx reads a redirect's Location as
            # it sends: an invalid IDN host (IDNAError), a broken path …
            raise RedirectError(url, f"redirects to an invalid URL ({exc})") from exc

    def _timed_out(self, url: str, message: str) -> TransientFetchError:
        if deadline.expired():
            message = f"took longer than {self.settings.fetch_deadline:g} s in all"
        return TransientFetchError(url, message)

    def _note_status(self, host: str, response: httpx.Response) -> None:
        """429 and 503 are the site asking everyone to back off: pause the whole host (every
        worker's checks of it are deferred) until its Retry-After, or for a minute."""
        status = response.status_code
        if status not in (429, 503):
            return
        header = response.headers.get("Retry-After")
        wait = retry_after(header, time.time())
        pause = DEFAULT_PAUSE if wait is None else wait
        shown = "".join(c if c.isprintable() else "?" for c in (header or "").strip()[:40])
        why = f"HTTP {status}" + (f" (Retry-After: {shown})" if header else "")
        self.polite.pause(host, pause, why)

    def _robots_answer(self, robots_url: str) -> RobotsAnswer:
        """GET /robots.txt like any other request to the host (slot, turn, guard, deadline,
        decoding cap); redirects followed by hand; any failure to get an answer is status 0."""
        current = robots_url
        try:
            for _ in range(self.settings.max_redirects + 1):
                answer = self._robots_hop(current)
                if isinstance(answer, RobotsAnswer):
                    return answer
                current = _join(robots_url, current, answer)
        except (httpx.HTTPError, httpx.StreamError, httpx.InvalidURL, BlockedAddress,
                PermanentFetchError, TransientFetchError, ValueError):
            pass
        return RobotsAnswer(0)

    def _robots_hop(self, url: str) -> RobotsAnswer | str:
        host = check_scheme(url)[1]
        request = self._build(url, {"Accept": "text/plain"})
        with self.polite.slot(host):
            self.polite.wait_turn(host)
            response = self.client.send(request, stream=True)
            try:
                self._note_status(host, response)
                location = response.headers.get("Location")
                if response.status_code in _REDIRECTS and location:
                    _drain(response)
                    return str(location)
                text = self._read_capped(url, response, ROBOTS_MAX_BYTES)
                return RobotsAnswer(response.status_code, text.decode("utf-8", "replace"))
            finally:
                response.close()

    def _read_capped(self, url: str, response: httpx.Response, cap: int) -> bytes:
        """At most ``cap`` decoded bytes of the body; the rest is not read."""
        codings = content_codings(response.headers.get("Content-Encoding"))
        decoder = Decoder(url, codings, cap, truncate=True)
        data = bytearray()
        for raw in raw_chunks(response):
            data += decoder.decode(raw)
            if decoder.full:
                return bytes(data)
        return bytes(data + decoder.finish())

    def _read(
        self, url: str, response: httpx.Response, kind: FetchKind,
        conditional: dict[str, str],
    ) -> Page | str:
        status = response.status_code
        if status in _REDIRECTS:
            location: str | None = response.headers.get("Location")
            if not location:
                raise RedirectError(url, f"HTTP {status} without a Location header")
            _drain(response)
            return location
        if status == 304:
            _drain(response)
            if not ({"If-None-Match", "If-Modified-Since"} & set(conditional)):
                # "unchanged" to a question never asked: a broken cache, or a site hiding
                # its edits. Not taken as the page being the same.
                raise TransientFetchError(
                    url, "HTTP 304 Not Modified to a request that sent no validators", status=304
                )
            return self._page(url, response, b"")
        _raise_for_status(url, response)
        media_type, charset = content_type(response.headers.get("Content-Type"))
        listing = kind == "listing"
        if media_type and media_type not in (LISTING_TYPES if listing else ACCEPTED_TYPES):
            what = "a feed or sitemap" if listing else "an article page"
            raise UnsupportedContent(url, f"not {what} (Content-Type {media_type})")
        body = self._read_body(url, response, binary_ok=listing)
        if listing:
            body = self._gunzip(url, body)
        if not media_type:
            media_type = "text/html" if body.lstrip()[:1] == b"<" else "text/plain"
        page = self._page(url, response, body)
        return Page(page.url, 200, body, media_type, charset, page.etag, page.last_modified,
                    page.headers)

    def _read_body(self, url: str, response: httpx.Response, *, binary_ok: bool = False) -> bytes:
        """The whole body, decoded; the cap holds on the bytes received and on the decoded
        bytes alike, and the deadline on the time it all takes."""
        cap = self.settings.max_body_bytes
        declared = response.headers.get("Content-Length", "").strip()
        if declared.isascii() and declared.isdigit() and int(declared) > cap:
            raise BodyTooLarge(url, f"body of {int(declared):,} bytes exceeds the {cap:,} cap")
        decoder = Decoder(url, content_codings(response.headers.get("Content-Encoding")), cap)
        chunks: list[bytes] = []
        received = 0
        try:
            for raw in raw_chunks(response):
                received += len(raw)
                if received > cap:
                    raise BodyTooLarge(url, f"body exceeds the {cap:,}-byte cap")
                chunks.append(decoder.decode(raw))
            chunks.append(decoder.finish())
        except httpx.TimeoutException as exc:
            raise self._timed_out(url, "timed out while reading the body") from exc
        except httpx.HTTPError as exc:
            raise TransientFetchError(url, f"connection broke while reading: {exc}") from exc
        body = b"".join(chunks)
        if binary_ok and body.startswith(_GZIP_MAGIC):
            return body  # a compressed sitemap: checked once unpacked
        if b"\x00" in body[:4096]:
            what = "a feed or sitemap" if binary_ok else "an article page"
            raise UnsupportedContent(url, f"the body is binary, not {what}")
        return body

    def _gunzip(self, url: str, body: bytes) -> bytes:
        """A gzip file (sitemap.xml.gz) unpacked, at most ``max_body_bytes`` of it: a small
        file that unpacks to gigabytes is refused, not unpacked."""
        if not body.startswith(_GZIP_MAGIC):
            return body
        cap = self.settings.max_body_bytes
        unpacker = zlib.decompressobj(wbits=31)  # 31: gzip header and trailer
        try:
            plain = unpacker.decompress(body, cap + 1)
        except zlib.error as exc:
            raise UnsupportedContent(url, f"a broken gzip file ({exc})") from exc
        if len(plain) > cap:
            raise BodyTooLarge(url, f"unpacks to more than the {cap:,}-byte cap")
        if b"\x00" in plain[:4096]:
            raise UnsupportedContent(url, "the unpacked body is binary, not a feed or sitemap")
        return plain

    @staticmethod
    def _page(url: str, response: httpx.Response, body: bytes) -> Page:
        return Page(
            url=url,
            status=response.status_code,
            body=body,
            media_type="",
            charset=None,
            etag=response.headers.get("ETag"),
            last_modified=response.headers.get("Last-Modified"),
            # Names as sent (multi_items() lower-cases them); latin-1 maps bytes 1:1.
            headers=tuple((k.decode("latin-1"), v.decode("latin-1"))
                          for k, v in response.headers.raw),
        )


def raw_chunks(response: httpx.Response) -> Iterator[bytes]:
    """The body as received (not decoded), in chunks. A response made with its content given
    (as ``httpx.MockTransport`` makes them) has it read already."""
    if response.is_stream_consumed:
        return iter([response.content])
    return response.iter_raw()


def _join(url: str, current: str, location: str) -> str:
    try:
        return urljoin(current, location)
    except ValueError as exc:  # "Invalid IPv6 URL" and the like
        raise RedirectError(url, f"redirects to an invalid URL ({exc})") from exc


def _path(url: str) -> str:
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def _drain(response: httpx.Response, limit: int = 65_536) -> None:
    """Read a small body to its end so the connection goes back to the pool; closing an
    unread response would drop it (and the next request would pay a new connection). Raw
    bytes, at most ``limit``, within the request's deadline: nothing here is decoded."""
    read = 0
    try:
        for chunk in raw_chunks(response):
            read += len(chunk)
            if read > limit:
                return
    except (httpx.HTTPError, httpx.StreamError):  # broken, slow, or already read
        return


def _raise_for_status(url: str, response: httpx.Response) -> None:
    status = response.status_code
    if 200 <= status < 300:
        return
    reason = response.reason_phrase[:80]
    if status in {404, 410}:
        raise GoneError(url, f"HTTP {status}: the article is unavailable", status=status)
    if status == 429 or status >= 500:
        raise TransientFetchError(
            url,
            f"HTTP {status} {reason}".strip(),
            status=status,
            retry_after=retry_after(response.headers.get("Retry-After"), time.time()),
        )
    raise PermanentFetchError(url, f"HTTP {status} {reason}".strip(), status=status)
